use std::task::{Context, Poll};

use tower::Service;

use super::future::ResponseFuture;
use super::switch::DropIncomingSwitch;

/// Drops requests while its switch is on; see [`DropIncomingLayer`](super::DropIncomingLayer).
#[derive(Clone, Debug)]
pub struct DropIncoming<S> {
    inner: S,
    switch: DropIncomingSwitch,
}

impl<S> DropIncoming<S> {
    /// Wraps `inner`, dropping its requests while `switch` is on.
    pub fn new(inner: S, switch: DropIncomingSwitch) -> Self {
        DropIncoming { inner, switch }
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

impl<S, R> Service<R> for DropIncoming<S>
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
        if self.switch.is_on() {
            // Dropping the request closes the connection's socket, here and now.
            drop(request);
            self.switch.count_drop();
            tracing::debug!("dropped an incoming connection (drop_incoming_connections is on)");
            ResponseFuture::dropped()
        } else {
            ResponseFuture::serving(self.inner.call(request))
        }
    }
}
