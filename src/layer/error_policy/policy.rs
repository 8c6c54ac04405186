use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{panic_message, BoxError, PeerError};

/// What to do when a connection's handler fails (returns `Err` or panics), as Async's
/// `on_handler_error`.
///
/// In every case the failed connection's socket is closed and every other connection
/// carries on.
pub enum OnHandlerError<A> {
    /// Log the error through `tracing` at WARN level and keep serving. The default: Async
    /// makes you choose, and a server that drops errors silently is hard to debug.
    Log,
    /// Drop the error and keep serving.
    Ignore,
    /// Stop accepting and close the listening socket (as
    /// [`Server::close`](crate::Server::close)); awaiting the [`Server`](crate::Server)
    /// then yields the error, which the acceptor logs at ERROR level. When two handlers
    /// fail at once, the first to reach the acceptor is the one reported.
    Raise,
    /// Call the function with the peer's address and the error, and keep serving. If the
    /// function panics, the server stops as for [`Raise`](Self::Raise).
    Call(HandlerErrorCallback<A>),
}

/// The function [`OnHandlerError::Call`] calls with a failed connection's peer and error.
pub type HandlerErrorCallback<A> = Arc<dyn Fn(&A, &BoxError) + Send + Sync>;

impl<A> OnHandlerError<A> {
    /// [`OnHandlerError::Call`] with `f`.
    pub fn call(f: impl Fn(&A, &BoxError) + Send + Sync + 'static) -> Self {
        OnHandlerError::Call(Arc::new(f))
    }
}

// By hand: a derived `Default` would demand `A: Default`.
#[allow(clippy::derivable_impls)]
impl<A> Default for OnHandlerError<A> {
    fn default() -> Self {
        OnHandlerError::Log
    }
}

// By hand: a derived `Clone` would demand `A: Clone`, which the `Arc` does not need.
impl<A> Clone for OnHandlerError<A> {
    fn clone(&self) -> Self {
        match self {
            OnHandlerError::Log => OnHandlerError::Log,
            OnHandlerError::Ignore => OnHandlerError::Ignore,
            OnHandlerError::Raise => OnHandlerError::Raise,
            OnHandlerError::Call(f) => OnHandlerError::Call(Arc::clone(f)),
        }
    }
}

impl<A> fmt::Debug for OnHandlerError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnHandlerError::Log => f.write_str("Log"),
            OnHandlerError::Ignore => f.write_str("Ignore"),
            OnHandlerError::Raise => f.write_str("Raise"),
            OnHandlerError::Call(_) => f.write_str("Call(..)"),
        }
    }
}

/// The policy and its failure count; one per layer, shared by every connection.
pub(super) struct Policy<A> {
    pub(super) on_error: OnHandlerError<A>,
    pub(super) failures: Arc<AtomicU64>,
}

impl<A: Clone + fmt::Debug + Send + Sync + 'static> Policy<A> {
    /// Applies the policy to a failed connection of `peer`, or of the peer a [`PeerError`]
    /// names (the client a PROXY header named, say); `Err` gives back the error to raise,
    /// as a `PeerError` for the peer reported. The raised error is logged by whoever stops
    /// the server for it (the acceptor), not here, so that it is logged once.
    pub(super) fn handle(&self, peer: &A, error: BoxError) -> Result<(), BoxError> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let (peer, error) = match PeerError::<A>::take(error) {
            Ok((named, error)) => (named, error),
            Err(error) => (peer.clone(), error),
        };
        match &self.on_error {
            OnHandlerError::Log => {
                tracing::warn!(
                    ?peer,
                    error = &*error as &dyn std::error::Error,
                    "connection handler failed"
                )
            }
            OnHandlerError::Ignore => {}
            OnHandlerError::Raise => return Err(Box::new(PeerError::new(peer, error))),
            OnHandlerError::Call(f) => {
                if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(&peer, &error))) {
                    tracing::error!(
                        ?peer,
                        panic = %panic_message(&*payload),
                        "the on_handler_error callback panicked; raising the handler's error"
                    );
                    return Err(Box::new(PeerError::new(peer, error)));
                }
            }
        }
        Ok(())
    }
}
