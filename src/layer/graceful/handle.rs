use std::sync::Arc;

use tokio_util::task::TaskTracker;

use super::layer::GracefulLayer;
use super::signal::ShutdownSignal;
use crate::switch::{Switch, Watch};

/// The switch's levels: serving, draining (handlers are told), closing (handlers dropped).
pub(super) const DRAINING: u8 = 1;
pub(super) const CLOSING: u8 = 2;

/// The live connections of a server: how many there are, and the switch that drains them
/// or ends them all. Cloning shares it.
///
/// Only the holder of a `Graceful` can start a drain or end the connections; handlers get a
/// [`ShutdownSignal`], which can watch but not trigger.
///
/// ```
/// use tcp_serve::layer::Graceful;
///
/// let graceful = Graceful::new();
/// let layer = graceful.layer();        // put it in the stack, around your service
/// let signal = graceful.signal();      // move it into your service
/// assert_eq!(graceful.count(), 0);
/// graceful.drain();                    // handlers see `signal.is_requested()`
/// assert!(signal.is_requested());
/// graceful.close_all();                // every connection's handler is dropped
/// # let _ = layer;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Graceful {
    pub(super) switch: Arc<Switch>,
    pub(super) tracker: TaskTracker,
}

impl Graceful {
    /// No connections yet, and no drain.
    pub fn new() -> Self {
        Self::default()
    }

    /// The layer that counts each connection and ends it on [`close_all`](Self::close_all).
    pub fn layer(&self) -> GracefulLayer {
        GracefulLayer::new(self.clone())
    }

    /// A signal for handlers to watch for a drain.
    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal::new(self.watch())
    }

    /// How many connections are live.
    pub fn count(&self) -> usize {
        self.tracker.len()
    }

    /// Tells every handler, through its [`ShutdownSignal`], that a drain has begun.
    pub fn drain(&self) {
        self.switch.raise(DRAINING);
    }

    /// Whether [`drain`](Self::drain) (or [`close_all`](Self::close_all)) has been called.
    pub fn is_draining(&self) -> bool {
        self.switch.level() >= DRAINING
    }

    /// Ends every connection, now and from now on: each handler is dropped, closing its
    /// socket. Handlers watching the signal see it too.
    pub fn close_all(&self) {
        self.switch.raise(CLOSING);
    }

    /// Whether [`close_all`](Self::close_all) has been called.
    pub fn is_closing_all(&self) -> bool {
        self.switch.level() >= CLOSING
    }

    /// Resolves once no connection is live, after [`stop_counting_new`](Self::stop_counting_new).
    pub(crate) fn finished(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let tracker = self.tracker.clone();
        async move { tracker.wait().await }
    }

    /// No more connections will come (the listener is closing): lets `finished` resolve
    /// once the count reaches zero.
    pub(crate) fn stop_counting_new(&self) {
        self.tracker.close();
    }

    pub(super) fn watch(&self) -> Watch {
        Watch::new(Arc::clone(&self.switch))
    }
}
