use std::task::{Context, Poll};

use tower::Service;

use super::future::ResponseFuture;
use super::handle::Graceful;

/// Counts and watches the wrapped service's connections; see [`GracefulLayer`](super::GracefulLayer).
#[derive(Clone, Debug)]
pub struct GracefulService<S> {
    inner: S,
    graceful: Graceful,
}

impl<S> GracefulService<S> {
    /// Wraps `inner`, counting its connections in `graceful`.
    pub fn new(inner: S, graceful: Graceful) -> Self {
        GracefulService { inner, graceful }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R> Service<R> for GracefulService<S>
where
    S: Service<R, Response = ()>,
{
    type Response = ();
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let handler = self.graceful.tracker.track_future(self.inner.call(request));
        ResponseFuture::new(handler, self.graceful.watch())
    }
}
