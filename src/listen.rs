//! Where a server listens: [`WhereToListen`], and the two families it can listen in,
//! [`Inet`] (TCP) and [`Unix`] (Unix-domain stream sockets).

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::bind::{self, BindOptions, Bound};
use crate::error::Error;

/// A socket family a server can listen in: [`Inet`] or [`Unix`].
///
/// The family fixes the types a handler sees: the peer address and the stream of each
/// connection, and what [`Server::listening_on`](crate::Server::listening_on) returns.
/// It is sealed: the crate implements it for [`Inet`] and [`Unix`] only.
pub trait Family: sealed::Sealed + Sized + Send + Sync + 'static {
    /// A socket address in this family: the peer of a connection, or the bound address.
    type Addr: Clone + fmt::Debug + Send + Sync + Unpin + 'static;
    /// What [`Server::listening_on`](crate::Server::listening_on) returns: a port or a path.
    type ListeningOn: Clone + fmt::Debug + Send + Sync + 'static;
    /// An accepted connection.
    type Stream: AsyncRead + AsyncWrite + fmt::Debug + Send + Unpin + 'static;
    /// What a [`WhereToListen`] of this family holds: an address or a path.
    type BindTo: Clone + fmt::Debug + Send + Sync + 'static;
    /// The listening socket.
    #[doc(hidden)]
    type Listener: std::os::fd::AsFd + fmt::Debug + Send + Sync + 'static;

    /// Creates, binds and starts the listening socket.
    #[doc(hidden)]
    fn bind(to: &Self::BindTo, options: BindOptions) -> Result<Bound<Self>, Error>;

    /// Accepts one connection if one is pending.
    #[doc(hidden)]
    fn poll_accept(
        listener: &Self::Listener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Stream, Self::Addr)>>;
}

/// TCP over IPv4 or IPv6: peers are [`SocketAddr`]s and the server listens on a port.
#[derive(Clone, Copy, Debug)]
pub enum Inet {}

/// Unix-domain stream sockets: the server listens on a path.
#[derive(Clone, Copy, Debug)]
pub enum Unix {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Inet {}
    impl Sealed for super::Unix {}
}

impl Family for Inet {
    type Addr = SocketAddr;
    type ListeningOn = u16;
    type Stream = TcpStream;
    type BindTo = SocketAddr;
    type Listener = InetListener;

    fn bind(to: &SocketAddr, options: BindOptions) -> Result<Bound<Self>, Error> {
        bind::inet(*to, options)
    }

    fn poll_accept(
        listener: &InetListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, peer) = std::task::ready!(listener.listener.poll_accept(cx))?;
        // A failure means the peer already reset; the handler will see that on first use.
        if listener.nodelay {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%peer, %error, "could not set TCP_NODELAY");
            }
        }
        Poll::Ready(Ok((stream, peer)))
    }
}

/// A TCP listener, and whether its connections get `TCP_NODELAY`.
#[doc(hidden)]
#[derive(Debug)]
pub struct InetListener {
    pub(crate) listener: TcpListener,
    pub(crate) nodelay: bool,
}

impl std::os::fd::AsFd for InetListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl Family for Unix {
    type Addr = tokio::net::unix::SocketAddr;
    type ListeningOn = PathBuf;
    type Stream = UnixStream;
    type BindTo = PathBuf;
    type Listener = UnixListener;

    fn bind(to: &PathBuf, options: BindOptions) -> Result<Bound<Self>, Error> {
        bind::unix(to, options)
    }

    fn poll_accept(
        listener: &UnixListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(UnixStream, Self::Addr)>> {
        listener.poll_accept(cx)
    }
}

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
    /// reported as [`Error::StaleUnixSocket`] rather than removed behind your back. The file
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
