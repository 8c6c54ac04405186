//! The read timeout: a read that waits too long for the client.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::io::{AsyncRead, ReadBuf};
use tower::Layer;

use super::service::{sealed::WrapStream, TimeoutService};
use crate::clock::StallClock;

/// Fails a connection on which one read has been pending `limit` without a byte: its
/// stream's reads return [`ReadTimeout`] (see [`WithReadTimeout`]).
///
/// Not for HTTP: hyper keeps a read pending while the server works on a request, so a
/// handler slower than the limit fails its own connection. Use
/// [`Http::header_read_timeout`](crate::http::Http::header_read_timeout) and
/// [`MaxLifetimeLayer`](super::MaxLifetimeLayer) there (see [the module](super) on which
/// reads count as waiting).
///
/// ```
/// use std::time::Duration;
/// use tcp_serve::timeout::ReadTimeoutLayer;
/// use tcp_serve::{Serve, WhereToListen};
///
/// let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
///     .layer(ReadTimeoutLayer::new(Duration::from_secs(30)));
/// # let _ = serve;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ReadTimeoutLayer {
    limit: Duration,
}

impl ReadTimeoutLayer {
    /// A layer failing reads that wait longer than `limit`.
    pub fn new(limit: Duration) -> Self {
        ReadTimeoutLayer { limit }
    }
}

impl<S> Layer<S> for ReadTimeoutLayer {
    type Service = TimeoutService<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::new(inner, *self)
    }
}

impl<Io> WrapStream<Io> for ReadTimeoutLayer {
    type Stream = WithReadTimeout<Io>;

    fn wrap(&self, io: Io) -> WithReadTimeout<Io> {
        WithReadTimeout::new(io, self.limit)
    }
}

/// A stream whose reads fail once one has been pending a limit, as `SO_RCVTIMEO` does.
///
/// The clock starts when a read first returns `Pending` and stops when a read returns.
/// Time in which no read is pending does not count; time in which one is counts, whoever
/// holds it and why: a read that a protocol driver parks while the server works (hyper
/// does during every HTTP request), and a read that is dropped (by `select!` or
/// `timeout`) and retried, whose wait goes on from where the dropped one began. A read
/// still pending at the limit, and every later one, fails with an [`io::Error`] of kind
/// [`TimedOut`](io::ErrorKind::TimedOut) carrying [`ReadTimeout`]. Writes pass through.
/// A read that returns at once costs a store; one that waits, a clock reading.
#[pin_project]
#[derive(Debug)]
pub struct WithReadTimeout<S> {
    #[pin]
    inner: S,
    clock: StallClock,
}

impl<S> WithReadTimeout<S> {
    /// Wraps `inner`, failing a read that is pending longer than `limit`.
    pub fn new(inner: S, limit: Duration) -> Self {
        WithReadTimeout { inner, clock: StallClock::new(limit) }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead> AsyncRead for WithReadTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        this.clock.poll(cx, |cx| this.inner.poll_read(cx, buf), |limit| ReadTimeout { limit })
    }
}

forward_async_write!(WithReadTimeout, inner);

/// The error of a read that was pending longer than its [`ReadTimeoutLayer`]'s limit.
///
/// It comes inside an [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut); find it
/// with [`ReadTimeout::find`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadTimeout {
    limit: Duration,
}

impl ReadTimeout {
    /// The limit that ran out.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The `ReadTimeout` in `error` (an [`io::Error`], a handler's error, or one of their
    /// sources), if that is what it is.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        crate::chain::find(error)
    }
}

impl fmt::Display for ReadTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "read timeout of {:?} exceeded: a read was pending that long without a byte",
            self.limit
        )
    }
}

impl std::error::Error for ReadTimeout {}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::Instant;

    const LIMIT: Duration = Duration::from_secs(2);

    #[tokio::test(start_paused = true)]
    async fn a_read_that_waits_the_limit_fails() {
        let (_peer, server) = tokio::io::duplex(64);
        let mut stream = WithReadTimeout::new(server, LIMIT);
        let started = Instant::now();
        let error = stream.read(&mut [0; 8]).await.expect_err("nothing comes");
        assert_eq!(started.elapsed(), LIMIT);
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(ReadTimeout::find(&error).map(ReadTimeout::limit), Some(LIMIT));
        assert!(stream.read(&mut [0; 8]).await.is_err(), "the failure sticks");
    }

    #[tokio::test(start_paused = true)]
    async fn time_outside_reads_does_not_count_and_each_read_has_the_whole_limit() {
        let (mut peer, server) = tokio::io::duplex(64);
        let mut stream = WithReadTimeout::new(server, LIMIT);
        // The handler is busy for longer than the limit before it reads: not the client's fault.
        tokio::time::advance(LIMIT * 3).await;
        let writer = tokio::spawn(async move {
            for byte in *b"abc" {
                tokio::time::sleep(LIMIT - Duration::from_millis(1)).await;
                peer.write_all(&[byte]).await.unwrap();
            }
            peer
        });
        let mut got = [0; 3];
        stream.read_exact(&mut got).await.expect("each byte came within the limit");
        assert_eq!(&got, b"abc");
        drop(writer.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_read_goes_on_waiting_in_the_next_one() {
        let (_peer, server) = tokio::io::duplex(64);
        let mut stream = WithReadTimeout::new(server, LIMIT);
        let started = Instant::now();
        // A read given up on (as `select!` or `timeout` do), then the handler works.
        let given_up = tokio::time::timeout(LIMIT / 2, stream.read(&mut [0; 8])).await;
        assert!(given_up.is_err());
        tokio::time::advance(LIMIT * 3).await;
        // The next read is judged from the first one's start: it fails at once.
        let error = stream.read(&mut [0; 8]).await.expect_err("timed from the dropped read");
        assert_eq!(started.elapsed(), LIMIT / 2 + LIMIT * 3);
        assert!(ReadTimeout::find(&error).is_some());
    }
}
