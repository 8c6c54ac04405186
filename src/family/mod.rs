//! The two socket families a server can listen in: [`Inet`] (TCP) and [`Unix`]
//! (Unix-domain stream sockets).
//!
//! [`Family`] is public so that code can be generic over both (`fn run<F: Family>(..)`);
//! what binding and accepting need sits on a private supertrait, as tokio seals
//! `ToSocketAddrs`, so the crate can change it freely and no other type can be a family.

mod inet;
mod unix;

use std::fmt;

use tokio::io::{AsyncRead, AsyncWrite};

pub use self::inet::Inet;
pub use self::unix::Unix;

/// A socket family a server can listen in: [`Inet`] or [`Unix`].
///
/// The family fixes the types a handler sees: the peer address and the stream of each
/// connection, and what [`Server::listening_on`](crate::Server::listening_on) returns. It is
/// sealed: the crate implements it for [`Inet`] and [`Unix`] only.
pub trait Family: sys::Socket + Sized + Send + Sync + 'static {
    /// A socket address in this family: the peer of a connection, or the bound address.
    type Addr: Clone + fmt::Debug + Send + Sync + Unpin + 'static;
    /// What [`Server::listening_on`](crate::Server::listening_on) returns: a port or a path.
    type ListeningOn: Clone + fmt::Debug + Send + Sync + 'static;
    /// An accepted connection.
    type Stream: AsyncRead + AsyncWrite + fmt::Debug + Send + Unpin + 'static;
    /// What a [`WhereToListen`](crate::WhereToListen) of this family holds: an address or a
    /// path.
    type BindTo: Clone + fmt::Debug + Send + Sync + 'static;
}

/// What the crate does with a family's sockets; public in a private module, so it can be
/// a supertrait of [`Family`] without being nameable outside the crate.
pub(crate) mod sys {
    use std::fmt;
    use std::io;
    use std::os::fd::AsFd;
    use std::task::{Context, Poll};

    use socket2::{Domain, Socket as Socket2};

    use super::Family;
    use crate::error::{Endpoint, Error};

    /// The socket options the [`Serve`](crate::Serve) builder sets before `listen(2)`.
    #[derive(Debug)]
    pub struct BindOptions {
        pub backlog: i32,
        pub reuseaddr: bool,
        pub reuseport: bool,
        // A caller's unbound socket, to bind instead of a new one.
        pub socket: Option<Socket2>,
    }

    /// Where a listening socket listens, read from the socket itself.
    pub struct Place<F: Family> {
        pub addr: F::Addr,
        pub listening_on: F::ListeningOn,
        pub endpoint: Endpoint,
    }

    impl<F: Family> fmt::Debug for Place<F> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Place").field("endpoint", &self.endpoint).finish_non_exhaustive()
        }
    }

    /// What a paused listener must get back when it resumes.
    #[derive(Debug, Default)]
    pub struct Paused {
        /// The `SO_REUSEADDR` it had: off while paused, so no other socket binds its port.
        pub reuseaddr: bool,
        /// Where a Unix socket's successor is bound before it is renamed over the path.
        pub temporary: Option<std::path::PathBuf>,
    }

    pub trait Socket {
        /// The standard library's listener for this family: what a socket is kept as until
        /// the server starts, outside any runtime.
        type Std: AsFd + From<Socket2> + Into<Socket2> + fmt::Debug + Send + Sync + 'static;
        /// tokio's listener for this family.
        type Listener: AsFd + fmt::Debug + Send + Sync + 'static;

        /// The family in words, for errors: "a TCP socket (IPv4 or IPv6)".
        const DESCRIPTION: &'static str;

        /// Whether a socket of `domain` belongs to this family.
        fn fits(domain: Domain) -> bool;

        /// Creates (or takes the caller's), binds and listens a socket.
        fn bind(to: &Self::BindTo, options: BindOptions) -> Result<Socket2, Error>
        where
            Self: Family;

        /// Where a listening socket listens.
        fn place(listener: &Self::Std) -> io::Result<Place<Self>>
        where
            Self: Family;

        /// Registers a listening, non-blocking socket with the current runtime's reactor.
        fn register(listener: Self::Std) -> io::Result<Self::Listener>;

        /// Stops listening on `listener` while keeping its address: new connects are refused
        /// at once. What happens to connections already queued is the family's to say.
        fn pause(listener: &Self::Listener, place: &Place<Self>) -> io::Result<Paused>
        where
            Self: Family;

        /// Listens again where a paused `listener` listened, and returns the listener to
        /// accept on from now on (registered afresh with tokio, whose view of the old one
        /// still says "closed").
        fn resume(
            listener: &Self::Listener,
            place: &Place<Self>,
            backlog: i32,
            paused: &Paused,
        ) -> io::Result<Self::Listener>
        where
            Self: Family;

        /// Accepts one connection if one is pending; `nodelay` sets `TCP_NODELAY` on it.
        fn poll_accept(
            listener: &Self::Listener,
            cx: &mut Context<'_>,
            nodelay: bool,
        ) -> Poll<io::Result<(Self::Stream, Self::Addr)>>
        where
            Self: Family;
    }

    /// An [`Error::Io`] naming what was being done.
    pub(crate) fn io_error(action: &'static str, endpoint: &Endpoint, source: io::Error) -> Error {
        Error::Io { action, endpoint: endpoint.clone(), source }
    }

    /// Sorts an error from `bind(2)` into the variant that says what to do.
    pub(crate) fn bind_error(source: io::Error, endpoint: &Endpoint) -> Error {
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

    /// Checks a caller's unbound socket fits the family. It is bound as given: Async sets no
    /// `SO_REUSEADDR` on a caller's socket, and neither do we.
    pub(crate) fn check_unbound<F: Family>(
        socket: &Socket2,
        endpoint: &Endpoint,
    ) -> Result<(), Error> {
        check_stream_of::<F>(socket, endpoint)?;
        let listening = socket
            .is_listener()
            .map_err(|e| io_error("inspect the supplied socket", endpoint, e))?;
        if listening {
            return Err(Error::AlreadyListening);
        }
        Ok(())
    }

    /// Checks a socket is a stream socket of family `F`.
    pub(crate) fn check_stream_of<F: Family>(
        socket: &Socket2,
        endpoint: &Endpoint,
    ) -> Result<(), Error> {
        let ty = socket.r#type().map_err(|e| io_error("read the socket's type", endpoint, e))?;
        if ty != socket2::Type::STREAM {
            return Err(Error::NotAStreamSocket { found: format!("{ty:?}") });
        }
        let domain =
            socket.domain().map_err(|e| io_error("read the socket's domain", endpoint, e))?;
        if !F::fits(domain) {
            return Err(Error::WrongFamily {
                endpoint: endpoint.clone(),
                expected: F::DESCRIPTION,
                found: format!("{domain:?}"),
            });
        }
        Ok(())
    }

    /// `listen(2)`, then non-blocking for tokio.
    pub(crate) fn listen(socket: &Socket2, backlog: i32, endpoint: &Endpoint) -> Result<(), Error> {
        socket.listen(backlog).map_err(|e| io_error("listen", endpoint, e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| io_error("make the socket non-blocking", endpoint, e))
    }
}
