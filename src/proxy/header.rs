//! The PROXY header on the wire: telling a header from a direct client's bytes, and what a
//! complete header says.
//!
//! `proxy-header` 0.1.3 decodes both versions and tells "need more bytes" from "invalid" at
//! every prefix. What it leaves to us: the signatures (to serve a direct client whose
//! bytes are not a header), the size cap, and v2's command byte, since it reports LOCAL,
//! a PROXY header for `AF_UNIX` and one for `AF_UNSPEC` alike, as "no address".

use std::fmt;
use std::net::SocketAddr;

use proxy_header::{ParseConfig, ProxyHeader, Tlvs};

/// How a v1 header starts.
const V1_SIGNATURE: &[u8] = b"PROXY ";
/// The longest v1 header, CRLF included.
const V1_MAX_LEN: usize = 107;
/// How a v2 header starts.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\x00\r\nQUIT\n";
/// A v2 header's fixed part: the signature, the version and command, the family and
/// transport, and the length of what follows.
const V2_FIXED_LEN: usize = 16;
/// The largest header accepted, TLVs included: HAProxy's own default buffer. The spec
/// allows 16 + 65,535 bytes, but no balancer sends more than a few hundred, and the buffer
/// is held per connection while the header arrives.
pub(super) const MAX_HEADER_LEN: usize = 16 * 1024;

/// Which version of the protocol a header was in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// The text header: `PROXY TCP4 <client> <destination> <ports>\r\n`.
    V1,
    /// The binary header, which can carry TLVs and tell a health check (LOCAL) apart.
    V2,
}

/// What a load balancer's PROXY header said about a connection; from
/// [`ProxiedStream::proxy_info`](super::ProxiedStream::proxy_info).
///
/// [`client`](Self::client) is the address your service is called with on a TCP server.
/// It is `None` when the header names no inet client: a v2 LOCAL header (the balancer's
/// own connection, such as a health check), a v1 `UNKNOWN` one, or a v2 header for a Unix
/// or unspecified family. The TLVs a v2 header carries (ALPN, authority, unique id, TLS
/// details...) are in [`tlvs`](Self::tlvs) and the typed accessors of
/// [`header`](Self::header).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyInfo {
    version: Version,
    local: bool,
    header: ProxyHeader<'static>,
}

impl ProxyInfo {
    /// The header's version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether it was a v2 LOCAL header: the balancer opened the connection for itself (a
    /// health check), and the connection's own addresses are the real ones.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// The client's address, as the balancer saw it.
    pub fn client(&self) -> Option<SocketAddr> {
        self.header.proxied_address().map(|a| a.source)
    }

    /// The address the client connected to: the balancer's frontend.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.header.proxied_address().map(|a| a.destination)
    }

    /// The v2 header's TLVs, in order; none for v1. A malformed TLV ends the iteration
    /// with an error.
    pub fn tlvs(&self) -> Tlvs<'_> {
        self.header.tlvs()
    }

    /// The decoded header, for its typed TLV accessors (`authority()`, `alpn()`,
    /// `unique_id()`, `ssl()`, ...).
    pub fn header(&self) -> &ProxyHeader<'static> {
        &self.header
    }
}

impl fmt::Debug for ProxyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyInfo")
            .field("version", &self.version)
            .field("local", &self.local)
            .field("client", &self.client())
            .field("destination", &self.destination())
            .field("tlvs", &self.tlvs().collect::<Vec<_>>())
            .finish()
    }
}

/// What the bytes a connection has sent so far are.
#[derive(Debug)]
pub(super) enum Parsed {
    /// A complete header, and how many bytes it took.
    Header(ProxyInfo, usize),
    /// Not a header: they differ from both signatures.
    NotAHeader,
    /// A strict prefix of a signature: a header may follow, or a direct client's bytes.
    MaybeHeader,
    /// A header announced by its signature but not yet complete.
    Incomplete,
    /// A header announced by its signature that is malformed or too large.
    Invalid(&'static str),
}

/// Decides what `buf`, the first bytes of a connection, is.
pub(super) fn parse(buf: &[u8]) -> Parsed {
    let (signature, version) = if buf.first() == Some(&b'P') {
        (V1_SIGNATURE, Version::V1)
    } else {
        (V2_SIGNATURE, Version::V2)
    };
    let common = buf.len().min(signature.len());
    if buf[..common] != signature[..common] {
        return Parsed::NotAHeader;
    }
    if buf.len() < signature.len() {
        return Parsed::MaybeHeader;
    }
    match version {
        Version::V1 => parse_v1(buf),
        Version::V2 => parse_v2(buf),
    }
}

/// A v1 header, by `proxy-header`, which waits for a CR up to 107 bytes.
fn parse_v1(buf: &[u8]) -> Parsed {
    // Only the final CRLF has an LF, so an LF without its CR ends the wait at once.
    let lf = buf.iter().take(V1_MAX_LEN).position(|&byte| byte == b'\n');
    if lf.is_some_and(|at| buf[at - 1] != b'\r') {
        return Parsed::Invalid("v1 header with an LF alone");
    }
    decode(buf, Version::V1, false)
}

/// A v2 header: its fixed part, checked here, then the rest, by `proxy-header`.
fn parse_v2(buf: &[u8]) -> Parsed {
    let Some(fixed) = buf.get(..V2_FIXED_LEN) else { return Parsed::Incomplete };
    let local = match fixed[12] {
        0x20 => true,
        0x21 => false,
        _ => return Parsed::Invalid("v2 header with an unknown version or command"),
    };
    let len = V2_FIXED_LEN + usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if len > MAX_HEADER_LEN {
        return Parsed::Invalid("v2 header longer than the 16 KiB accepted");
    }
    let Some(header) = buf.get(..len) else { return Parsed::Incomplete };
    match decode(header, Version::V2, local) {
        // All `len` bytes are here: one that needs more lies about its length.
        Parsed::Incomplete if !local => Parsed::Invalid("v2 header shorter than its addresses"),
        // The spec tells a receiver to ignore a LOCAL header's address block whatever its
        // family says, where `proxy-header` checks it: a LOCAL header it finds malformed
        // is still a health check, without its TLVs.
        Parsed::Invalid(_) | Parsed::Incomplete if local => Parsed::Header(
            ProxyInfo { version: Version::V2, local, header: ProxyHeader::with_local() },
            len,
        ),
        parsed => parsed,
    }
}

/// Decodes a header whose signature is complete.
fn decode(buf: &[u8], version: Version, local: bool) -> Parsed {
    match ProxyHeader::parse(buf, ParseConfig::default()) {
        Ok((header, len)) => {
            Parsed::Header(ProxyInfo { version, local, header: header.into_owned() }, len)
        }
        Err(proxy_header::Error::BufferTooShort) => Parsed::Incomplete,
        Err(_) => Parsed::Invalid(match version {
            Version::V1 => "malformed v1 header",
            Version::V2 => "malformed v2 header",
        }),
    }
}
