//! The idle timeout: no bytes either way for too long.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tower::Layer;

use super::service::{sealed::WrapStream, TimeoutService};
use crate::clock::{self, Timer};

/// Fails a connection on which no byte has moved, either way, for `limit`: its stream's
/// reads and writes return [`IdleTimeout`] (see [`WithIdleTimeout`]).
///
/// ```
/// use std::time::Duration;
/// use tcp_serve::timeout::IdleTimeoutLayer;
/// use tcp_serve::{Serve, WhereToListen};
///
/// let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
///     .layer(IdleTimeoutLayer::new(Duration::from_secs(60)));
/// # let _ = serve;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct IdleTimeoutLayer {
    limit: Duration,
}

impl IdleTimeoutLayer {
    /// A layer failing connections idle for `limit`.
    pub fn new(limit: Duration) -> Self {
        IdleTimeoutLayer { limit }
    }
}

impl<S> Layer<S> for IdleTimeoutLayer {
    type Service = TimeoutService<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::new(inner, *self)
    }
}

impl<Io> WrapStream<Io> for IdleTimeoutLayer {
    type Stream = WithIdleTimeout<Io>;

    fn wrap(&self, io: Io) -> WithIdleTimeout<Io> {
        WithIdleTimeout::new(io, self.limit)
    }
}

/// A stream that fails once no byte has moved, either way, for a limit.
///
/// The clock runs from the stream's creation and restarts whenever a read or a write moves
/// a byte. When it runs out, the pending read or write and every later one fail with an
/// [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut) carrying [`IdleTimeout`].
/// The limit is enforced when the stream is waited on: a handler that does not touch the
/// stream is not interrupted (use a [`MaxLifetimeLayer`](super::MaxLifetimeLayer) for a
/// hard bound).
///
/// A transfer costs a store; the time is taken when the stream next waits. So the limit is
/// counted from the first wait after the last byte, which is the last byte's time when a
/// handler waits on the stream as it should; a transfer followed by no wait at all
/// (another task waits in the other direction) at worst doubles it.
#[pin_project(project = Projected)]
#[derive(Debug)]
pub struct WithIdleTimeout<S> {
    #[pin]
    inner: S,
    limit: Duration,
    // The deadline is `idle_since + limit`.
    idle_since: Instant,
    // A byte moved since `idle_since` was taken: the next wait moves it to now.
    moved: bool,
    // One per direction, so that a reader and a writer in two tasks are both woken.
    read_timer: Timer,
    write_timer: Timer,
    expired: bool,
}

impl<S> WithIdleTimeout<S> {
    /// Wraps `inner`, failing it after `limit` without a byte moved.
    pub fn new(inner: S, limit: Duration) -> Self {
        WithIdleTimeout {
            inner,
            limit,
            idle_since: Instant::now(),
            moved: false,
            read_timer: Timer::default(),
            write_timer: Timer::default(),
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

/// Which way a poll goes, and so which timer it waits on.
#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

impl<S> Projected<'_, S> {
    /// The error every poll returns once the limit has run out.
    fn error(&self) -> io::Error {
        clock::timed_out(IdleTimeout { limit: *self.limit })
    }

    /// A poll in `direction` is waiting: times it, and fails the stream at the deadline.
    fn wait(&mut self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Error> {
        if std::mem::take(self.moved) {
            *self.idle_since = Instant::now();
        }
        let timer = match direction {
            Direction::Read => &mut *self.read_timer,
            Direction::Write => &mut *self.write_timer,
        };
        ready!(timer.poll_until(cx, clock::deadline(*self.idle_since, *self.limit)));
        *self.expired = true;
        Poll::Ready(self.error())
    }

    /// Passes a write-side poll through; `moved` says whether its result moved bytes.
    fn write<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
        moved: impl FnOnce(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        if *self.expired {
            return Poll::Ready(Err(self.error()));
        }
        match poll(self.inner.as_mut(), cx) {
            Poll::Ready(result) => {
                *self.moved |= result.as_ref().is_ok_and(moved);
                Poll::Ready(result)
            }
            Poll::Pending => self.wait(cx, Direction::Write).map(Err),
        }
    }
}

impl<S: AsyncRead> AsyncRead for WithIdleTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        if *this.expired {
            return Poll::Ready(Err(this.error()));
        }
        let before = buf.filled().len();
        match this.inner.as_mut().poll_read(cx, buf) {
            Poll::Ready(result) => {
                *this.moved |= buf.filled().len() > before;
                Poll::Ready(result)
            }
            Poll::Pending => this.wait(cx, Direction::Read).map(Err),
        }
    }
}

impl<S: AsyncWrite> AsyncWrite for WithIdleTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().write(cx, |inner, cx| inner.poll_write(cx, buf), |&n| n > 0)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().write(cx, |inner, cx| inner.poll_write_vectored(cx, bufs), |&n| n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().write(cx, |inner, cx| inner.poll_flush(cx), |()| false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().write(cx, |inner, cx| inner.poll_shutdown(cx), |()| false)
    }
}

/// The error of a stream idle for longer than its [`IdleTimeoutLayer`]'s limit.
///
/// It comes inside an [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut), which a
/// handler that uses `?` returns to the server's
/// [`OnHandlerError`](crate::OnHandlerError) policy; find it there with
/// [`IdleTimeout::find`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleTimeout {
    limit: Duration,
}

impl IdleTimeout {
    /// The limit that ran out.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The `IdleTimeout` in `error` (an [`io::Error`], a handler's error, or one of their
    /// sources), if that is what it is.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        crate::chain::find(error)
    }
}

impl fmt::Display for IdleTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "idle timeout of {:?} exceeded: no byte moved either way", self.limit)
    }
}

impl std::error::Error for IdleTimeout {}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_test::{assert_pending, assert_ready};

    const LIMIT: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_fails_the_read_at_the_limit_and_the_failure_sticks() {
        let (_peer, server) = tokio::io::duplex(64);
        let mut stream = WithIdleTimeout::new(server, LIMIT);
        let started = Instant::now();
        let error = stream.read(&mut [0; 8]).await.expect_err("nothing comes");
        assert_eq!(started.elapsed(), LIMIT);
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(IdleTimeout::find(&error).map(IdleTimeout::limit), Some(LIMIT));
        let again = stream.write(b"x").await.expect_err("writes fail too");
        assert!(IdleTimeout::find(&again).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_either_way_restart_the_clock() {
        let (mut peer, server) = tokio::io::duplex(64);
        let mut stream = WithIdleTimeout::new(server, LIMIT);
        let mut read = tokio_test::task::spawn(async move {
            let mut buf = [0; 8];
            let n = stream.read(&mut buf).await?;
            Ok::<_, io::Error>((n, stream))
        });
        tokio::time::advance(LIMIT - Duration::from_secs(1)).await;
        assert_pending!(read.poll());
        peer.write_all(b"a").await.unwrap();
        let (n, mut stream) = assert_ready!(read.poll()).expect("the byte");
        assert_eq!(n, 1);
        drop(read);

        // A write moves bytes too: the deadline is counted from the next wait.
        tokio::time::advance(LIMIT - Duration::from_secs(1)).await;
        stream.write_all(b"b").await.unwrap();
        let waited = Instant::now();
        let error = stream.read(&mut [0; 8]).await.expect_err("then nothing");
        assert_eq!(waited.elapsed(), LIMIT);
        assert!(IdleTimeout::find(&error).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_moved_deadline_rearms_the_timer_only_when_it_fires() {
        let (mut peer, server) = tokio::io::duplex(64);
        let mut stream = WithIdleTimeout::new(server, LIMIT);
        let mut buf = [0; 8];
        // The read waits: a timer is armed for the limit.
        let mut read = tokio_test::task::spawn(stream.read(&mut buf));
        assert_pending!(read.poll());
        drop(read);
        // Bytes arrive and are read with no wait, then the stream waits again later.
        tokio::time::advance(Duration::from_secs(5)).await;
        peer.write_all(b"x").await.unwrap();
        assert_eq!(stream.read(&mut buf).await.unwrap(), 1);
        let armed = stream.read_timer.armed();
        let mut read = tokio_test::task::spawn(stream.read(&mut buf));
        assert_pending!(read.poll());
        drop(read);
        assert_eq!(stream.read_timer.armed(), armed, "not reset on the wait");
        // At the old deadline the timer fires early and is re-armed for the new one.
        tokio::time::advance(Duration::from_secs(5)).await;
        let mut read = tokio_test::task::spawn(stream.read(&mut buf));
        assert_pending!(read.poll(), "the deadline moved: not idle yet");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(read.is_woken());
        assert!(assert_ready!(read.poll()).is_err());
    }
}
