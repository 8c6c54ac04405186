use std::task::{Context, Poll};

use tower::Service;

/// The service of the stream timeout layers ([`IdleTimeoutLayer`](super::IdleTimeoutLayer),
/// [`FirstByteTimeoutLayer`](super::FirstByteTimeoutLayer),
/// [`ReadTimeoutLayer`](super::ReadTimeoutLayer), [`MinRateLayer`](super::MinRateLayer))
/// and of [`BufferAgeLimitLayer`](crate::io::BufferAgeLimitLayer): wraps each connection's
/// stream as its layer `L` says, and calls the inner service with `(peer, wrapped stream)`.
#[derive(Clone, Debug)]
pub struct TimeoutService<S, L> {
    inner: S,
    layer: L,
}

impl<S, L> TimeoutService<S, L> {
    pub(crate) fn new(inner: S, layer: L) -> Self {
        TimeoutService { inner, layer }
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

impl<S, L, A, Io> Service<(A, Io)> for TimeoutService<S, L>
where
    L: sealed::WrapStream<Io>,
    S: Service<(A, L::Stream)>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, (peer, io): (A, Io)) -> Self::Future {
        self.inner.call((peer, self.layer.wrap(io)))
    }
}

pub(crate) mod sealed {
    /// How a timeout layer (or the buffer age limit's) wraps a stream; public in a
    /// private module, so only this crate's layers are one.
    pub trait WrapStream<Io> {
        /// The wrapped stream.
        type Stream;

        /// Wraps a connection's stream; its clock starts now.
        fn wrap(&self, io: Io) -> Self::Stream;
    }
}
