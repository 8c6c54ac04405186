//! TCP: binding a port (with Async's retry for an OS-chosen one) and accepting with
//! `TCP_NODELAY`.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use super::sys::{self, bind_error, io_error, BindOptions, Place};
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
fn bind_new(addr: SocketAddr, options: &BindOptions, endpoint: &Endpoint) -> Result<Socket, Error> {
    let mut attempt = 1;
    loop {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| io_error("create a TCP socket", endpoint, e))?;
        socket
            .set_reuse_address(options.reuseaddr)
            .map_err(|e| io_error("set SO_REUSEADDR", endpoint, e))?;
        if options.reuseport {
            socket.set_reuse_port(true).map_err(|e| io_error("set SO_REUSEPORT", endpoint, e))?;
        }
        match socket.bind(&addr.into()) {
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
