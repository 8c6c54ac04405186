use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;

/// The future of [`DropIncoming`](super::DropIncoming): the handler's, or done at once for a
/// dropped connection.
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    serving: Option<F>,
}

impl<F> ResponseFuture<F> {
    pub(super) fn dropped() -> Self {
        ResponseFuture { serving: None }
    }

    pub(super) fn serving(future: F) -> Self {
        ResponseFuture { serving: Some(future) }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<(), E>>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().serving.as_pin_mut() {
            Some(future) => future.poll(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").field("dropped", &self.serving.is_none()).finish()
    }
}
