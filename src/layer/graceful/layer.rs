use tower::Layer;

use super::handle::Graceful;
use super::service::GracefulService;

/// Counts each connection in a [`Graceful`] and ends it when the `Graceful` closes them
/// all; see the [module docs](super).
///
/// ```
/// use tcp_serve::layer::{Graceful, GracefulLayer};
///
/// let graceful = Graceful::new();
/// let layer = GracefulLayer::new(graceful.clone()); // or graceful.layer()
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct GracefulLayer {
    graceful: Graceful,
}

impl GracefulLayer {
    /// A layer counting connections in `graceful`.
    pub fn new(graceful: Graceful) -> Self {
        GracefulLayer { graceful }
    }
}

impl<S> Layer<S> for GracefulLayer {
    type Service = GracefulService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GracefulService::new(inner, self.graceful.clone())
    }
}
