use std::task::{Context, Poll};

use tokio_util::task::TaskTracker;
use tower::Service;

use super::close_all::CloseAll;
use super::future::ResponseFuture;

/// Tracks the wrapped service's connections; see [`TrackLayer`](super::TrackLayer).
#[derive(Clone, Debug)]
pub struct Track<S> {
    inner: S,
    tracker: TaskTracker,
    close_all: CloseAll,
}

impl<S> Track<S> {
    /// Wraps `inner`, tracking its connections in `tracker`.
    pub fn new(inner: S, tracker: TaskTracker, close_all: CloseAll) -> Self {
        Track { inner, tracker, close_all }
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

impl<S, R> Service<R> for Track<S>
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
        ResponseFuture::new(
            self.tracker.track_future(self.inner.call(request)),
            self.close_all.watch(),
        )
    }
}
