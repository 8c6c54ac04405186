use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower::Layer;

use super::service::ProxyProtocol;
use super::trust::{Cidr, DEFAULT_TRUSTED};

/// How long a trusted peer may take to send its header by default: the spec asks for "a
/// few seconds", at least 3 to cover a TCP retransmit.
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a trusted peer must send a PROXY header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Header {
    /// Every connection from a trusted peer starts with a header; one that does not is
    /// closed. The default, and what the spec asks for: a receiver must not guess.
    #[default]
    Required,
    /// A trusted peer may send a header or not: a connection whose first bytes are not a
    /// header's signature (`PROXY ` or v2's twelve bytes) is served as a direct client with
    /// its bytes intact, as is one that sends nothing or closes before the signature is
    /// complete. For moving a server behind a balancer, or health checks that come
    /// without one. A direct client's first bytes must not look like a header, and a
    /// client that waits for the server to speak first is served only once the header
    /// timeout has passed.
    Optional,
}

/// Reads a PROXY protocol header (v1 or v2) before the wrapped service is called, and
/// calls it with the client's address instead of the load balancer's; see the
/// [module docs](super).
#[derive(Clone)]
pub struct ProxyProtocolLayer {
    pub(super) config: Arc<Config>,
}

/// What every connection of a layer shares.
#[derive(Clone)]
pub(super) struct Config {
    pub(super) header: Header,
    pub(super) trusted: Vec<Cidr>,
    pub(super) header_timeout: Duration,
}

impl Config {
    /// Whether a peer with this IP address (none for a Unix socket) may send a header.
    pub(super) fn trusts(&self, ip: Option<std::net::IpAddr>) -> bool {
        ip.is_none_or(|ip| self.trusted.iter().any(|range| range.contains(ip)))
    }
}

impl ProxyProtocolLayer {
    /// A layer requiring a header ([`Header::Required`]) from peers on loopback
    /// ([`DEFAULT_TRUSTED`]) within 5 seconds; other peers are refused.
    pub fn new() -> Self {
        ProxyProtocolLayer {
            config: Arc::new(Config {
                header: Header::default(),
                trusted: DEFAULT_TRUSTED.to_vec(),
                header_timeout: DEFAULT_HEADER_TIMEOUT,
            }),
        }
    }

    /// Whether trusted peers must send a header. Default [`Header::Required`].
    pub fn header(mut self, header: Header) -> Self {
        self.config_mut().header = header;
        self
    }

    /// The peers trusted to send a header, replacing the default ([`DEFAULT_TRUSTED`]):
    /// your balancers' addresses or ranges. Any other peer is refused when the header is
    /// [`Required`](Header::Required), and served as a direct client, without looking for
    /// a header, when it is [`Optional`](Header::Optional): it cannot make the server
    /// believe a client address of its choosing. `[Cidr::ANY_IPV4, Cidr::ANY_IPV6]` trusts
    /// every peer, for a server only its balancers can reach. Peers of a Unix socket are
    /// always trusted.
    pub fn trusted(mut self, sources: impl IntoIterator<Item = Cidr>) -> Self {
        self.config_mut().trusted = sources.into_iter().collect();
        self
    }

    /// How long a trusted peer may take to send its whole header, from the connection's
    /// arrival at this layer; a peer that is slower is closed (or, with
    /// [`Header::Optional`], served as direct if it had not started a header). Default 5
    /// seconds.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.config_mut().header_timeout = timeout;
        self
    }

    fn config_mut(&mut self) -> &mut Config {
        // Builder calls come before the layer is shared, so this never copies in practice.
        Arc::make_mut(&mut self.config)
    }
}

impl Default for ProxyProtocolLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ProxyProtocolLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyProtocolLayer")
            .field("header", &self.config.header)
            .field("trusted", &self.config.trusted)
            .field("header_timeout", &self.config.header_timeout)
            .finish()
    }
}

impl<S> Layer<S> for ProxyProtocolLayer {
    type Service = ProxyProtocol<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProxyProtocol::new(inner, Arc::clone(&self.config))
    }
}
