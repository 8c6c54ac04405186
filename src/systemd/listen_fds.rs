//! [`ListenFds`]: the sockets systemd passed, taken from the environment once.

use std::sync::Mutex;

use listenfd::ListenFd;

use super::claim::{self, Slot, Unusable};
use super::take::FromListenFds;
use super::vars::{self, Reader, Vars, FIRST_FD};
use crate::error::Error;

/// The variables of the protocol, removed once read. `LISTEN_FDS_FIRST_FD` is listenfd's
/// own extension (descriptors from another number than 3): not systemd's, so it is removed
/// before listenfd reads the environment, and descriptors start at 3 as sd_listen_fds(3)
/// says.
const VARIABLES: [&str; 4] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_FDS_FIRST_FD"];

/// Held while the environment is read and cleared, so that two threads calling
/// [`ListenFds::from_env`] at once cannot both take the same descriptors.
static ENVIRONMENT: Mutex<()> = Mutex::new(());

/// The listening sockets systemd passed to this process (socket activation), by index and
/// by name.
///
/// A `.socket` unit's sockets arrive as descriptors 3, 4, …, in the order of its
/// `Listen*=` lines, named by its `FileDescriptorName=` (all `"unknown"` without it).
/// [`from_env`](Self::from_env) reads which from `LISTEN_PID`, `LISTEN_FDS` and
/// `LISTEN_FDNAMES`; [`take`](Self::take) and [`take_named`](Self::take_named) hand each
/// out once, as a [`Listener`](crate::Listener) for
/// [`Serve::from_listener`](crate::Serve::from_listener). Sockets not taken are closed
/// when this is dropped.
///
/// ```no_run
/// use tcp_serve::systemd::ListenFds;
/// use tcp_serve::{Inet, Listener, Serve};
///
/// # fn main() -> Result<(), tcp_serve::Error> {
/// // First thing in main, before any thread starts: this clears LISTEN_* from the environment.
/// let mut fds = ListenFds::from_env()?;
/// let listener: Listener<Inet> = fds.take_named("web")?;
/// let serve = Serve::from_listener(listener);
/// # let _ = serve;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ListenFds {
    // By index: descriptor `FIRST_FD + index`.
    passed: Vec<Passed>,
}

/// One socket systemd passed.
#[derive(Debug)]
pub(super) struct Passed {
    /// Its `FileDescriptorName=`, or `"unknown"`.
    pub(super) name: String,
    /// The socket until `take` hands it out, or why there is none.
    pub(super) slot: Slot,
}

impl ListenFds {
    /// Takes the sockets systemd passed to this process, and removes `LISTEN_PID`,
    /// `LISTEN_FDS` and `LISTEN_FDNAMES` from the environment so that child processes do not
    /// mistake them for theirs. Every socket is made close-on-exec.
    ///
    /// Call it first thing in `main`, before any thread starts (so before a tokio runtime
    /// is built: `#[tokio::main]` builds it before your code runs): removing an environment
    /// variable while another thread reads the environment (a C library's `getenv`) is
    /// undefined behaviour. Call it once: a second call finds the variables gone.
    ///
    /// # Errors
    ///
    /// - [`Error::NoListenFds`]: no sockets were passed (`LISTEN_FDS` or `LISTEN_PID` is
    ///   not set): the process was not started by socket activation. Match it to bind an
    ///   address instead.
    /// - [`Error::ListenPidMismatch`]: the sockets were passed to another process.
    /// - [`Error::MalformedListenFds`], [`Error::ListenFdNamesMismatch`]: the variables
    ///   are not what systemd writes.
    ///
    /// The variables are removed in every case. A descriptor that is closed or not a socket
    /// is reported when it is taken, so that the others can still be used.
    pub fn from_env() -> Result<Self, Error> {
        let _reading = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let [pid, fds, names, _] = VARIABLES.map(std::env::var_os);
        let vars = Vars { pid: pid.as_deref(), fds: fds.as_deref(), names: names.as_deref() };
        let parsed = vars::parse(vars, Reader::this_process());
        std::env::remove_var("LISTEN_FDS_FIRST_FD");
        // Only now, with LISTEN_PID ours and LISTEN_FDS a count: listenfd reads them again
        // (and removes the two), accepting a missing LISTEN_PID and ignoring a foreign one.
        let slots = parsed.is_ok().then(|| claim::claim_all(ListenFd::from_env(), FIRST_FD));
        for variable in VARIABLES {
            std::env::remove_var(variable);
        }
        let names = parsed?;
        let slots = slots.unwrap_or_default();
        // `zip` would drop the names past the last slot without a word.
        debug_assert_eq!(slots.len(), names.len(), "listenfd read another LISTEN_FDS");
        tracing::debug!(?names, "systemd passed {} sockets", names.len());
        let passed = names.into_iter().zip(slots).map(|(name, slot)| Passed { name, slot });
        Ok(ListenFds::from_passed(passed.collect()))
    }

    /// The sockets in `passed`, `passed[i]` being descriptor `FIRST_FD + i`.
    pub(super) fn from_passed(passed: Vec<Passed>) -> Self {
        ListenFds { passed }
    }

    /// How many sockets systemd passed (taken or not).
    pub fn len(&self) -> usize {
        self.passed.len()
    }

    /// Whether systemd passed no sockets (`LISTEN_FDS=0`).
    pub fn is_empty(&self) -> bool {
        self.passed.is_empty()
    }

    /// The sockets' names, by index: `FileDescriptorName=` of the `.socket` unit, or
    /// `"unknown"`.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.passed.iter().map(|passed| passed.name.as_str())
    }

    /// Takes the socket at `index` (from 0, in the `.socket` unit's order) as a
    /// [`Listener<Inet>`](crate::Listener), a [`Listener<Unix>`](crate::Listener) or an
    /// [`AnyListener`](super::AnyListener): checked to be a listening stream socket of that
    /// family, made non-blocking and close-on-exec.
    ///
    /// # Errors
    ///
    /// [`Error::ListenFdIndexOutOfRange`], [`Error::ListenFdTaken`] (each socket is taken
    /// once); for the descriptor: [`Error::ClosedDescriptor`], [`Error::NotASocket`],
    /// [`Error::NotAStreamSocket`], [`Error::WrongFamily`] (the socket stays, to be taken as
    /// the other family), [`Error::NotListening`] (`systemd-socket-activate --accept` passes
    /// a connection, not a listener). A socket that cannot be a listener (not listening, or
    /// neither TCP nor Unix) is closed, and every later take of it reports the same error.
    pub fn take<T: FromListenFds>(&mut self, index: usize) -> Result<T, Error> {
        let len = self.len();
        let passed =
            self.passed.get_mut(index).ok_or(Error::ListenFdIndexOutOfRange { index, len })?;
        if let Ok(socket) = &passed.slot {
            T::fits(socket)?;
        }
        let unusable = match std::mem::replace(&mut passed.slot, Err(Unusable::Taken)) {
            Ok(socket) => match T::adopt(socket) {
                Ok(taken) => return Ok(taken),
                // `adopt` closed the socket: keep why, or a retry could only say "taken".
                Err(refusal) => Unusable::Refused(refusal),
            },
            Err(unusable) => unusable,
        };
        let error = unusable.error(index, &passed.name, FIRST_FD + index as i32);
        passed.slot = Err(unusable);
        Err(error)
    }

    /// Takes the socket named `name` (`FileDescriptorName=` in the `.socket` unit,
    /// `--fdname` of systemd-socket-activate), as [`take`](Self::take) does. When several
    /// sockets share the name (a unit with two `ListenStream=` lines), each call takes the
    /// next.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownListenFdName`] (it lists the names there are), and those of
    /// [`take`](Self::take).
    pub fn take_named<T: FromListenFds>(&mut self, name: &str) -> Result<T, Error> {
        let mut named =
            self.passed.iter().enumerate().filter(|(_, passed)| passed.name == name).peekable();
        let Some(&(first, _)) = named.peek() else {
            return Err(Error::UnknownListenFdName {
                name: name.to_owned(),
                names: self.names().map(str::to_owned).collect(),
            });
        };
        // The next one no take has had yet; when all have, the first says why.
        let index = named
            .find(|(_, passed)| !matches!(passed.slot, Err(Unusable::Taken | Unusable::Refused(_))))
            .map_or(first, |(index, _)| index);
        self.take(index)
    }
}
