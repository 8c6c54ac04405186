//! Creating, binding and listening through socket2, with errors that say what went wrong.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::{TcpListener, UnixListener};

use crate::error::{Endpoint, Error};
use crate::listen::{Family, Inet, InetListener, Unix};

/// How many times a bind to an OS-chosen port is tried when it reports `EADDRINUSE`, as
/// Async retries: with `SO_REUSEADDR` the kernel can pick a port another socket holds.
const OS_CHOSEN_PORT_ATTEMPTS: usize = 10;

/// The longest Unix socket path Linux takes: `sun_path` is 108 bytes, one of them the NUL.
const SUN_PATH_MAX: usize = 107;

/// The socket options from the builder.
#[doc(hidden)]
#[derive(Debug)]
pub struct BindOptions {
    pub(crate) backlog: i32,
    pub(crate) reuseaddr: bool,
    pub(crate) reuseport: bool,
    pub(crate) nodelay: bool,
    pub(crate) socket: Option<Socket>,
}

/// A listening socket with the address it is bound to.
#[doc(hidden)]
#[derive(Debug)]
pub struct Bound<F: Family> {
    pub(crate) listener: F::Listener,
    pub(crate) addr: F::Addr,
    pub(crate) listening_on: F::ListeningOn,
    pub(crate) endpoint: Endpoint,
}

pub(crate) fn inet(addr: SocketAddr, mut options: BindOptions) -> Result<Bound<Inet>, Error> {
    let endpoint = Endpoint::Inet(addr);
    let domain = Domain::for_address(addr);
    let socket = match options.socket.take() {
        Some(socket) => {
            let socket = supplied(socket, domain, &endpoint)?;
            socket.bind(&addr.into()).map_err(|e| bind_error(e, &endpoint))?;
            socket
        }
        None => {
            let mut attempt = 1;
            loop {
                let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
                    .map_err(|e| io_error("create a TCP socket", &endpoint, e))?;
                set_reuse(&socket, &options, &endpoint)?;
                match socket.bind(&addr.into()) {
                    Ok(()) => break socket,
                    Err(e)
                        if addr.port() == 0
                            && e.kind() == io::ErrorKind::AddrInUse
                            && attempt < OS_CHOSEN_PORT_ATTEMPTS =>
                    {
                        attempt += 1;
                    }
                    Err(e) => return Err(bind_error(e, &endpoint)),
                }
            }
        }
    };
    listen(&socket, options.backlog, &endpoint)?;
    let listener = TcpListener::from_std(socket.into())
        .map_err(|e| io_error("register the listener with tokio", &endpoint, e))?;
    let addr =
        listener.local_addr().map_err(|e| io_error("read the bound address", &endpoint, e))?;
    let listener = InetListener { listener, nodelay: options.nodelay };
    Ok(Bound { listening_on: addr.port(), endpoint: Endpoint::Inet(addr), addr, listener })
}

pub(crate) fn unix(path: &Path, mut options: BindOptions) -> Result<Bound<Unix>, Error> {
    let endpoint = Endpoint::Unix(path.to_path_buf());
    let len = path.as_os_str().len();
    if len > SUN_PATH_MAX {
        return Err(Error::UnixPathTooLong { path: path.to_path_buf(), len, max: SUN_PATH_MAX });
    }
    let socket = match options.socket.take() {
        Some(socket) => supplied(socket, Domain::UNIX, &endpoint)?,
        None => Socket::new(Domain::UNIX, Type::STREAM, None)
            .map_err(|e| io_error("create a Unix socket", &endpoint, e))?,
    };
    let sockaddr =
        SockAddr::unix(path).map_err(|e| io_error("make a Unix socket address", &endpoint, e))?;
    socket.bind(&sockaddr).map_err(|e| unix_bind_error(e, path, &endpoint))?;
    listen(&socket, options.backlog, &endpoint)?;
    let listener = UnixListener::from_std(socket.into())
        .map_err(|e| io_error("register the listener with tokio", &endpoint, e))?;
    let addr =
        listener.local_addr().map_err(|e| io_error("read the bound address", &endpoint, e))?;
    Ok(Bound { listening_on: path.to_path_buf(), addr, listener, endpoint })
}

/// Checks a caller's socket fits the address. It is bound as given: Async sets no
/// `SO_REUSEADDR` on a caller's socket, and neither do we.
fn supplied(socket: Socket, domain: Domain, endpoint: &Endpoint) -> Result<Socket, Error> {
    let ty =
        socket.r#type().map_err(|e| io_error("read the supplied socket's type", endpoint, e))?;
    if ty != Type::STREAM {
        return Err(Error::NotAStreamSocket { found: format!("{ty:?}") });
    }
    let found =
        socket.domain().map_err(|e| io_error("read the supplied socket's domain", endpoint, e))?;
    if found != domain {
        return Err(Error::WrongFamily { endpoint: endpoint.clone(), found: format!("{found:?}") });
    }
    if socket.is_listener().map_err(|e| io_error("inspect the supplied socket", endpoint, e))? {
        return Err(Error::AlreadyListening);
    }
    Ok(socket)
}

fn set_reuse(socket: &Socket, options: &BindOptions, endpoint: &Endpoint) -> Result<(), Error> {
    socket
        .set_reuse_address(options.reuseaddr)
        .map_err(|e| io_error("set SO_REUSEADDR", endpoint, e))?;
    if options.reuseport {
        socket.set_reuse_port(true).map_err(|e| io_error("set SO_REUSEPORT", endpoint, e))?;
    }
    Ok(())
}

fn listen(socket: &Socket, backlog: i32, endpoint: &Endpoint) -> Result<(), Error> {
    socket.listen(backlog).map_err(|e| io_error("listen", endpoint, e))?;
    socket.set_nonblocking(true).map_err(|e| io_error("make the socket non-blocking", endpoint, e))
}

fn bind_error(source: io::Error, endpoint: &Endpoint) -> Error {
    let endpoint = endpoint.clone();
    match source.kind() {
        io::ErrorKind::AddrInUse => Error::AddrInUse { endpoint, source },
        io::ErrorKind::PermissionDenied => Error::PermissionDenied { endpoint, source },
        io::ErrorKind::InvalidInput => {
            Error::Io { action: "bind the socket (was it already bound?)", endpoint, source }
        }
        _ => Error::Io { action: "bind the socket", endpoint, source },
    }
}

/// Tells a stale socket file (connecting is refused) from a live server or a plain file.
fn unix_bind_error(source: io::Error, path: &Path, endpoint: &Endpoint) -> Error {
    let path = PathBuf::from(path);
    match source.kind() {
        io::ErrorKind::NotFound => Error::MissingDirectory { path },
        io::ErrorKind::AddrInUse => {
            let is_socket = std::fs::symlink_metadata(&path)
                .map(|meta| meta.file_type().is_socket())
                .unwrap_or(false);
            let refused = matches!(
                std::os::unix::net::UnixStream::connect(&path),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused
            );
            if is_socket && refused {
                Error::StaleUnixSocket { path }
            } else if !is_socket {
                Error::PathExists { path }
            } else {
                bind_error(source, endpoint)
            }
        }
        _ => bind_error(source, endpoint),
    }
}

fn io_error(action: &'static str, endpoint: &Endpoint, source: io::Error) -> Error {
    Error::Io { action, endpoint: endpoint.clone(), source }
}
