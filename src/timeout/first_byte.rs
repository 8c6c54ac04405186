//! The first-byte timeout: a client that connects and says nothing.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Instant;
use tower::Layer;

use super::service::{sealed::WrapStream, TimeoutService};
use crate::clock::{self, Timer};

/// Fails a connection whose client has sent nothing `limit` after it arrived at this
/// layer: its stream's reads return [`FirstByteTimeout`] (see [`WithFirstByteTimeout`]).
///
/// ```
/// use std::time::Duration;
/// use tcp_serve::timeout::FirstByteTimeoutLayer;
/// use tcp_serve::{Serve, WhereToListen};
///
/// let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
///     .layer(FirstByteTimeoutLayer::new(Duration::from_secs(5)));
/// # let _ = serve;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FirstByteTimeoutLayer {
    limit: Duration,
}

impl FirstByteTimeoutLayer {
    /// A layer failing connections whose first byte takes longer than `limit`.
    pub fn new(limit: Duration) -> Self {
        FirstByteTimeoutLayer { limit }
    }
}

impl<S> Layer<S> for FirstByteTimeoutLayer {
    type Service = TimeoutService<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::new(inner, *self)
    }
}

impl<Io> WrapStream<Io> for FirstByteTimeoutLayer {
    type Stream = WithFirstByteTimeout<Io>;

    fn wrap(&self, io: Io) -> WithFirstByteTimeout<Io> {
        WithFirstByteTimeout::new(io, self.limit)
    }
}

/// A stream whose reads fail if the first byte has not arrived within a limit of the
/// stream's creation.
///
/// A read still waiting at the deadline, and every later one, fails with an [`io::Error`]
/// of kind [`TimedOut`](io::ErrorKind::TimedOut) carrying [`FirstByteTimeout`]. Writes
/// pass through, so a handler may still say why it is closing. Once a byte has arrived the
/// stream costs one comparison per read.
#[pin_project(project = Projected)]
#[derive(Debug)]
pub struct WithFirstByteTimeout<S> {
    #[pin]
    inner: S,
    limit: Duration,
    // `None` once the first byte has arrived.
    deadline: Option<Instant>,
    timer: Timer,
    expired: bool,
}

impl<S> WithFirstByteTimeout<S> {
    /// Wraps `inner`, failing its reads if no byte arrives within `limit` from now.
    pub fn new(inner: S, limit: Duration) -> Self {
        WithFirstByteTimeout {
            inner,
            limit,
            deadline: Some(clock::deadline(Instant::now(), limit)),
            timer: Timer::default(),
            expired: false,
        }
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

impl<S: AsyncRead> AsyncRead for WithFirstByteTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let Some(deadline) = *this.deadline else {
            return this.inner.poll_read(cx, buf);
        };
        let error = FirstByteTimeout { limit: *this.limit };
        if *this.expired {
            return Poll::Ready(Err(clock::timed_out(error)));
        }
        if let Poll::Ready(result) = this.inner.poll_read(cx, buf) {
            // A first byte; or EOF, after which nothing will come to time.
            if result.is_ok() {
                *this.deadline = None;
                *this.timer = Timer::default();
            }
            return Poll::Ready(result);
        }
        ready!(this.timer.poll_until(cx, deadline));
        *this.expired = true;
        Poll::Ready(Err(clock::timed_out(error)))
    }
}

forward_async_write!(WithFirstByteTimeout, inner);

/// The error of a stream whose client sent nothing within its
/// [`FirstByteTimeoutLayer`]'s limit.
///
/// It comes inside an [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut); find it
/// with [`FirstByteTimeout::find`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstByteTimeout {
    limit: Duration,
}

impl FirstByteTimeout {
    /// The limit that ran out.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The `FirstByteTimeout` in `error` (an [`io::Error`], a handler's error, or one of
    /// their sources), if that is what it is.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        crate::chain::find(error)
    }
}

impl fmt::Display for FirstByteTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "first-byte timeout of {:?} exceeded: the client sent nothing", self.limit)
    }
}

impl std::error::Error for FirstByteTimeout {}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMIT: Duration = Duration::from_secs(3);

    #[tokio::test(start_paused = true)]
    async fn a_client_that_sends_nothing_fails_the_read_at_the_limit() {
        let (mut peer, server) = tokio::io::duplex(64);
        let mut stream = WithFirstByteTimeout::new(server, LIMIT);
        let started = Instant::now();
        let error = stream.read(&mut [0; 8]).await.expect_err("nothing comes");
        assert_eq!(started.elapsed(), LIMIT);
        assert_eq!(FirstByteTimeout::find(&error).map(FirstByteTimeout::limit), Some(LIMIT));
        assert!(stream.read(&mut [0; 8]).await.is_err(), "the failure sticks");
        stream.write_all(b"bye\n").await.expect("writes pass through");
        let mut said = [0; 4];
        peer.read_exact(&mut said).await.unwrap();
        assert_eq!(&said, b"bye\n");
    }

    #[tokio::test(start_paused = true)]
    async fn once_a_byte_arrived_reads_may_wait_forever() {
        let (mut peer, server) = tokio::io::duplex(64);
        let mut stream = WithFirstByteTimeout::new(server, LIMIT);
        tokio::time::advance(LIMIT - Duration::from_millis(1)).await;
        peer.write_all(b"x").await.unwrap();
        assert_eq!(stream.read(&mut [0; 8]).await.unwrap(), 1);
        let mut buf = [0; 8];
        let waiting = tokio::time::timeout(Duration::from_secs(3600), stream.read(&mut buf));
        assert!(waiting.await.is_err(), "still waiting after an hour");
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_runs_from_the_streams_creation_not_the_first_read() {
        let (_peer, server) = tokio::io::duplex(64);
        let mut stream = WithFirstByteTimeout::new(server, LIMIT);
        tokio::time::advance(Duration::from_secs(2)).await;
        let started = Instant::now();
        assert!(stream.read(&mut [0; 8]).await.is_err());
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
