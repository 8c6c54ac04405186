//! Which peers may send a PROXY header: address ranges, and the addresses a header's client
//! can stand in for.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use super::error::InvalidCidr;

/// A range of IP addresses in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address
/// such as `127.0.0.1`): the peers a [`ProxyProtocolLayer`](super::ProxyProtocolLayer)
/// trusts to send a header.
///
/// ```
/// use tcp_serve::proxy::Cidr;
///
/// let balancers: Cidr = "10.1.0.0/16".parse()?;
/// assert!(balancers.contains("10.1.2.3".parse()?));
/// assert!(!balancers.contains("10.2.0.1".parse()?));
/// // An IPv4 peer of a dual-stack socket (::ffff:10.1.2.3) is the IPv4 address.
/// assert!(balancers.contains("::ffff:10.1.2.3".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    // With the bits past the prefix cleared.
    network: IpAddr,
    prefix: u8,
}

/// The peers trusted unless told otherwise: loopback only (`127.0.0.0/8`, `::1`), a
/// balancer on the same host. Name your balancers with
/// [`ProxyProtocolLayer::trusted`](super::ProxyProtocolLayer::trusted): trusting a whole
/// private network would let any host in it make the server believe a client address of its
/// choosing.
pub const DEFAULT_TRUSTED: &[Cidr] =
    &[Cidr::v4(127, 0, 0, 0, 8), Cidr { network: IpAddr::V6(Ipv6Addr::LOCALHOST), prefix: 128 }];

/// The private networks (RFC 1918's IPv4 ranges and RFC 4193's IPv6 unique local
/// addresses), where load balancers usually are; for
/// [`ProxyProtocolLayer::trusted`](super::ProxyProtocolLayer::trusted) when every host on
/// them is trusted.
pub const PRIVATE_NETWORKS: &[Cidr] = &[
    Cidr::v4(10, 0, 0, 0, 8),
    Cidr::v4(172, 16, 0, 0, 12),
    Cidr::v4(192, 168, 0, 0, 16),
    Cidr { network: IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)), prefix: 7 },
];

impl Cidr {
    /// Every IPv4 address (`0.0.0.0/0`), and so every IPv4 peer of a dual-stack socket.
    pub const ANY_IPV4: Cidr = Cidr::v4(0, 0, 0, 0, 0);
    /// Every IPv6 address (`::/0`).
    pub const ANY_IPV6: Cidr = Cidr { network: IpAddr::V6(Ipv6Addr::UNSPECIFIED), prefix: 0 };

    /// The addresses whose first `prefix` bits are `network`'s. Bits of `network` past the
    /// prefix are ignored.
    ///
    /// # Errors
    ///
    /// A prefix longer than the address (32 bits for IPv4, 128 for IPv6).
    pub fn new(network: IpAddr, prefix: u8) -> Result<Self, InvalidCidr> {
        let bits = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix > bits {
            return Err(InvalidCidr::prefix(prefix, bits));
        }
        Ok(Cidr { network: mask(network, prefix), prefix })
    }

    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        Cidr { network: IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix }
    }

    /// The range's first address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// How many leading bits the addresses in the range share.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the range. An IPv4-mapped IPv6 address counts as its IPv4
    /// address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let same_family = matches!(
            (ip, self.network),
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_))
        );
        same_family && mask(ip, self.prefix) == self.network
    }
}

/// `ip` with the bits past `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(ip) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(ip) & mask))
        }
        IpAddr::V6(ip) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask))
        }
    }
}

impl From<IpAddr> for Cidr {
    /// The range of this one address.
    fn from(ip: IpAddr) -> Self {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        Cidr { network: ip, prefix }
    }
}

impl FromStr for Cidr {
    type Err = InvalidCidr;

    /// `ADDRESS/PREFIX`, or an address alone for a range of one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let ip: IpAddr = address.parse().map_err(|_| InvalidCidr::text(s))?;
        match prefix {
            None => Ok(Cidr::from(ip)),
            Some(prefix) => Cidr::new(ip, prefix.parse().map_err(|_| InvalidCidr::text(s))?),
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A peer address a PROXY header's client can stand in for: what a server of either
/// family calls its service with. Sealed; implemented for [`SocketAddr`] (TCP) and
/// [`tokio::net::unix::SocketAddr`].
///
/// On a TCP server the service is called with the header's client in place of the
/// balancer's address (the peer stays for a header that names no client: LOCAL, `UNKNOWN`).
/// A Unix socket's address cannot hold an IP client, so on a Unix server the peer stays
/// as it is, and every peer is trusted (the socket file's permissions say who may
/// connect); the client is in [`ProxiedStream::proxy_info`](super::ProxiedStream::proxy_info).
pub trait PeerAddr: sealed::Peer + Clone + fmt::Debug + Send + Sync + 'static {}

impl PeerAddr for SocketAddr {}
impl PeerAddr for tokio::net::unix::SocketAddr {}

pub(super) mod sealed {
    use std::net::{IpAddr, SocketAddr};

    /// What the layer needs of a peer address; public in a private module, so that
    /// [`PeerAddr`](super::PeerAddr) is sealed.
    pub trait Peer: Sized {
        /// The peer's IP address, to check against the trusted ranges; `None` if it has
        /// none (a Unix socket), which is trusted.
        fn ip(&self) -> Option<IpAddr>;

        /// The address to call the service with for a header naming `client`; `None` to
        /// keep the peer.
        fn replaced_by(&self, client: SocketAddr) -> Option<Self>;
    }

    impl Peer for SocketAddr {
        fn ip(&self) -> Option<IpAddr> {
            Some(SocketAddr::ip(self))
        }

        fn replaced_by(&self, client: SocketAddr) -> Option<Self> {
            Some(client)
        }
    }

    impl Peer for tokio::net::unix::SocketAddr {
        fn ip(&self) -> Option<IpAddr> {
            None
        }

        fn replaced_by(&self, _client: SocketAddr) -> Option<Self> {
            None
        }
    }
}
