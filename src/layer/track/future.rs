//! The future of [`Track`](super::Track).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tokio_util::task::task_tracker::TrackedFuture;

/// A tracked handler that ends early, successfully, when the server closes all connections.
#[pin_project]
pub struct ResponseFuture<F> {
    // `TrackedFuture` drops the handler before its tracker token: the socket is closed
    // before the count falls, so whoever waits on the tracker sees every fd closed.
    #[pin]
    handler: TrackedFuture<F>,
    #[pin]
    closed: WaitForCancellationFutureOwned,
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(handler: TrackedFuture<F>, closed: WaitForCancellationFutureOwned) -> Self {
        ResponseFuture { handler, closed }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<(), E>>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.closed.poll(cx).is_ready() {
            tracing::debug!("connection closed by the server");
            return Poll::Ready(Ok(()));
        }
        this.handler.poll(cx)
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
