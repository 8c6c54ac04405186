//! The errors a server reports: [`Error`] when it cannot start, [`ServerError`] when it stops
//! on its own, and for a failed connection [`PeerError`] (an error and the peer to report it
//! for) and [`HandlerPanicked`] (a handler that panicked).
//!
//! As the standard library's errors do, each says what went wrong in its `Display` and
//! hands the underlying error out through `source()` only, so a report that walks the chain
//! (anyhow's, eyre's) names each cause once.

mod handler;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub(crate) use self::handler::panic_message;
pub use self::handler::{HandlerPanicked, PeerError};

/// A type-erased error, as tower middleware produces (`tower::BoxError`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where a server listens (or was asked to), as named in an [`Error`] and printed by
/// [`Server::endpoint`](crate::Server::endpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// A TCP address.
    Inet(SocketAddr),
    /// A Unix-domain socket path.
    Unix(PathBuf),
    /// A socket known only by its descriptor: one handed in whose address could not be
    /// read, or an unnamed Unix socket.
    Fd(i32),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Inet(addr) => write!(f, "{addr}"),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Fd(fd) => write!(f, "the socket with descriptor {fd}"),
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
    /// A socket handed to the server is of another family than the server listens in.
    WrongFamily {
        /// The address it was to be bound to, or where it listens.
        endpoint: Endpoint,
        /// The family the server needs.
        expected: &'static str,
        /// The socket's domain, as `socket2` names it.
        found: String,
    },
    /// A socket handed to the server is not a stream socket.
    NotAStreamSocket {
        /// The socket's type, as `socket2` names it.
        found: String,
    },
    /// A socket given to [`Serve::socket`](crate::Serve::socket) to be bound is already
    /// listening.
    AlreadyListening,
    /// A socket handed to the server as a listener is not listening.
    NotListening {
        /// The socket's local address, or its descriptor.
        endpoint: Endpoint,
    },
    /// A descriptor handed to the server is not a socket.
    NotASocket {
        /// The descriptor's number.
        fd: i32,
    },
    /// A descriptor number handed to the server is not open.
    ClosedDescriptor {
        /// The descriptor's number.
        fd: i32,
    },
    /// No sockets were passed by systemd: LISTEN_FDS or LISTEN_PID is not set (see
    /// [`ListenFds::from_env`](crate::systemd::ListenFds::from_env)).
    #[cfg(feature = "systemd")]
    NoListenFds {
        /// The variable that is not set.
        missing: &'static str,
    },
    /// LISTEN_PID is not a process id, or LISTEN_FDS not a count of descriptors.
    #[cfg(feature = "systemd")]
    MalformedListenFds {
        /// The variable.
        variable: &'static str,
        /// Its value (lossily decoded if it is not UTF-8).
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// LISTEN_FDNAMES names more or fewer sockets than LISTEN_FDS passes.
    #[cfg(feature = "systemd")]
    ListenFdNamesMismatch {
        /// The number of sockets in LISTEN_FDS.
        fds: usize,
        /// The names in LISTEN_FDNAMES.
        names: Vec<String>,
    },
    /// The sockets in LISTEN_FDS were passed to another process (LISTEN_PID is not ours).
    #[cfg(feature = "systemd")]
    ListenPidMismatch {
        /// The process the sockets were passed to.
        listen_pid: u32,
        /// This process.
        pid: u32,
    },
    /// No socket passed by systemd has the name asked for.
    #[cfg(feature = "systemd")]
    UnknownListenFdName {
        /// The name asked for.
        name: String,
        /// The names of the sockets passed.
        names: Vec<String>,
    },
    /// There is no socket passed by systemd at the index asked for.
    #[cfg(feature = "systemd")]
    ListenFdIndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// How many sockets were passed.
        len: usize,
    },
    /// The socket passed by systemd at this index was taken already.
    #[cfg(feature = "systemd")]
    ListenFdTaken {
        /// Its index.
        index: usize,
        /// Its name.
        name: String,
    },
    /// The server was started outside a tokio runtime.
    NoRuntime,
    /// The server is closed, so it cannot listen again.
    ServerClosed,
    /// The server handed its listening socket to another process
    /// ([`Server::hand_over`](crate::Server::hand_over)), so it can neither pause nor listen
    /// again.
    HandedOver,
    /// Handing the listening socket to a new process (or taking it from the old one) failed.
    /// The old server keeps serving.
    HandOver {
        /// What could not be done.
        what: &'static str,
        /// The error from the OS, if one said why.
        source: Option<io::Error>,
    },
    /// Any other failure while creating, binding, listening or handing over a socket.
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
            Error::WrongFamily { endpoint, expected, found } => write!(
                f,
                "the socket for {endpoint} is of domain {found}, but the server needs {expected}; \
                 create it with the domain of the address (socket2::Domain::for_address, or \
                 Domain::UNIX for a path)"
            ),
            Error::NotAStreamSocket { found } => write!(
                f,
                "the socket handed to the server is of type {found}; a server needs a stream \
                 socket (socket2::Type::STREAM)"
            ),
            Error::AlreadyListening => write!(
                f,
                "the socket given to Serve::socket is already listening; pass an unbound socket \
                 (the server binds and listens itself), or serve a listening one with \
                 Serve::listener"
            ),
            Error::NotListening { endpoint } => write!(
                f,
                "{endpoint} is not listening; call listen(2) on it first, or give it to \
                 Serve::socket to have the server bind and listen"
            ),
            Error::NotASocket { fd } => {
                write!(f, "descriptor {fd} is not a socket; hand the server a listening socket")
            }
            Error::ClosedDescriptor { fd } => write!(
                f,
                "descriptor {fd} is not open; check which descriptors the process inherited"
            ),
            #[cfg(feature = "systemd")]
            Error::NoListenFds { missing } => write!(
                f,
                "no sockets were passed to this process ({missing} is not set); start it from a \
                 systemd .socket unit or with systemd-socket-activate, or have it bind an address"
            ),
            #[cfg(feature = "systemd")]
            Error::MalformedListenFds { variable, value, expected } => write!(
                f,
                "{variable}={value:?} is not {expected}; systemd sets it for the process it \
                 starts, so whatever set it otherwise (a wrapper script?) must pass it on unchanged"
            ),
            #[cfg(feature = "systemd")]
            Error::ListenFdNamesMismatch { fds, names } => write!(
                f,
                "LISTEN_FDNAMES names {} sockets ({}) but LISTEN_FDS passes {fds}; give each \
                 socket one name (FileDescriptorName= in the .socket unit, or \
                 systemd-socket-activate --fdname=a:b for two)",
                names.len(),
                names.join(":")
            ),
            #[cfg(feature = "systemd")]
            Error::ListenPidMismatch { listen_pid, pid } => write!(
                f,
                "the sockets in LISTEN_FDS were passed to process {listen_pid}, not to this one \
                 ({pid}); a program between systemd and the server must exec it rather than run \
                 it as a child, and a server must not pass LISTEN_* on to its children"
            ),
            #[cfg(feature = "systemd")]
            Error::UnknownListenFdName { name, names } => {
                write!(f, "systemd passed no socket named {name:?}; ")?;
                match names.as_slice() {
                    [] => write!(f, "it passed no sockets at all"),
                    _ => write!(
                        f,
                        "the names there are: {} (set by FileDescriptorName= in the .socket \
                         unit, \"unknown\" without it)",
                        names.join(", ")
                    ),
                }
            }
            #[cfg(feature = "systemd")]
            Error::ListenFdIndexOutOfRange { index, len } => write!(
                f,
                "systemd passed {len} sockets, so there is none at index {index}; they are \
                 numbered from 0 in the order of the .socket unit's Listen*= lines"
            ),
            #[cfg(feature = "systemd")]
            Error::ListenFdTaken { index, name } => write!(
                f,
                "the socket systemd passed at index {index} (named {name:?}) was taken already; \
                 each socket is taken once"
            ),
            Error::NoRuntime => write!(
                f,
                "a server runs on a tokio runtime, and none is running here; start it from \
                 async code under #[tokio::main], or inside Runtime::block_on"
            ),
            Error::ServerClosed => write!(
                f,
                "the server is closed and cannot listen again; start a new one on the same \
                 address instead"
            ),
            Error::HandedOver => write!(
                f,
                "the server handed its listening socket to another process and accepts no \
                 more; pause or resume the server that took it over, and drain this one"
            ),
            Error::HandOver { what, .. } => write!(
                f,
                "the hand-over of the listening socket failed: could not {what}; the old \
                 process keeps serving (see its log and the new process's)"
            ),
            Error::Io { action, endpoint, .. } => write!(f, "cannot {action} for {endpoint}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::AddrInUse { source, .. }
            | Error::PermissionDenied { source, .. }
            | Error::Io { source, .. } => Some(source),
            Error::HandOver { source, .. } => source.as_ref().map(|e| e as _),
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
    /// [`OnHandlerError::Call`] callback panicked; or, in a stack without an error policy,
    /// a connection's future returned an error. The peer is the one a [`PeerError`] named,
    /// if the error was one.
    ///
    /// [`OnHandlerError::Raise`]: crate::OnHandlerError::Raise
    /// [`OnHandlerError::Call`]: crate::OnHandlerError::Call
    Handler {
        /// The peer whose connection failed (the client a PROXY header named, say).
        peer: A,
        /// The handler's error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The service stack's `poll_ready` failed, so it can take no more connections.
    NotReady {
        /// The error `poll_ready` returned.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The accept loop panicked (in a layer's `poll_ready` or `call`, say). The listening
    /// socket was closed as for [`Server::close`](crate::Server::close).
    AcceptorPanicked {
        /// The panic's message.
        message: String,
    },
}

impl<A: fmt::Debug> fmt::Display for ServerError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Handler { peer, .. } => {
                write!(f, "the handler for {peer:?} failed and the error policy stopped the server")
            }
            ServerError::NotReady { .. } => {
                write!(f, "the service stack failed to become ready; the server stopped accepting")
            }
            ServerError::AcceptorPanicked { message } => {
                write!(f, "the accept loop panicked ({message}); the server stopped accepting")
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
            ServerError::AcceptorPanicked { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;
