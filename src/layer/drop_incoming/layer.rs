use tower::Layer;

use super::service::DropIncoming;
use super::switch::DropIncomingSwitch;

/// Wraps a service so that, while `switch` is on, requests are dropped instead of served.
///
/// ```
/// use tcp_serve::layer::{DropIncomingLayer, DropIncomingSwitch};
///
/// let switch = DropIncomingSwitch::new();
/// let layer = DropIncomingLayer::new(switch.clone());
/// switch.set(true); // pause: connections are accepted and closed at once
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct DropIncomingLayer {
    switch: DropIncomingSwitch,
}

impl DropIncomingLayer {
    /// A layer that drops connections while `switch` is on.
    pub fn new(switch: DropIncomingSwitch) -> Self {
        DropIncomingLayer { switch }
    }
}

impl<S> Layer<S> for DropIncomingLayer {
    type Service = DropIncoming<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DropIncoming::new(inner, self.switch.clone())
    }
}
