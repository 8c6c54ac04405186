use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::Service;

use super::future::ResponseFuture;
use super::policy::Policy;
use crate::error::{BoxError, HandlerPanicked};

/// Routes the wrapped handler's errors and panics to an
/// [`OnHandlerError`](super::OnHandlerError) policy; see [`ErrorPolicyLayer`](super::ErrorPolicyLayer).
pub struct ErrorPolicy<S, A> {
    inner: S,
    policy: Arc<Policy<A>>,
}

impl<S, A> ErrorPolicy<S, A> {
    pub(super) fn new(inner: S, policy: Arc<Policy<A>>) -> Self {
        ErrorPolicy { inner, policy }
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

impl<S, A, Io> Service<(A, Io)> for ErrorPolicy<S, A>
where
    S: Service<(A, Io), Response = ()>,
    S::Error: Into<BoxError>,
    A: Clone + fmt::Debug + Send + Sync + 'static,
{
    type Response = ();
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, A>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, (peer, io): (A, Io)) -> Self::Future {
        // A panic in `call` is the handler's fault like one in its future; it must not
        // unwind into the acceptor. It is reported when the future is first polled, on the
        // connection's task, never while the acceptor holds the server's lock.
        let inner = &mut self.inner;
        let future = match panic::catch_unwind(AssertUnwindSafe(|| inner.call((peer.clone(), io))))
        {
            Ok(future) => Ok(future),
            Err(payload) => Err(HandlerPanicked::from_payload(payload).into()),
        };
        ResponseFuture::new(future, peer, Arc::clone(&self.policy))
    }
}

impl<S: Clone, A> Clone for ErrorPolicy<S, A> {
    fn clone(&self) -> Self {
        ErrorPolicy { inner: self.inner.clone(), policy: Arc::clone(&self.policy) }
    }
}

impl<S: fmt::Debug, A> fmt::Debug for ErrorPolicy<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorPolicy")
            .field("inner", &self.inner)
            .field("on_error", &self.policy.on_error)
            .finish()
    }
}
