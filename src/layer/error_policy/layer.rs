use std::fmt;
use std::sync::Arc;

use tower::Layer;

use super::policy::{OnHandlerError, Policy};
use super::service::ErrorPolicy;
use crate::error::BoxError;

/// Applies an [`OnHandlerError`] policy to every connection of the wrapped service.
///
/// `raise` says what [`OnHandlerError::Raise`] does; [`Serve`](crate::Serve) passes one that
/// closes the server. On its own, the layer can be given any function:
///
/// ```
/// use tcp_serve::layer::{ErrorPolicyLayer, OnHandlerError};
///
/// let layer = ErrorPolicyLayer::<std::net::SocketAddr>::new(OnHandlerError::Raise, |peer, error| {
///     eprintln!("{peer}: {error}; shutting down");
/// });
/// # let _ = layer;
/// ```
pub struct ErrorPolicyLayer<A> {
    policy: Arc<Policy<A>>,
}

impl<A> ErrorPolicyLayer<A> {
    /// A layer applying `on_error`, where `Raise` (or a panicking `Call`) runs `raise`.
    pub fn new(
        on_error: OnHandlerError<A>,
        raise: impl Fn(A, BoxError) + Send + Sync + 'static,
    ) -> Self {
        let policy = Policy { on_error, raise: Box::new(raise), failures: Default::default() };
        ErrorPolicyLayer { policy: Arc::new(policy) }
    }

    /// How many connections have failed (returned an error or panicked) so far, across
    /// every service this layer made.
    pub fn failures(&self) -> u64 {
        self.policy.failures.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<S, A> Layer<S> for ErrorPolicyLayer<A> {
    type Service = ErrorPolicy<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorPolicy::new(inner, Arc::clone(&self.policy))
    }
}

// By hand: the policy is shared, so cloning needs no `A: Clone`.
impl<A> Clone for ErrorPolicyLayer<A> {
    fn clone(&self) -> Self {
        ErrorPolicyLayer { policy: Arc::clone(&self.policy) }
    }
}

impl<A> fmt::Debug for ErrorPolicyLayer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorPolicyLayer").field("on_error", &self.policy.on_error).finish()
    }
}
