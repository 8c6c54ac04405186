//! The future of [`Track`](super::Track).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tokio_util::task::task_tracker::TrackedFuture;

use super::close_all::Watch;

/// A tracked handler that ends early, successfully, when the server closes all connections.
#[pin_project]
pub struct ResponseFuture<F> {
    // `TrackedFuture` drops the handler before its tracker token: the socket is closed
    // before the count falls, so whoever waits on the tracker sees every fd closed.
    #[pin]
    handler: TrackedFuture<F>,
    watch: Watch,
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(handler: TrackedFuture<F>, watch: Watch) -> Self {
        ResponseFuture { handler, watch }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<(), E>>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !this.watch.is_closed() {
            if let Poll::Ready(result) = this.handler.poll(cx) {
                return Poll::Ready(result);
            }
            // Only a handler that has to wait needs waking when the server closes it.
            if this.watch.poll_closed(cx).is_pending() {
                return Poll::Pending;
            }
        }
        tracing::debug!("connection closed by the server");
        Poll::Ready(Ok(()))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").field("watch", &self.watch).finish_non_exhaustive()
    }
}
