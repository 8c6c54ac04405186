//! Where a server binds: [`WhereToListen`], a TCP address or a Unix path.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::family::{Family, Inet, Unix};

/// Where a server listens, as Async's `Where_to_listen`.
///
/// ```
/// use tcp_serve::WhereToListen;
///
/// let anywhere = WhereToListen::port(7000);              // 0.0.0.0:7000
/// let local = WhereToListen::localhost_port_chosen_by_os(); // 127.0.0.1, any free port
/// let v6 = WhereToListen::addr("[::1]:7000".parse::<std::net::SocketAddr>().unwrap());
/// let path = WhereToListen::unix("/tmp/echo.sock");
/// # let _ = (anywhere, local, v6, path);
/// ```
pub struct WhereToListen<F: Family> {
    to: F::BindTo,
    _family: PhantomData<fn() -> F>,
}

impl<F: Family> WhereToListen<F> {
    fn new(to: F::BindTo) -> Self {
        WhereToListen { to, _family: PhantomData }
    }

    /// The address or path the server will bind.
    pub fn bind_to(&self) -> &F::BindTo {
        &self.to
    }
}

impl WhereToListen<Inet> {
    /// Every IPv4 address of the host, on `port`.
    pub fn port(port: u16) -> Self {
        Self::addr((Ipv4Addr::UNSPECIFIED, port))
    }

    /// Every IPv4 address of the host, on a port the OS chooses; read it back with
    /// [`Server::listening_on`](crate::Server::listening_on).
    pub fn port_chosen_by_os() -> Self {
        Self::port(0)
    }

    /// `127.0.0.1` only, on `port`: reachable from this host alone.
    pub fn localhost(port: u16) -> Self {
        Self::addr((Ipv4Addr::LOCALHOST, port))
    }

    /// `127.0.0.1` only, on a port the OS chooses. What tests want.
    pub fn localhost_port_chosen_by_os() -> Self {
        Self::localhost(0)
    }

    /// A given address, IPv4 or IPv6; port 0 lets the OS choose.
    pub fn addr(addr: impl Into<SocketAddr>) -> Self {
        Self::new(addr.into())
    }

    /// A given IP address on a given port; port 0 lets the OS choose.
    pub fn ip(ip: impl Into<IpAddr>, port: u16) -> Self {
        Self::addr((ip.into(), port))
    }
}

impl WhereToListen<Unix> {
    /// A Unix-domain socket at `path`, as Async's `Where_to_listen.of_file`.
    ///
    /// The file must not exist: a stale socket file left by a server that exited is
    /// reported as [`Error::StaleUnixSocket`](crate::Error::StaleUnixSocket) rather than removed behind your back. The file
    /// stays when the server closes, as with tokio's and Async's listeners: remove it
    /// before binding the path again.
    pub fn unix(path: impl AsRef<Path>) -> Self {
        Self::new(path.as_ref().to_path_buf())
    }
}

impl<F: Family> Clone for WhereToListen<F> {
    fn clone(&self) -> Self {
        Self::new(self.to.clone())
    }
}

impl<F: Family> fmt::Debug for WhereToListen<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WhereToListen").field(&self.to).finish()
    }
}
