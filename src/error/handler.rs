//! The errors of a failed connection: [`PeerError`], an error with the peer to report it
//! for, and [`HandlerPanicked`], a handler's panic as an error.

use std::any::Any;
use std::fmt;

use super::BoxError;

/// A connection's error, with the peer to report it for.
///
/// The error policy ([`OnHandlerError`](crate::OnHandlerError)) reports a failure for the
/// connection's peer, unless the error is a `PeerError` of the server's address type: then
/// for the peer it names, and with the error it carries. A layer that learns who the client
/// really is wraps its inner service's error in one: the PROXY layer
/// (`proxy::ProxyProtocolLayer`) does, since the connection's peer is the load balancer.
/// The policy raises a failure as a `PeerError` too, and the acceptor stops the server with
/// [`ServerError::Handler`](crate::ServerError::Handler) for its peer and its error; so
/// does a stack without an error policy whose connection ends in a `PeerError`.
///
/// It prints as the error it carries, and hands out that error's source as its own.
pub struct PeerError<A> {
    peer: A,
    error: BoxError,
}

impl<A> PeerError<A> {
    /// `error`, to be reported for `peer`.
    pub fn new(peer: A, error: impl Into<BoxError>) -> Self {
        PeerError { peer, error: error.into() }
    }

    /// The peer the error is reported for.
    pub fn peer(&self) -> &A {
        &self.peer
    }

    /// The connection's own error.
    pub fn error(&self) -> &BoxError {
        &self.error
    }

    /// The peer and the connection's own error.
    pub fn into_parts(self) -> (A, BoxError) {
        (self.peer, self.error)
    }
}

impl<A: fmt::Debug + Send + Sync + 'static> PeerError<A> {
    /// The peer and the error `error` carries, if it is a `PeerError` of this address type;
    /// otherwise `error` back.
    pub(crate) fn take(error: BoxError) -> Result<(A, BoxError), BoxError> {
        error.downcast::<Self>().map(|wrapped| wrapped.into_parts())
    }
}

impl<A: fmt::Debug> fmt::Debug for PeerError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerError").field("peer", &self.peer).field("error", &self.error).finish()
    }
}

// Transparent: the peer is said where the error is reported (the policy's log line, the
// `ServerError`), so the wrapper adds no line of its own to a printed chain.
impl<A> fmt::Display for PeerError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<A: fmt::Debug> std::error::Error for PeerError<A> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// The error a handler's panic is turned into, so that it goes through the error policy
/// like any other handler error.
#[derive(Clone, Debug)]
pub struct HandlerPanicked {
    message: String,
}

impl HandlerPanicked {
    /// Wraps the payload that `std::panic::catch_unwind` returned.
    pub(crate) fn from_payload(payload: Box<dyn Any + Send>) -> Self {
        HandlerPanicked { message: panic_message(&*payload) }
    }

    /// The panic's message, or `"Box<dyn Any>"` when it was not a string.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HandlerPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the handler panicked: {}", self.message)
    }
}

impl std::error::Error for HandlerPanicked {}

/// The message of a panic payload, as the default panic hook prints it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}
