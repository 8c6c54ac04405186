use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tower::Layer;

use super::policy::{OnHandlerError, Policy};
use super::service::ErrorPolicy;

/// Applies an [`OnHandlerError`] policy to every connection of the wrapped service.
///
/// Outermost in a server's stack, so it sees every failure below it. Under
/// [`OnHandlerError::Raise`] a failed connection's future ends with the error, which tells
/// the [`Acceptor`](crate::Acceptor) to stop the server; [`Acceptor::error_policy_layer`]
/// makes one whose failures the [`Server`](crate::Server)'s metrics count.
///
/// [`Acceptor::error_policy_layer`]: crate::Acceptor::error_policy_layer
///
/// ```
/// use tcp_serve::layer::{ErrorPolicyLayer, OnHandlerError};
///
/// let layer = ErrorPolicyLayer::<std::net::SocketAddr>::new(OnHandlerError::call(|peer, error| {
///     eprintln!("{peer}: {error}");
/// }));
/// assert_eq!(layer.failures(), 0);
/// ```
pub struct ErrorPolicyLayer<A> {
    policy: Arc<Policy<A>>,
}

impl<A> ErrorPolicyLayer<A> {
    /// A layer applying `on_error`.
    pub fn new(on_error: OnHandlerError<A>) -> Self {
        Self::counting(on_error, Arc::default())
    }

    /// A layer applying `on_error` that counts failures in `failures`.
    pub(crate) fn counting(on_error: OnHandlerError<A>, failures: Arc<AtomicU64>) -> Self {
        ErrorPolicyLayer { policy: Arc::new(Policy { on_error, failures }) }
    }

    /// How many connections have failed (returned an error or panicked) so far, across
    /// every service this layer made.
    pub fn failures(&self) -> u64 {
        self.policy.failures.load(Ordering::Relaxed)
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
