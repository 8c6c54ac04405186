//! The PROXY layer's errors: a handler's error with the client it served, and a bad
//! address range.

use std::error::Error;
use std::fmt;

/// A handler's error, with the client a PROXY header named: a
/// [`PeerError`](crate::PeerError), whose peer is the client.
///
/// The connection's peer is the balancer; this carries the client to the server's
/// [`OnHandlerError`](crate::OnHandlerError) policy, which reports it in the peer's place
/// (to `Call`, in the `Log` line) with the handler's own error, so the policy never sees
/// this wrapper. In a stack without the policy layer (an [`Acceptor`](crate::Acceptor) you
/// built) the acceptor unwraps it the same way: the server stops for the client.
pub type ClientError<A> = crate::PeerError<A>;

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
