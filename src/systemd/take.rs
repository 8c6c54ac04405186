//! What [`ListenFds::take`](super::ListenFds::take) hands out: a [`Listener`] of the family
//! you expect, or an [`AnyListener`] for a server that serves whichever family it is given.

use std::os::fd::AsRawFd;

use socket2::{Socket, Type};

use crate::error::{Endpoint, Error};
use crate::family::sys::{self, check_stream_of, io_error};
use crate::family::{Family, Inet, Unix};
use crate::listener::Listener;

/// What a socket systemd passed can be taken as: [`Listener<Inet>`], [`Listener<Unix>`] or
/// [`AnyListener`]. Sealed: the crate implements it for those three only.
pub trait FromListenFds: sealed::Adopt {}

impl<F: Family> FromListenFds for Listener<F> {}
impl FromListenFds for AnyListener {}

/// A listening socket systemd passed, of whichever family the `.socket` unit said.
///
/// For a server that serves what it is given, as the echo example does:
///
/// ```no_run
/// use tcp_serve::systemd::{AnyListener, ListenFds};
/// use tcp_serve::Serve;
///
/// # fn main() -> Result<(), tcp_serve::Error> {
/// let mut fds = ListenFds::from_env()?;
/// match fds.take_named("echo")? {
///     AnyListener::Inet(listener) => { let _serve = Serve::from_listener(listener); }
///     AnyListener::Unix(listener) => { let _serve = Serve::from_listener(listener); }
/// }
/// # Ok(())
/// # }
/// ```
// Not `non_exhaustive`: `Family` is sealed to these two, so a match need not guess.
#[derive(Debug)]
pub enum AnyListener {
    /// A TCP socket (`ListenStream=` with a port or an address).
    Inet(Listener<Inet>),
    /// A Unix-domain stream socket (`ListenStream=` with a path).
    Unix(Listener<Unix>),
}

pub(crate) mod sealed {
    use socket2::Socket;

    use crate::error::Error;

    /// How a socket becomes what the caller asked for; public in a private module, as
    /// `Family`'s `sys::Socket` is.
    pub trait Adopt: Sized {
        /// Whether `socket` is of the family and type asked for. Checked before `adopt`, so
        /// that a wrong guess leaves the socket where it was, for another `take`.
        fn fits(socket: &Socket) -> Result<(), Error>;

        /// Makes the socket, which fits, a listener: checks it listens, makes it
        /// non-blocking and close-on-exec. A socket it refuses is closed.
        fn adopt(socket: Socket) -> Result<Self, Error>;
    }
}

impl<F: Family> sealed::Adopt for Listener<F> {
    fn fits(socket: &Socket) -> Result<(), Error> {
        check_stream_of::<F>(socket, &Endpoint::Fd(socket.as_raw_fd()))
    }

    fn adopt(socket: Socket) -> Result<Self, Error> {
        Listener::from_socket(socket)
    }
}

impl sealed::Adopt for AnyListener {
    // The type only: every family a listener can have is asked for, so a socket of any
    // other fits no take, and is left to `adopt` to name.
    fn fits(socket: &Socket) -> Result<(), Error> {
        let endpoint = Endpoint::Fd(socket.as_raw_fd());
        let ty = socket.r#type().map_err(|e| io_error("read the socket's type", &endpoint, e))?;
        if ty != Type::STREAM {
            return Err(Error::NotAStreamSocket { found: format!("{ty:?}") });
        }
        Ok(())
    }

    fn adopt(socket: Socket) -> Result<Self, Error> {
        let endpoint = Endpoint::Fd(socket.as_raw_fd());
        let domain =
            socket.domain().map_err(|e| io_error("read the socket's domain", &endpoint, e))?;
        if <Inet as sys::Socket>::fits(domain) {
            Listener::from_socket(socket).map(AnyListener::Inet)
        } else if <Unix as sys::Socket>::fits(domain) {
            Listener::from_socket(socket).map(AnyListener::Unix)
        } else {
            let expected = "a TCP or Unix-domain socket";
            Err(Error::WrongFamily { endpoint, expected, found: format!("{domain:?}") })
        }
    }
}
