//! `buffer_age_limit`: how long written bytes may wait for a peer that is not reading.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::clock::StallClock;

/// How long bytes may wait to be taken by the peer before the writer fails, as Async's
/// `Writer.buffer_age_limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferAgeLimit {
    /// Fail once bytes have waited this long without the peer taking any.
    AtMost(Duration),
    /// Wait for the peer forever.
    Unlimited,
}

impl Default for BufferAgeLimit {
    /// Two minutes, Async's default for sockets: long enough for any live peer on a slow
    /// link, short enough that a client which stopped reading cannot pin a connection and
    /// its buffers for good.
    fn default() -> Self {
        BufferAgeLimit::AtMost(Duration::from_secs(120))
    }
}

/// The error a writer fails with when its bytes waited longer than the [`BufferAgeLimit`].
///
/// It comes inside an [`io::Error`] of kind [`io::ErrorKind::TimedOut`], which a handler
/// that uses `?` returns to the server's [`OnHandlerError`](crate::OnHandlerError) policy;
/// find it there with [`BufferAgeLimitExceeded::find`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferAgeLimitExceeded {
    limit: Duration,
}

impl BufferAgeLimitExceeded {
    /// The limit that was exceeded.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The `BufferAgeLimitExceeded` in `error` (an [`io::Error`], a handler's error, or
    /// one of their sources), if that is what it is.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        crate::chain::find(error)
    }
}

impl fmt::Display for BufferAgeLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "written bytes waited longer than the buffer age limit of {:?}: the peer is not reading",
            self.limit
        )
    }
}

impl std::error::Error for BufferAgeLimitExceeded {}

/// A stream whose writes fail once they have waited longer than a [`BufferAgeLimit`] for
/// the peer to take bytes. Reads pass through.
///
/// A write or flush that cannot make progress (the peer's receive window and our send
/// buffer are full) starts the clock; any progress stops it. When it runs out, the pending
/// call and every later write or flush fail with [`BufferAgeLimitExceeded`]. Wrap any
/// stream in it (directly or with [`BufferAgeLimitLayer`](super::BufferAgeLimitLayer)) to
/// guard a protocol stack against slow consumers.
#[pin_project]
#[derive(Debug)]
pub struct AgeLimited<S> {
    #[pin]
    inner: S,
    // Times the write-side calls; `None` for `BufferAgeLimit::Unlimited`.
    clock: Option<StallClock>,
}

impl<S> AgeLimited<S> {
    /// Wraps `inner`, failing writes that wait longer than `limit`.
    pub fn new(inner: S, limit: BufferAgeLimit) -> Self {
        let clock = match limit {
            BufferAgeLimit::AtMost(limit) => Some(StallClock::new(limit)),
            BufferAgeLimit::Unlimited => None,
        };
        AgeLimited { inner, clock }
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

    /// Passes a write-side poll through, timing it while it makes no progress.
    fn timed<T>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let this = self.project();
        match this.clock {
            Some(clock) => {
                clock.poll(cx, |cx| op(this.inner, cx), |limit| BufferAgeLimitExceeded { limit })
            }
            None => op(this.inner, cx),
        }
    }
}

impl<S: AsyncRead> AsyncRead for AgeLimited<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl<S: AsyncWrite> AsyncWrite for AgeLimited<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.timed(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.timed(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.timed(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.timed(cx, |inner, cx| inner.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_stalled_write_fails_at_the_limit_and_stays_failed() {
        // A pipe of 4 bytes that nobody reads: the fifth byte can never be written.
        let (_reader, writer) = tokio::io::duplex(4);
        let limit = Duration::from_millis(200);
        let mut stream = AgeLimited::new(writer, BufferAgeLimit::AtMost(limit));
        stream.write_all(b"1234").await.expect("fits the pipe");

        let started = Instant::now();
        let error = stream.write_all(b"5").await.expect_err("the peer never reads");
        assert_eq!(started.elapsed(), limit);
        assert_eq!(BufferAgeLimitExceeded::find(&error).map(|e| e.limit()), Some(limit));
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let again = stream.flush().await.expect_err("the failure is sticky");
        assert!(BufferAgeLimitExceeded::find(&again).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn progress_restarts_the_clock() {
        use tokio::io::AsyncReadExt;
        let (mut reader, writer) = tokio::io::duplex(1);
        let mut stream =
            AgeLimited::new(writer, BufferAgeLimit::AtMost(Duration::from_millis(100)));
        let slow_reader = tokio::spawn(async move {
            let mut byte = [0; 1];
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(60)).await;
                reader.read_exact(&mut byte).await.expect("a byte");
            }
        });
        // Each byte waits 60 ms, under the limit, though the whole write takes longer.
        stream.write_all(b"abcde").await.expect("a slow peer that reads is not cut off");
        slow_reader.await.expect("the reader finished");
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_fails() {
        let (_reader, writer) = tokio::io::duplex(1);
        let mut stream = AgeLimited::new(writer, BufferAgeLimit::Unlimited);
        stream.write_all(b"a").await.expect("fits");
        let blocked = tokio::time::timeout(Duration::from_secs(3600), stream.write_all(b"b")).await;
        assert!(blocked.is_err(), "still waiting after an hour");
    }

    #[tokio::test(start_paused = true)]
    async fn a_limit_too_large_to_add_to_the_clock_waits_like_unlimited() {
        let (_reader, writer) = tokio::io::duplex(1);
        let mut stream = AgeLimited::new(writer, BufferAgeLimit::AtMost(Duration::MAX));
        stream.write_all(b"a").await.expect("fits");
        let blocked = tokio::time::timeout(Duration::from_secs(3600), stream.write_all(b"b")).await;
        assert!(blocked.is_err(), "still waiting after an hour, and no panic");
    }
}
