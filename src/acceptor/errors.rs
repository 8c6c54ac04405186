//! What the accept loop does about an `accept(2)` that failed.

use std::io;
use std::time::Duration;

use rustix::io::Errno;

/// The first pause after an accept error that signals exhaustion; it doubles up to
/// [`ACCEPT_BACKOFF_MAX`] while the errors go on (Go's `net/http` does the same).
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(5);
/// The longest pause between accepts while descriptors or memory are exhausted.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What an `accept(2)` error means for the loop.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AcceptError {
    /// This one connection failed; accept the next at once.
    Connection,
    /// The process or system is out of something; pause, then try again.
    Exhausted,
}

/// Sorts an error from `accept(2)`. None of them stops the server:
///
/// - `ECONNABORTED`, `ECONNRESET`: the client gave up between its handshake and our accept.
/// - `EPERM`: a firewall rule refused this connection.
/// - `EINTR`: a signal interrupted the call.
/// - `ENETDOWN`, `EPROTO`, `ENOPROTOOPT`, `EHOSTDOWN`, `ENONET`, `EHOSTUNREACH`,
///   `EOPNOTSUPP`, `ENETUNREACH`, `ETIMEDOUT`: network errors Linux reports on accept for
///   the pending connection; `accept(2)` says to treat them as a retry.
/// - `EMFILE`, `ENFILE`: out of file descriptors; `ENOBUFS`, `ENOMEM`: out of socket
///   memory. The connection stays queued, so retrying at once would spin a core: pause,
///   doubling from 5 ms to 1 s, until an accept succeeds.
/// - Anything else is unexpected, and paused on too, so a broken listener logs once a
///   second instead of spinning.
pub(super) fn classify(error: &io::Error) -> AcceptError {
    match Errno::from_io_error(error) {
        Some(
            Errno::CONNABORTED
            | Errno::CONNRESET
            | Errno::PERM
            | Errno::INTR
            | Errno::NETDOWN
            | Errno::PROTO
            | Errno::NOPROTOOPT
            | Errno::HOSTDOWN
            | Errno::NONET
            | Errno::HOSTUNREACH
            | Errno::OPNOTSUPP
            | Errno::NETUNREACH
            | Errno::TIMEDOUT,
        ) => AcceptError::Connection,
        _ => AcceptError::Exhausted,
    }
}

/// The pause after consecutive exhaustion errors.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    last: Option<Duration>,
}

impl Backoff {
    pub(super) fn next(&mut self) -> Duration {
        let pause =
            self.last.map_or(ACCEPT_BACKOFF_FIRST, |last| (last * 2).min(ACCEPT_BACKOFF_MAX));
        self.last = Some(pause);
        pause
    }

    pub(super) fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_are_skipped_and_exhaustion_is_paused_on() {
        let errno = |e: Errno| io::Error::from_raw_os_error(e.raw_os_error());
        assert_eq!(classify(&errno(Errno::CONNABORTED)), AcceptError::Connection);
        assert_eq!(classify(&errno(Errno::PERM)), AcceptError::Connection);
        for e in [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM, Errno::BADF] {
            assert_eq!(classify(&errno(e)), AcceptError::Exhausted, "{e:?}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::default();
        let pauses: Vec<_> = (0..10).map(|_| backoff.next()).collect();
        assert_eq!(pauses[0], ACCEPT_BACKOFF_FIRST);
        assert_eq!(pauses[1], ACCEPT_BACKOFF_FIRST * 2);
        assert_eq!(pauses[9], ACCEPT_BACKOFF_MAX);
        backoff.reset();
        assert_eq!(backoff.next(), ACCEPT_BACKOFF_FIRST);
    }
}
