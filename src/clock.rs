//! The tokio timers that time connections, shared by the timeout layers and the buffer age
//! limit: deadlines that never overflow, a timer that follows a moving deadline cheaply,
//! and the clock of a read or a write that waits too long.
//!
//! (The server's own waits, which must work without tokio's time driver, are in
//! `crate::timer`.)

use std::error::Error;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// What [`deadline`] adds instead of a limit too large for an [`Instant`]: about 30 years,
/// tokio's own far future, which no connection lives to see.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `limit` after `from`; for a limit too large to add (`Duration::MAX`, a "no limit" read
/// from a configuration file), 30 years after it instead of a panic.
pub(crate) fn deadline(from: Instant, limit: Duration) -> Instant {
    from.checked_add(limit).unwrap_or_else(|| from + FAR_FUTURE)
}

/// `error` as the [`io::Error`] a stream's read or write fails with when a limit runs out.
pub(crate) fn timed_out(error: impl Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, error)
}

/// A tokio timer for a deadline that moves later as the connection makes progress.
///
/// Moving the deadline costs nothing: the sleep keeps the deadline it was armed with, and
/// when it fires before the current one it is re-armed, once, instead of being reset on
/// every transfer. Made at the first wait, so a stream that never waits has no timer.
///
/// The sleep is boxed, not pinned in place: tokio's [`Sleep`] is `!Unpin`, so holding one
/// inline would make every stream with a timer `!Unpin`, and hyper, rustls and the PROXY
/// layer take only `Unpin` streams. The box is one allocation, made at the stream's first
/// wait.
#[derive(Debug, Default)]
pub(crate) struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Timer {
    /// The deadline the timer is armed for, if it was ever armed.
    #[cfg(test)]
    pub(crate) fn armed(&self) -> Option<Instant> {
        self.sleep.as_ref().map(|sleep| sleep.deadline())
    }

    /// Ready once `deadline` has passed; until then, wakes the task at the deadline.
    pub(crate) fn poll_until(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        // Deadlines only move later, but an earlier one must not wait for a later sleep.
        if deadline < sleep.deadline() {
            sleep.as_mut().reset(deadline);
        }
        loop {
            ready!(sleep.as_mut().poll(cx));
            if sleep.deadline() >= deadline {
                return Poll::Ready(());
            }
            sleep.as_mut().reset(deadline);
        }
    }
}

/// Fails an operation (a stream's reads, or its writes) once one call has waited a limit.
///
/// The clock starts when a call first returns `Pending` and stops when one returns, so time
/// spent outside the calls does not count. At the limit the call waiting fails, and so does
/// every later one, without reaching the stream.
#[derive(Debug)]
pub(crate) struct StallClock {
    limit: Duration,
    // When the wait now timed began; `None` while no call is waiting.
    since: Option<Instant>,
    timer: Timer,
    expired: bool,
}

impl StallClock {
    /// A clock failing calls that wait longer than `limit`.
    pub(crate) fn new(limit: Duration) -> Self {
        StallClock { limit, since: None, timer: Timer::default(), expired: false }
    }

    /// Polls `op`, timing it while it waits; once the limit has run out, fails with the
    /// error `error` makes from the limit, as [`timed_out`] wraps it.
    pub(crate) fn poll<T, E: Error + Send + Sync + 'static>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut Context<'_>) -> Poll<io::Result<T>>,
        error: impl FnOnce(Duration) -> E,
    ) -> Poll<io::Result<T>> {
        if !self.expired {
            if let Poll::Ready(result) = op(cx) {
                self.since = None;
                return Poll::Ready(result);
            }
            let since = *self.since.get_or_insert_with(Instant::now);
            ready!(self.timer.poll_until(cx, deadline(since, self.limit)));
            self.expired = true;
        }
        Poll::Ready(Err(timed_out(error(self.limit))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_limit_too_large_to_add_is_a_deadline_in_the_far_future() {
        let now = Instant::now();
        assert_eq!(deadline(now, Duration::from_secs(5)), now + Duration::from_secs(5));
        assert_eq!(deadline(now, Duration::MAX), now + FAR_FUTURE);
    }

    /// A read through `stream` still waits after an hour, and takes the next byte.
    async fn never_runs_out<S: tokio::io::AsyncRead + Unpin>(
        what: &str,
        make: impl FnOnce(tokio::io::DuplexStream) -> S,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut peer, server) = tokio::io::duplex(64);
        let mut stream = make(server);
        let mut buf = [0; 8];
        let waiting = tokio::time::timeout(Duration::from_secs(3600), stream.read(&mut buf));
        assert!(waiting.await.is_err(), "{what}: still waiting after an hour, and no panic");
        peer.write_all(b"x").await.unwrap();
        assert_eq!(stream.read(&mut buf).await.unwrap(), 1, "{what}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_whose_limit_is_too_large_to_add_never_runs_out() {
        use crate::timeout::{WithFirstByteTimeout, WithIdleTimeout, WithMinRate, WithReadTimeout};
        never_runs_out("first byte", |s| WithFirstByteTimeout::new(s, Duration::MAX)).await;
        never_runs_out("idle", |s| WithIdleTimeout::new(s, Duration::MAX)).await;
        never_runs_out("read", |s| WithReadTimeout::new(s, Duration::MAX)).await;
        never_runs_out("min rate", |s| WithMinRate::new(s, 1024, Duration::MAX)).await;
    }

    /// The timers are boxed so that the streams holding them stay `Unpin`: hyper, rustls
    /// and the PROXY layer take no other.
    #[test]
    fn the_streams_with_timers_stay_unpin() {
        fn unpin<T: Unpin>() {}
        type Tcp = tokio::net::TcpStream;
        unpin::<crate::timeout::WithIdleTimeout<Tcp>>();
        unpin::<crate::timeout::WithFirstByteTimeout<Tcp>>();
        unpin::<crate::timeout::WithReadTimeout<Tcp>>();
        unpin::<crate::timeout::WithMinRate<Tcp>>();
        unpin::<crate::io::AgeLimited<Tcp>>();
    }
}
