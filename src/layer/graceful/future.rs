use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tokio_util::task::task_tracker::TrackedFuture;

use super::handle::CLOSING;
use crate::switch::Watch;

/// A counted handler that ends early, successfully, when its connections are closed.
#[pin_project]
pub struct ResponseFuture<F> {
    // `None` once the handler has ended or been closed. Dropping it drops the handler
    // before the tracker token (as `TrackedFuture` orders them): the socket is closed before
    // the count falls, so whoever waits on the count sees every fd closed.
    #[pin]
    handler: Option<TrackedFuture<F>>,
    watch: Watch,
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(handler: TrackedFuture<F>, watch: Watch) -> Self {
        ResponseFuture { handler: Some(handler), watch }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<(), E>>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.watch.level() < CLOSING {
            let handler = this.handler.as_mut().as_pin_mut();
            let handler = handler.expect("the graceful future was polled after it completed");
            if let Poll::Ready(result) = handler.poll(cx) {
                this.handler.set(None);
                return Poll::Ready(result);
            }
            // Registered once; after that a poll costs a load and a waker comparison.
            if this.watch.poll_level(cx, CLOSING).is_pending() {
                return Poll::Pending;
            }
        }
        this.handler.set(None);
        tracing::debug!("connection closed by the server");
        Poll::Ready(Ok(()))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("running", &self.handler.is_some())
            .field("watch", &self.watch)
            .finish()
    }
}
