//! TCP: binding a port (with Async's retry for an OS-chosen one) and accepting with
//! `TCP_NODELAY`.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use super::sys::{self, bind_error, io_error, BindOptions, Paused, Place};
use super::Family;
use crate::error::{Endpoint, Error};

/// How many times a bind to an OS-chosen port is tried when it reports `EADDRINUSE`, as
/// Async retries: with `SO_REUSEADDR` the kernel can pick a port another socket holds.
const OS_CHOSEN_PORT_ATTEMPTS: usize = 10;

/// TCP over IPv4 or IPv6: peers are [`SocketAddr`]s and the server listens on a port.
#[derive(Clone, Copy, Debug)]
pub enum Inet {}

impl Family for Inet {
    type Addr = SocketAddr;
    type ListeningOn = u16;
    type Stream = TcpStream;
    type BindTo = SocketAddr;
}

impl sys::Socket for Inet {
    type Std = std::net::TcpListener;
    type Listener = TcpListener;

    const DESCRIPTION: &'static str = "a TCP socket (IPv4 or IPv6)";

    fn fits(domain: Domain) -> bool {
        domain == Domain::IPV4 || domain == Domain::IPV6
    }

    fn bind(addr: &SocketAddr, mut options: BindOptions) -> Result<Socket, Error> {
        let endpoint = Endpoint::Inet(*addr);
        let socket = match options.socket.take() {
            Some(socket) => {
                sys::check_unbound::<Inet>(&socket, &endpoint)?;
                let domain = Domain::for_address(*addr);
                if socket.domain().ok() != Some(domain) {
                    let expected = if addr.is_ipv4() { "an IPv4 socket" } else { "an IPv6 socket" };
                    let found =
                        socket.domain().map_or_else(|e| e.to_string(), |d| format!("{d:?}"));
                    return Err(Error::WrongFamily { endpoint, expected, found });
                }
                socket.bind(&(*addr).into()).map_err(|e| bind_error(e, &endpoint))?;
                socket
            }
            None => bind_new(*addr, &options, &endpoint)?,
        };
        sys::listen(&socket, options.backlog, &endpoint)?;
        Ok(socket)
    }

    fn place(listener: &std::net::TcpListener) -> io::Result<Place<Inet>> {
        let addr = listener.local_addr()?;
        Ok(Place { addr, listening_on: addr.port(), endpoint: Endpoint::Inet(addr) })
    }

    fn register(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std(listener)
    }

    /// `shutdown(SHUT_RD)` on a listening TCP socket stops it listening: connects are
    /// refused, and the connections queued are reset (the kernel sends RST). While paused,
    /// `SO_REUSEADDR` is off, so that no other socket can bind the port.
    fn pause(listener: &TcpListener, place: &Place<Inet>) -> io::Result<Paused> {
        let socket = SockRef::from(listener);
        let paused = Paused { reuseaddr: socket.reuse_address()?, temporary: None };
        socket.shutdown(std::net::Shutdown::Read)?;
        // Bound again at once: Linux frees a port the OS picked for a socket bound to port 0
        // when it stops listening, though `getsockname` still shows it (a port bound by
        // number is kept, and binding again says EINVAL). `Listener::bind` binds even an
        // OS-chosen port by number, so this is for sockets handed in. `SO_REUSEADDR` lets
        // the socket share the port with the live connections accepted on it.
        socket.set_reuse_address(true)?;
        match socket.bind(&place.addr.into()) {
            Err(e) if e.kind() != io::ErrorKind::InvalidInput => return Err(e),
            _ => {}
        }
        socket.set_reuse_address(false)?;
        Ok(paused)
    }

    fn resume(
        listener: &TcpListener,
        _place: &Place<Inet>,
        backlog: i32,
        paused: &Paused,
    ) -> io::Result<TcpListener> {
        // The same socket under a new descriptor, so tokio registers it afresh.
        let socket = SockRef::from(listener).try_clone()?;
        // As when binding it again: it shares the port with the connections accepted on it.
        socket.set_reuse_address(true)?;
        socket.listen(backlog)?;
        socket.set_reuse_address(paused.reuseaddr)?;
        socket.set_nonblocking(true)?;
        TcpListener::from_std(socket.into())
    }

    fn poll_accept(
        listener: &TcpListener,
        cx: &mut Context<'_>,
        nodelay: bool,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, peer) = std::task::ready!(listener.poll_accept(cx))?;
        // A failure means the peer already reset; the handler will see that on first use.
        if nodelay {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%peer, %error, "could not set TCP_NODELAY");
            }
        }
        Poll::Ready(Ok((stream, peer)))
    }
}

/// A new socket with the builder's reuse options, bound to `addr`.
///
/// A port the OS chooses is bound by number, so that it stays the socket's through a pause:
/// a probe socket bound to port 0 learns a free port and holds it while the real socket
/// binds it too (both with `SO_REUSEADDR`, neither listening, which Linux allows), then
/// goes. Without `SO_REUSEADDR` the socket is bound to port 0 as asked.
fn bind_new(addr: SocketAddr, options: &BindOptions, endpoint: &Endpoint) -> Result<Socket, Error> {
    let new_socket = || {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| io_error("create a TCP socket", endpoint, e))?;
        socket
            .set_reuse_address(options.reuseaddr)
            .map_err(|e| io_error("set SO_REUSEADDR", endpoint, e))?;
        if options.reuseport {
            socket.set_reuse_port(true).map_err(|e| io_error("set SO_REUSEPORT", endpoint, e))?;
        }
        Ok::<_, Error>(socket)
    };
    let mut attempt = 1;
    loop {
        let socket = new_socket()?;
        let (chosen, _probe) = if addr.port() == 0 && options.reuseaddr {
            let probe = new_socket()?;
            probe.bind(&addr.into()).map_err(|e| bind_error(e, endpoint))?;
            let port = probe.local_addr().ok().and_then(|a| a.as_socket()).map_or(0, |a| a.port());
            (SocketAddr::new(addr.ip(), port), Some(probe))
        } else {
            (addr, None)
        };
        match socket.bind(&chosen.into()) {
            Ok(()) => return Ok(socket),
            Err(e)
                if addr.port() == 0
                    && e.kind() == io::ErrorKind::AddrInUse
                    && attempt < OS_CHOSEN_PORT_ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(e) => return Err(bind_error(e, endpoint)),
        }
    }
}
