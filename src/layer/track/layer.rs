use tokio_util::task::TaskTracker;
use tower::Layer;

use super::close_all::CloseAll;
use super::service::Track;

/// Tracks every connection of the wrapped service in `tracker`, and ends them all when
/// `close_all` is closed.
///
/// ```
/// use tcp_serve::layer::{CloseAll, TrackLayer};
/// use tokio_util::task::TaskTracker;
///
/// let tracker = TaskTracker::new();
/// let close_all = CloseAll::new();
/// let layer = TrackLayer::new(tracker.clone(), close_all.clone());
/// assert_eq!(tracker.len(), 0); // live connections
/// close_all.close();            // drops every tracked handler
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct TrackLayer {
    tracker: TaskTracker,
    close_all: CloseAll,
}

impl TrackLayer {
    /// A layer tracking connections in `tracker`, closing them when `close_all` is closed.
    pub fn new(tracker: TaskTracker, close_all: CloseAll) -> Self {
        TrackLayer { tracker, close_all }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Track::new(inner, self.tracker.clone(), self.close_all.clone())
    }
}
