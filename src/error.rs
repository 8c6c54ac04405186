//! The errors a server reports: [`Error`] when it cannot start, [`ServerError`] when it stops
//! on its own, and [`HandlerPanicked`] for a handler that panicked.

use std::any::Any;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A type-erased error, as tower middleware produces (`tower::BoxError`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a server was asked to listen on, as named in an [`Error`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address.
    Inet(SocketAddr),
    /// A Unix-domain socket path.
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Inet(addr) => write!(f, "{addr}"),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Why a server could not start.
///
/// Each variant names the failure and its message says what to do about it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A limit was set to a value it cannot take (zero, or too large for the OS).
    InvalidLimit {
        /// The builder method that was given the value.
        name: &'static str,
        /// The value it was given.
        value: usize,
        /// The smallest value it accepts.
        min: usize,
        /// The largest value it accepts.
        max: usize,
    },
    /// Another socket is already listening on the address.
    AddrInUse {
        /// The address asked for.
        endpoint: Endpoint,
        /// The error from `bind(2)`.
        source: io::Error,
    },
    /// The process may not bind the address.
    PermissionDenied {
        /// The address asked for.
        endpoint: Endpoint,
        /// The error from `bind(2)`.
        source: io::Error,
    },
    /// A Unix socket path longer than `sun_path` can hold.
    UnixPathTooLong {
        /// The path asked for.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The longest path the OS accepts, in bytes.
        max: usize,
    },
    /// A Unix socket file that no process is listening on, left by a server that exited.
    StaleUnixSocket {
        /// The path of the socket file.
        path: PathBuf,
    },
    /// A file that is not a socket already exists at the Unix socket path.
    PathExists {
        /// The path asked for.
        path: PathBuf,
    },
    /// The directory that should hold the Unix socket does not exist.
    MissingDirectory {
        /// The path asked for.
        path: PathBuf,
    },
    /// A socket given to [`Serve::socket`](crate::Serve::socket) does not fit the address.
    WrongFamily {
        /// The address it was to be bound to.
        endpoint: Endpoint,
        /// The socket's domain, as `socket2` names it.
        found: String,
    },
    /// A socket given to [`Serve::socket`](crate::Serve::socket) is not a stream socket.
    NotAStreamSocket {
        /// The socket's type, as `socket2` names it.
        found: String,
    },
    /// A socket given to [`Serve::socket`](crate::Serve::socket) is already listening.
    AlreadyListening,
    /// Any other failure while creating, binding or listening.
    Io {
        /// What the server was doing.
        action: &'static str,
        /// The address asked for.
        endpoint: Endpoint,
        /// The error from the OS.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidLimit { name, value, min, max } => {
                write!(f, "{name} was set to {value}, but it must be between {min} and {max}")
            }
            Error::AddrInUse { endpoint, .. } => write!(
                f,
                "cannot listen on {endpoint}: the address is already in use; stop the other \
                 server or pick another address (WhereToListen::port_chosen_by_os lets the OS pick)"
            ),
            Error::PermissionDenied { endpoint, .. } => write!(
                f,
                "cannot listen on {endpoint}: permission denied; ports below 1024 need root or \
                 CAP_NET_BIND_SERVICE, and a Unix socket needs write access to its directory"
            ),
            Error::UnixPathTooLong { path, len, max } => write!(
                f,
                "the Unix socket path {} is {len} bytes long, but the OS accepts at most {max}; \
                 use a shorter path (a relative one, or a directory nearer the root)",
                path.display()
            ),
            Error::StaleUnixSocket { path } => write!(
                f,
                "{} is a Unix socket that nothing is listening on (left behind by a server that \
                 exited); remove the file and start again",
                path.display()
            ),
            Error::PathExists { path } => write!(
                f,
                "cannot create the Unix socket {}: a file that is not a socket is already there; \
                 choose another path",
                path.display()
            ),
            Error::MissingDirectory { path } => write!(
                f,
                "cannot create the Unix socket {}: its directory does not exist; create it first",
                path.display()
            ),
            Error::WrongFamily { endpoint, found } => write!(
                f,
                "the supplied socket is of domain {found}, which cannot be bound to {endpoint}; \
                 create it with the domain of the address (socket2::Domain::for_address, or \
                 Domain::UNIX for a path)"
            ),
            Error::NotAStreamSocket { found } => write!(
                f,
                "the supplied socket is of type {found}; a server needs socket2::Type::STREAM"
            ),
            Error::AlreadyListening => write!(
                f,
                "the supplied socket is already listening; pass an unbound socket, the server \
                 binds and listens itself"
            ),
            Error::Io { action, endpoint, source } => {
                write!(f, "cannot {action} for {endpoint}: {source}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::AddrInUse { source, .. }
            | Error::PermissionDenied { source, .. }
            | Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a running server stopped accepting on its own, as reported by awaiting the
/// [`Server`](crate::Server).
///
/// Cloneable, so every task awaiting the server sees the same error.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ServerError<A> {
    /// A handler failed and the error policy was [`OnHandlerError::Raise`], or a
    /// [`OnHandlerError::Call`] callback panicked.
    ///
    /// [`OnHandlerError::Raise`]: crate::OnHandlerError::Raise
    /// [`OnHandlerError::Call`]: crate::OnHandlerError::Call
    Handler {
        /// The peer whose connection failed.
        peer: A,
        /// The handler's error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The service stack's `poll_ready` failed, so it can take no more connections.
    NotReady {
        /// The error `poll_ready` returned.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

impl<A: fmt::Debug> fmt::Display for ServerError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Handler { peer, source } => write!(
                f,
                "the handler for {peer:?} failed and the error policy stopped the server: {source}"
            ),
            ServerError::NotReady { source } => {
                write!(f, "the service stopped accepting connections: {source}")
            }
        }
    }
}

impl<A: fmt::Debug> std::error::Error for ServerError<A> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Handler { source, .. } | ServerError::NotReady { source } => {
                Some(&**source)
            }
        }
    }
}

/// The error a handler's panic is turned into, so that it goes through the error policy
/// like any other handler error.
#[derive(Clone, Debug)]
pub struct HandlerPanicked {
    message: String,
}

impl HandlerPanicked {
    /// Wraps the payload that `std::panic::catch_unwind` returned.
    pub(crate) fn from_payload(payload: Box<dyn Any + Send>) -> Self {
        HandlerPanicked { message: panic_message(&*payload) }
    }

    /// The panic's message, or `"Box<dyn Any>"` when it was not a string.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HandlerPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the handler panicked: {}", self.message)
    }
}

impl std::error::Error for HandlerPanicked {}

/// The message of a panic payload, as the default panic hook prints it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}
