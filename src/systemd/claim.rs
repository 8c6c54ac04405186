//! Turning the descriptor numbers systemd passed into owned sockets, without `unsafe`.
//!
//! Owning a descriptor known only by its number takes `unsafe { OwnedFd::from_raw_fd }`,
//! which the `listenfd` crate does for us once it has checked the number is a socket of the
//! family and type asked for (it also marks it close-on-exec). It answers only "is it a
//! socket of this family and type?", so to report *what* a wrong descriptor is, we first
//! look at `/proc/self/fd` (closed? a socket at all?) and then ask listenfd for each family
//! and type a `.socket` unit can pass, so that [`Listener`](crate::Listener)'s own checks
//! name the mismatch.

use std::io;
use std::path::Path;

use listenfd::ListenFd;
use socket2::{Domain, Socket, Type};

use crate::error::{Endpoint, Error};

/// What is at a descriptor systemd passed: a socket of some family and type, owned now, or
/// why there is none to hand out.
pub(crate) type Slot = Result<Socket, Unusable>;

/// Why a descriptor systemd passed cannot be handed out.
#[derive(Debug)]
pub(crate) enum Unusable {
    /// Handed out by `take` already.
    Taken,
    /// Handed to `take`, which could not make it a listener (`systemd-socket-activate
    /// --accept` passes a connection) and closed it: the error it reported, to report again.
    Refused(Error),
    /// The descriptor is not open.
    Closed,
    /// The descriptor is open but is a file, a pipe or a device.
    NotASocket,
    /// A socket of a family listenfd was not asked about (netlink, say), or a descriptor we
    /// could not look at (no `/proc`): listenfd's own words.
    Unrecognised(String),
}

/// The families and types of socket a `.socket` unit passes that listenfd can check
/// (it counts an IPv6 socket as IPv4).
const KINDS: [(Domain, Type); 10] = [
    (Domain::IPV4, Type::STREAM),
    (Domain::UNIX, Type::STREAM),
    (Domain::IPV4, Type::DGRAM),
    (Domain::UNIX, Type::DGRAM),
    (Domain::UNIX, Type::SEQPACKET),
    (Domain::IPV4, Type::SEQPACKET),
    (Domain::IPV4, Type::RAW),
    (Domain::VSOCK, Type::STREAM),
    (Domain::VSOCK, Type::DGRAM),
    (Domain::VSOCK, Type::SEQPACKET),
];

/// Claims every descriptor in `fds` (which read the environment after our checks), index by
/// index, so that each socket is owned and close-on-exec from here on.
pub(crate) fn claim_all(mut fds: ListenFd, first_fd: i32) -> Vec<Slot> {
    (0..fds.len()).map(|index| claim(&mut fds, index, first_fd + index as i32)).collect()
}

fn claim(fds: &mut ListenFd, index: usize, fd: i32) -> Slot {
    match look_at(fd) {
        Some(Look::Closed) => return Err(Unusable::Closed),
        Some(Look::NotASocket) => return Err(Unusable::NotASocket),
        Some(Look::Socket) | None => {}
    }
    let mut refusal = None;
    for (domain, ty) in KINDS {
        match fds.take_custom::<Socket>(index, domain.into(), ty.into(), "socket") {
            Ok(Some(socket)) => return Ok(socket),
            // listenfd hands out each index once; this is the first time we ask for it.
            Ok(None) => return Err(Unusable::Taken),
            Err(e) => refusal = Some(e),
        }
    }
    Err(Unusable::Unrecognised(refusal.map_or_else(String::new, |e| e.to_string())))
}

enum Look {
    Closed,
    NotASocket,
    Socket,
}

/// What `/proc/self/fd/N` says about descriptor `fd`; `None` without `/proc`.
fn look_at(fd: i32) -> Option<Look> {
    let fds = Path::new("/proc/self/fd");
    if !fds.is_dir() {
        return None;
    }
    match std::fs::read_link(fds.join(fd.to_string())) {
        Ok(target) if target.as_os_str().as_encoded_bytes().starts_with(b"socket:") => {
            Some(Look::Socket)
        }
        Ok(_) => Some(Look::NotASocket),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(Look::Closed),
        Err(_) => None,
    }
}

impl Unusable {
    /// The error for taking descriptor `fd`, at `index` and named `name`.
    pub(crate) fn error(&self, index: usize, name: &str, fd: i32) -> Error {
        match self {
            Unusable::Taken => Error::ListenFdTaken { index, name: name.to_owned() },
            Unusable::Closed => Error::ClosedDescriptor { fd },
            Unusable::NotASocket => Error::NotASocket { fd },
            Unusable::Unrecognised(refusal) => Error::Io {
                action: "take the socket systemd passed (not a TCP, Unix or vsock socket)",
                endpoint: Endpoint::Fd(fd),
                source: io::Error::new(io::ErrorKind::InvalidInput, refusal.clone()),
            },
            Unusable::Refused(refusal) => again(refusal, fd),
        }
    }
}

/// `refusal` once more, for a later `take` of the socket it closed (`Error` holds an
/// `io::Error`, so it is not `Clone`). Exact for what `adopt` returns once a socket fits:
/// not listening, neither TCP nor Unix (`AnyListener`), or a failed system call; any other
/// as its message.
fn again(refusal: &Error, fd: i32) -> Error {
    match refusal {
        Error::NotListening { endpoint } => Error::NotListening { endpoint: endpoint.clone() },
        Error::WrongFamily { endpoint, expected, found } => {
            Error::WrongFamily { endpoint: endpoint.clone(), expected, found: found.clone() }
        }
        Error::Io { action, endpoint, source } => {
            let source = match source.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(source.kind(), source.to_string()),
            };
            Error::Io { action, endpoint: endpoint.clone(), source }
        }
        other => Error::Io {
            action: "take the socket systemd passed",
            endpoint: Endpoint::Fd(fd),
            source: io::Error::other(other.to_string()),
        },
    }
}
