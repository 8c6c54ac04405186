//! The PROXY layer's errors: a handler's error with the client it served, and a bad
//! address range.

use std::error::Error;
use std::fmt;

use crate::error::BoxError;

/// A handler's error, with the client a PROXY header named.
///
/// The connection's peer is the balancer; this carries the client to the server's
/// [`OnHandlerError`](crate::OnHandlerError) policy, which reports it in the peer's place
/// (to `Call`, in the `Log` line) and passes on [`handler_error`](Self::handler_error),
/// the handler's own error, so the policy never sees this wrapper. Only a stack without the policy layer
/// (an [`Acceptor`](crate::Acceptor) you built) sees it, as the error raised.
pub struct ClientError<A> {
    client: A,
    source: BoxError,
}

impl<A> ClientError<A> {
    pub(crate) fn new(client: A, source: BoxError) -> Self {
        ClientError { client, source }
    }

    /// The client the header named.
    pub fn client(&self) -> &A {
        &self.client
    }

    /// The handler's error.
    pub fn handler_error(&self) -> &BoxError {
        &self.source
    }

    /// The client and the handler's error.
    pub fn into_parts(self) -> (A, BoxError) {
        (self.client, self.source)
    }
}

impl<A: fmt::Debug> fmt::Debug for ClientError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientError")
            .field("client", &self.client)
            .field("source", &self.source)
            .finish()
    }
}

impl<A: fmt::Debug> fmt::Display for ClientError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the handler of client {:?} failed: {}", self.client, self.source)
    }
}

impl<A: fmt::Debug> Error for ClientError<A> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// A [`Cidr`](super::Cidr) that could not be made: text that is not `ADDRESS/PREFIX`, or a
/// prefix longer than the address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidCidr {
    what: String,
}

impl InvalidCidr {
    pub(super) fn text(text: &str) -> Self {
        InvalidCidr {
            what: format!(
                "{text:?} is not an address range: write ADDRESS/PREFIX (10.0.0.0/8, \
                 fd00::/8) or one address"
            ),
        }
    }

    pub(super) fn prefix(prefix: u8, bits: u8) -> Self {
        InvalidCidr { what: format!("a /{prefix} prefix is longer than the address's {bits} bits") }
    }
}

impl fmt::Display for InvalidCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl Error for InvalidCidr {}
