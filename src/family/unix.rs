//! Unix-domain stream sockets: binding a path, and telling a stale socket file from a live
//! server without blocking.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::task::{Context, Poll};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use tokio::net::{UnixListener, UnixStream};

use super::sys::{self, bind_error, io_error, BindOptions, Paused, Place};
use super::Family;
use crate::error::{Endpoint, Error};

/// The longest Unix socket path Linux takes: `sun_path` is 108 bytes, one of them the NUL.
const SUN_PATH_MAX: usize = 107;

/// Unix-domain stream sockets: the server listens on a path.
#[derive(Clone, Copy, Debug)]
pub enum Unix {}

impl Family for Unix {
    type Addr = tokio::net::unix::SocketAddr;
    type ListeningOn = PathBuf;
    type Stream = UnixStream;
    type BindTo = PathBuf;
}

impl sys::Socket for Unix {
    type Std = std::os::unix::net::UnixListener;
    type Listener = UnixListener;

    const DESCRIPTION: &'static str = "a Unix-domain socket";

    fn fits(domain: Domain) -> bool {
        domain == Domain::UNIX
    }

    fn bind(path: &PathBuf, mut options: BindOptions) -> Result<Socket, Error> {
        let endpoint = Endpoint::Unix(path.clone());
        let len = path.as_os_str().len();
        if len > SUN_PATH_MAX {
            return Err(Error::UnixPathTooLong { path: path.clone(), len, max: SUN_PATH_MAX });
        }
        let socket = match options.socket.take() {
            Some(socket) => {
                sys::check_unbound::<Unix>(&socket, &endpoint)?;
                socket
            }
            None => Socket::new(Domain::UNIX, Type::STREAM, None)
                .map_err(|e| io_error("create a Unix socket", &endpoint, e))?,
        };
        let sockaddr = SockAddr::unix(path)
            .map_err(|e| io_error("make a Unix socket address", &endpoint, e))?;
        socket.bind(&sockaddr).map_err(|e| unix_bind_error(e, path, &endpoint))?;
        sys::listen(&socket, options.backlog, &endpoint)?;
        Ok(socket)
    }

    fn place(listener: &std::os::unix::net::UnixListener) -> io::Result<Place<Unix>> {
        let addr = listener.local_addr()?;
        let (listening_on, endpoint) = match addr.as_pathname() {
            Some(path) => (path.to_path_buf(), Endpoint::Unix(path.to_path_buf())),
            // An unnamed or abstract socket, as systemd may hand over: no path to show.
            None => (PathBuf::new(), Endpoint::Fd(listener.as_raw_fd())),
        };
        Ok(Place { addr: addr.into(), listening_on, endpoint })
    }

    fn register(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        UnixListener::from_std(listener)
    }

    /// `shutdown(SHUT_RD)` on a listening Unix socket refuses new connects; the connections
    /// already queued stay acceptable, and are accepted and closed here (their clients see
    /// EOF), so that pausing means the same for them as for TCP clients.
    ///
    /// A pause that [`resume`](Self::resume) could not undo is refused before the socket is
    /// touched: it would leave the server deaf until it is closed.
    fn pause(listener: &UnixListener, place: &Place<Unix>) -> io::Result<Paused> {
        let temporary = temporary_path(place)?;
        let socket = SockRef::from(listener);
        socket.shutdown(std::net::Shutdown::Read)?;
        loop {
            match socket.accept() {
                Ok((queued, _)) => drop(queued),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Paused { temporary: Some(temporary), ..Paused::default() })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Linux cannot make a shut-down Unix socket listen again, so a new one takes its place:
    /// bound at a temporary name beside the path, listening, then renamed over the path in
    /// one step. The path is never free for another process to take.
    fn resume(
        _listener: &UnixListener,
        place: &Place<Unix>,
        backlog: i32,
        paused: &Paused,
    ) -> io::Result<UnixListener> {
        // `pause` made sure of both.
        let (Some(path), Some(temporary)) = (place.addr.as_pathname(), &paused.temporary) else {
            return Err(cannot_resume("the socket was paused without a path to take back"));
        };
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        let _ = std::fs::remove_file(temporary);
        socket.bind(&SockAddr::unix(temporary)?)?;
        let renamed = socket
            .listen(backlog)
            .and_then(|()| socket.set_nonblocking(true))
            .and_then(|()| std::fs::rename(temporary, path));
        if let Err(e) = renamed {
            let _ = std::fs::remove_file(temporary);
            return Err(e);
        }
        UnixListener::from_std(socket.into())
    }

    fn poll_accept(
        listener: &UnixListener,
        cx: &mut Context<'_>,
        _nodelay: bool,
    ) -> Poll<io::Result<(UnixStream, tokio::net::unix::SocketAddr)>> {
        listener.poll_accept(cx)
    }
}

/// Where the successor of a paused socket is bound before it is renamed over the socket's
/// path: beside it, with this process's id. An error if there is no such place: an unnamed
/// or abstract socket has no path to take back, and a path near the length limit leaves no
/// room for the suffix.
fn temporary_path(place: &Place<Unix>) -> io::Result<PathBuf> {
    let path = place.addr.as_pathname().ok_or_else(|| {
        cannot_resume("an unnamed or abstract Unix socket has no path to listen on again")
    })?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".resuming.{}", std::process::id()));
    if temporary.len() > SUN_PATH_MAX {
        return Err(cannot_resume(&format!(
            "the path is {} bytes long; listening again binds {} bytes beside it, and the OS \
             takes at most {SUN_PATH_MAX}",
            path.as_os_str().len(),
            temporary.len()
        )));
    }
    Ok(PathBuf::from(temporary))
}

/// Why a Unix socket could not pause, or listen again.
fn cannot_resume(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("cannot listen again after a pause: {why}"))
}

/// Sorts a failed bind: a missing directory, a file in the way, a socket file nothing
/// listens on (stale), or a live server.
fn unix_bind_error(source: io::Error, path: &Path, endpoint: &Endpoint) -> Error {
    let path = path.to_path_buf();
    match source.kind() {
        io::ErrorKind::NotFound => Error::MissingDirectory { path },
        io::ErrorKind::AddrInUse => {
            let is_socket = std::fs::symlink_metadata(&path)
                .map(|meta| meta.file_type().is_socket())
                .unwrap_or(false);
            if !is_socket {
                Error::PathExists { path }
            } else if nobody_listens(&path) {
                Error::StaleUnixSocket { path }
            } else {
                bind_error(source, endpoint)
            }
        }
        _ => bind_error(source, endpoint),
    }
}

/// Whether connecting to the socket file at `path` is refused. The connect is
/// non-blocking: a live server whose backlog is full answers `EAGAIN` at once instead of
/// holding this thread, and counts as listening.
fn nobody_listens(path: &Path) -> bool {
    let refused = |probe: Socket| {
        let addr = SockAddr::unix(path)?;
        match probe.connect(&addr) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(true),
            _ => Ok::<_, io::Error>(false),
        }
    };
    Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None).and_then(refused).unwrap_or(false)
}
