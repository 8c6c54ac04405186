//! The future of [`DropIncoming`](super::DropIncoming).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;

/// Either the inner handler's future, or done at once for a dropped connection.
#[pin_project(project = Proj)]
#[derive(Debug)]
pub enum ResponseFuture<F> {
    /// The connection was dropped; nothing to run.
    Dropped,
    /// The connection is being served.
    Serving(#[pin] F),
}

impl<F> ResponseFuture<F> {
    pub(super) fn dropped() -> Self {
        ResponseFuture::Dropped
    }

    pub(super) fn serving(future: F) -> Self {
        ResponseFuture::Serving(future)
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<(), E>>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Dropped => Poll::Ready(Ok(())),
            Proj::Serving(future) => future.poll(cx),
        }
    }
}
