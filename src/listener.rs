//! [`Listener`]: a listening socket and where it listens, however it came to be: bound by
//! the server, or handed in (a `std` or `socket2` listener, an inherited descriptor).

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

use socket2::{SockRef, Socket};
use tokio_util::sync::DropGuard;

use crate::error::{Endpoint, Error};
use crate::family::sys::{self, io_error, BindOptions, Place};
use crate::family::{Family, Inet, Unix};
use crate::listen::WhereToListen;

/// The backlog passed to `listen(2)` unless one is given: far above what a burst of
/// connects needs, and capped by the kernel at `net.core.somaxconn` (4096 on Linux since
/// 5.4), so a burst is queued instead of having its SYNs dropped.
pub(crate) const DEFAULT_BACKLOG: usize = 4096;

/// A listening socket, ready for an [`Acceptor`](crate::Acceptor), and where it listens.
///
/// Every way a server gets its socket ends here: [`bind`](Self::bind) (what
/// [`Serve::new`](crate::Serve::new) does), or a socket someone else made listen,
/// handed in with [`from_std`](Listener::<Inet>::from_std), [`from_socket`](Self::from_socket)
/// or [`from_fd`](Self::from_fd) and checked to be a listening stream socket of the family.
/// A socket handed in is made non-blocking and close-on-exec (an inherited blocking
/// listener would hang the runtime on `accept`).
///
/// Making one needs no runtime: the socket joins tokio's reactor when the server starts.
pub struct Listener<F: Family> {
    socket: <F as sys::Socket>::Std,
    place: Place<F>,
    // The backlog given to `listen(2)`, when this crate made the socket listen.
    backlog: Option<usize>,
}

impl<F: Family> Listener<F> {
    /// Binds a new socket where asked, with `SO_REUSEADDR` and a backlog of 4096.
    ///
    /// # Errors
    ///
    /// The address is in use, not allowed, or the path unusable; see [`Error`].
    pub fn bind(where_to_listen: &WhereToListen<F>) -> Result<Self, Error> {
        let options = BindOptions {
            backlog: DEFAULT_BACKLOG as i32,
            reuseaddr: true,
            reuseport: false,
            socket: None,
        };
        Self::bind_with(where_to_listen, options)
    }

    pub(crate) fn bind_with(
        where_to_listen: &WhereToListen<F>,
        options: BindOptions,
    ) -> Result<Self, Error> {
        let backlog = usize::try_from(options.backlog).ok();
        let socket = F::bind(where_to_listen.bind_to(), options)?;
        Ok(Listener { backlog, ..Self::adopt(socket)? })
    }

    /// Serves a socket that is already listening. Options that act before `listen(2)`
    /// (`backlog`, `reuseaddr`, `reuseport`) are the ones it was given by whoever made it.
    ///
    /// # Errors
    ///
    /// The socket is not a stream socket of family `F` ([`Error::NotAStreamSocket`],
    /// [`Error::WrongFamily`]), or not listening ([`Error::NotListening`]).
    pub fn from_socket(socket: Socket) -> Result<Self, Error> {
        let endpoint = Endpoint::Fd(socket.as_raw_fd());
        sys::check_stream_of::<F>(&socket, &endpoint)?;
        let listening =
            socket.is_listener().map_err(|e| io_error("inspect the socket", &endpoint, e))?;
        if !listening {
            let endpoint = local_endpoint(&socket).unwrap_or(endpoint);
            return Err(Error::NotListening { endpoint });
        }
        socket
            .set_nonblocking(true)
            .map_err(|e| io_error("make the socket non-blocking", &endpoint, e))?;
        socket.set_cloexec(true).map_err(|e| io_error("set close-on-exec", &endpoint, e))?;
        Self::adopt(socket)
    }

    /// Serves a listening socket given as an owned descriptor (one received from another
    /// process, say); see [`from_socket`](Self::from_socket).
    ///
    /// # Errors
    ///
    /// As [`from_socket`](Self::from_socket), and [`Error::NotASocket`] for a descriptor
    /// that is a file or a pipe.
    pub fn from_fd(fd: OwnedFd) -> Result<Self, Error> {
        let raw = fd.as_raw_fd();
        let socket = Socket::from(fd);
        if let Err(e) = socket.r#type() {
            return Err(match e.raw_os_error() {
                Some(code) if code == rustix::io::Errno::NOTSOCK.raw_os_error() => {
                    Error::NotASocket { fd: raw }
                }
                _ => io_error("read the socket's type", &Endpoint::Fd(raw), e),
            });
        }
        Self::from_socket(socket)
    }

    /// Keeps a listening, non-blocking socket, reading where it listens.
    fn adopt(socket: Socket) -> Result<Self, Error> {
        let endpoint = Endpoint::Fd(socket.as_raw_fd());
        let socket = <F as sys::Socket>::Std::from(socket);
        let place =
            F::place(&socket).map_err(|e| io_error("read the bound address", &endpoint, e))?;
        Ok(Listener { socket, place, backlog: None })
    }

    /// The port (TCP) or path (Unix) it listens on.
    pub fn listening_on(&self) -> &F::ListeningOn {
        &self.place.listening_on
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> &F::Addr {
        &self.place.addr
    }

    /// Where it listens, printable.
    pub fn endpoint(&self) -> &Endpoint {
        &self.place.endpoint
    }

    /// The backlog given to `listen(2)`, when [`bind`](Self::bind) made the socket listen;
    /// `None` for a socket handed in.
    pub(crate) fn backlog(&self) -> Option<usize> {
        self.backlog
    }

    /// Joins the current runtime's reactor; `closed` is dropped once the descriptor is.
    pub(crate) fn register(self, closed: DropGuard) -> Result<(Live<F>, Place<F>), Error> {
        let endpoint = self.place.endpoint.clone();
        let io = F::register(self.socket)
            .map_err(|e| io_error("register the listener with tokio", &endpoint, e))?;
        Ok((Live { io, closed: Arc::new(closed) }, self.place))
    }
}

/// A listener registered with tokio, owned by the accept loop while it runs.
pub(crate) struct Live<F: Family> {
    io: <F as sys::Socket>::Listener,
    // Dropped after `io` (fields drop in order), and shared with the listener that takes
    // this one's place when a pause ends: tells the server its last listening fd is closed.
    closed: Arc<DropGuard>,
}

impl<F: Family> Live<F> {
    pub(crate) fn io(&self) -> &<F as sys::Socket>::Listener {
        &self.io
    }

    /// The listener to accept on in this one's place (after a pause).
    pub(crate) fn succeeded_by(&self, io: <F as sys::Socket>::Listener) -> Live<F> {
        Live { io, closed: Arc::clone(&self.closed) }
    }
}

impl Listener<Inet> {
    /// Serves a listening `std` TCP listener; see [`from_socket`](Self::from_socket).
    ///
    /// # Errors
    ///
    /// As [`from_socket`](Self::from_socket).
    pub fn from_std(listener: std::net::TcpListener) -> Result<Self, Error> {
        Self::from_socket(Socket::from(listener))
    }
}

impl Listener<Unix> {
    /// Serves a listening `std` Unix listener; see [`from_socket`](Self::from_socket).
    ///
    /// # Errors
    ///
    /// As [`from_socket`](Self::from_socket).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> Result<Self, Error> {
        Self::from_socket(Socket::from(listener))
    }
}

/// The socket's own address, for errors about a socket handed in.
fn local_endpoint(socket: &Socket) -> Option<Endpoint> {
    let addr = socket.local_addr().ok()?;
    match (addr.as_socket(), addr.as_pathname()) {
        (Some(inet), _) => Some(Endpoint::Inet(inet)),
        (None, Some(path)) => Some(Endpoint::Unix(path.to_path_buf())),
        _ => None,
    }
}

impl<F: Family> AsFd for Listener<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl<F: Family> AsFd for Live<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl<F: Family> fmt::Debug for Listener<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("endpoint", &self.place.endpoint)
            .field("fd", &self.socket.as_fd().as_raw_fd())
            .finish()
    }
}

impl<F: Family> fmt::Debug for Live<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live").field("io", &self.io).finish_non_exhaustive()
    }
}

/// A view of a server's listening socket, from
/// [`Server::listening_socket`](crate::Server::listening_socket).
///
/// For setting socket options (through [`sock_ref`](Self::sock_ref)) or handing the fd to
/// code that needs it, as Async's `listening_socket` is meant for. Use it with care:
/// accepting on it directly bypasses `max_connections` and the error policy. While a view
/// is alive the fd stays open, so drop it promptly: `close_finished` waits for it.
pub struct ListeningSocket<F: Family> {
    listener: Arc<Live<F>>,
}

impl<F: Family> ListeningSocket<F> {
    pub(crate) fn new(listener: Arc<Live<F>>) -> Self {
        ListeningSocket { listener }
    }

    /// The socket, borrowed for `socket2`'s getters and setters.
    pub fn sock_ref(&self) -> SockRef<'_> {
        SockRef::from(&self.listener.io)
    }
}

impl<F: Family> AsFd for ListeningSocket<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl<F: Family> AsRawFd for ListeningSocket<F> {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl<F: Family> fmt::Debug for ListeningSocket<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ListeningSocket").field(&self.listener).finish()
    }
}
