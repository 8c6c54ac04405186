//! sd_notify(3): telling the service manager the server's state, for `Type=notify` units.
//!
//! A notification is one datagram of `KEY=VALUE` lines sent to the Unix socket named by
//! `NOTIFY_SOCKET`: a path, or `@name` for an abstract socket (which the `sd-notify` crate
//! cannot reach, hence these few lines of our own).

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Tells systemd the server is ready: it accepts connections. A `Type=notify` unit counts
/// as started from here on (units ordered after it start now).
///
/// Returns `Ok(false)` without doing anything when `NOTIFY_SOCKET` is not set (the process
/// was not started by systemd with `Type=notify`), `Ok(true)` once sent.
///
/// # Errors
///
/// `NOTIFY_SOCKET` is not a path or an `@abstract` name, or sending failed.
pub fn notify_ready() -> io::Result<bool> {
    notify("READY=1\n")
}

/// Tells systemd the server is stopping (draining); as [`notify_ready`].
/// [`Server::drain_on_signals`](crate::Server::drain_on_signals) sends it when a drain
/// begins.
///
/// # Errors
///
/// As [`notify_ready`].
pub fn notify_stopping() -> io::Result<bool> {
    notify("STOPPING=1\n")
}

/// Sets the one-line status `systemctl status` shows; as [`notify_ready`]. A newline in
/// `status` becomes a space.
///
/// # Errors
///
/// As [`notify_ready`].
pub fn notify_status(status: &str) -> io::Result<bool> {
    notify(&format!("STATUS={}\n", status.replace('\n', " ")))
}

/// Sends `state`, one or more `KEY=VALUE` lines (`"WATCHDOG=1\n"`, say; see sd_notify(3)),
/// to `NOTIFY_SOCKET`; as [`notify_ready`].
///
/// # Errors
///
/// As [`notify_ready`].
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        None => Ok(false),
        Some(address) => send(&address, state.as_bytes()).map(|()| true),
    }
}

/// Sends STOPPING=1, logging a failure: the drain goes on whether systemd heard or not.
pub(crate) fn stopping_or_warn() {
    if let Err(error) = notify_stopping() {
        tracing::warn!(%error, "could not tell systemd the server is stopping");
    }
}

/// Sends one datagram to the `NOTIFY_SOCKET` address `address`.
pub(crate) fn send(address: &OsStr, message: &[u8]) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    // Never wait on a full queue (this may run on an async task): fail, and say so.
    socket.set_nonblocking(true)?;
    match address.as_bytes() {
        [b'@', name @ ..] => socket.send_to_addr(message, &SocketAddr::from_abstract_name(name)?),
        [b'/', ..] => socket.send_to(message, address),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "NOTIFY_SOCKET={address:?} is neither an absolute path nor an @abstract socket \
                 name (other kinds, such as vsock:, are not supported); unset it, or give a path"
            ),
        )),
    }
    .map(drop)
}
