//! The rules of sd_listen_fds(3) for the three variables, as a pure function of their values
//! and our pid, so they are tested without touching the process's environment.

use std::ffi::OsStr;

use crate::error::Error;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`); the rest follow in order.
pub(crate) const FIRST_FD: i32 = 3;

/// The variables that pass sockets, as found in the environment.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Vars<'a> {
    /// `LISTEN_PID`: the process the sockets are for.
    pub(crate) pid: Option<&'a OsStr>,
    /// `LISTEN_FDS`: how many sockets, from descriptor 3 on.
    pub(crate) fds: Option<&'a OsStr>,
    /// `LISTEN_FDNAMES`: a name per socket, separated by `:`.
    pub(crate) names: Option<&'a OsStr>,
}

/// The process that reads the variables.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader {
    /// Its pid.
    pub(crate) pid: u32,
    /// Its hard open-file limit: no descriptor it holds is numbered past it, so neither is
    /// any it was passed (and a count past it would have us look at millions of numbers).
    pub(crate) fd_limit: u64,
}

impl Reader {
    /// This process.
    pub(crate) fn this_process() -> Self {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        Reader { pid: std::process::id(), fd_limit: limit.maximum.unwrap_or(i32::MAX as u64) }
    }
}

/// The sockets passed to `reader`, as one name per descriptor (`names[i]` is descriptor
/// `FIRST_FD + i`).
///
/// As sd_listen_fds(3), except that where systemd's library returns "no sockets" for a
/// variable that is malformed or meant for another process, this says which and why.
pub(crate) fn parse(vars: Vars<'_>, reader: Reader) -> Result<Vec<String>, Error> {
    let Some(fds) = vars.fds else { return Err(Error::NoListenFds { missing: "LISTEN_FDS" }) };
    let Some(listen_pid) = vars.pid else {
        return Err(Error::NoListenFds { missing: "LISTEN_PID" });
    };
    // The pid first: a count meant for another process says nothing about ours.
    let listen_pid =
        number(listen_pid).ok_or_else(|| malformed("LISTEN_PID", listen_pid, "a process id"))?;
    if listen_pid != reader.pid {
        return Err(Error::ListenPidMismatch { listen_pid, pid: reader.pid });
    }
    let limit = reader.fd_limit.min(i32::MAX as u64);
    let fits = |count: &u64| *count <= limit.saturating_sub(FIRST_FD as u64);
    let Some(count) = number::<u64>(fds).filter(fits) else {
        let expected = "a count of descriptors below the open-file limit";
        return Err(malformed("LISTEN_FDS", fds, expected));
    };
    let count = count as usize;
    let names: Vec<String> = match vars.names {
        // Without LISTEN_FDNAMES each socket is "unknown", as systemd names them.
        None => vec!["unknown".to_owned(); count],
        // systemd splits an empty value into no names at all, not one empty name.
        Some(names) if names.is_empty() => Vec::new(),
        Some(names) => names.to_string_lossy().split(':').map(str::to_owned).collect(),
    };
    if names.len() != count {
        return Err(Error::ListenFdNamesMismatch { fds: count, names });
    }
    Ok(names)
}

/// A decimal number, as systemd writes them: digits only (no sign, no spaces).
fn number<T: std::str::FromStr>(value: &OsStr) -> Option<T> {
    let digits = value.to_str()?;
    let decimal = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    decimal.then(|| digits.parse().ok()).flatten()
}

fn malformed(variable: &'static str, value: &OsStr, expected: &'static str) -> Error {
    Error::MalformedListenFds { variable, value: value.to_string_lossy().into_owned(), expected }
}
