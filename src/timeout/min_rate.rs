//! The minimum transfer rate: a client that sends too slowly (slowloris).

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

/// Fails a connection whose client sends fewer than `bytes` bytes in a `window` of reads
/// pending: a slowloris client, which keeps a connection (and its slot in
/// `max_connections`) alive by dripping a byte now and then, before any idle or read
/// timeout can fire. Its stream's reads return [`BelowMinRate`] (see [`WithMinRate`]).
///
/// Not for HTTP: hyper keeps a read pending while the server works on a request, so a
/// handler slower than a window fails its own connection. Use
/// [`Http::header_read_timeout`](crate::http::Http::header_read_timeout) and
/// [`MaxLifetimeLayer`](super::MaxLifetimeLayer) there (see [the module](super) on which
/// reads count as waiting).
///
/// ```
/// use std::time::Duration;
/// use tcp_serve::timeout::MinRateLayer;
/// use tcp_serve::{Serve, WhereToListen};
///
/// // At least 1 kB per 10 s of waiting for the client.
/// let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
///     .layer(MinRateLayer::new(1024, Duration::from_secs(10)));
/// # let _ = serve;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MinRateLayer {
    bytes: u64,
    window: Duration,
}

impl MinRateLayer {
    /// A layer failing connections whose client sends fewer than `bytes` bytes per
    /// `window` of reads pending.
    ///
    /// A rate of zero bytes, or per a zero window, asks for no minimum rate: the layer
    /// passes reads through untouched (a `0` read from a configuration file turns it off).
    pub fn new(bytes: u64, window: Duration) -> Self {
        MinRateLayer { bytes, window }
    }
}

impl<S> Layer<S> for MinRateLayer {
    type Service = TimeoutService<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::new(inner, *self)
    }
}

impl<Io> WrapStream<Io> for MinRateLayer {
    type Stream = WithMinRate<Io>;

    fn wrap(&self, io: Io) -> WithMinRate<Io> {
        WithMinRate::new(io, self.bytes, self.window)
    }
}

/// A stream whose reads fail when the peer sends fewer than a number of bytes per window
/// of reads pending.
///
/// Only time in which a read is pending counts: while no read is, the clock stands still.
/// It counts whoever holds the read and why: a read that a protocol driver parks while the
/// server works (hyper does during every HTTP request), and a read that is dropped (by
/// `select!` or `timeout`) and retried, whose wait goes on from where the dropped one
/// began. Each `window` of pending reads must bring `bytes` bytes (those that were already
/// there when a read came count too); otherwise the read pending, or the next one, and
/// every later one fail with an [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut)
/// carrying [`BelowMinRate`]. So a client that sends nothing while a read is pending fails
/// after one window, like a read timeout of `window`. Writes pass through (a client that
/// does not read is [`BufferAgeLimit`](crate::io::BufferAgeLimit)'s business).
///
/// A read that returns at once costs an addition; a wait costs a clock reading at its
/// start and its end.
#[pin_project(project = Projected)]
#[derive(Debug)]
pub struct WithMinRate<S> {
    #[pin]
    inner: S,
    bytes: u64,
    window: Duration,
    // The current window: how long reads have waited in it (always less than `window`
    // between polls), and the bytes they got. `bytes == 0`: no minimum rate.
    waited: Duration,
    received: u64,
    // When the read now waiting began to wait.
    waiting_since: Option<Instant>,
    timer: Timer,
    expired: bool,
}

impl<S> WithMinRate<S> {
    /// Wraps `inner`, requiring `bytes` bytes per `window` of reads pending.
    ///
    /// A rate of zero bytes, or per a zero window, asks for no minimum rate: reads pass
    /// through untouched.
    pub fn new(inner: S, bytes: u64, window: Duration) -> Self {
        WithMinRate {
            inner,
            // A zero window has no rate to measure: like zero bytes, it asks for none.
            bytes: if window.is_zero() { 0 } else { bytes },
            window,
            waited: Duration::ZERO,
            received: 0,
            waiting_since: None,
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

impl<S> Projected<'_, S> {
    fn error(&self) -> io::Error {
        clock::timed_out(BelowMinRate { bytes: *self.bytes, window: *self.window })
    }

    /// A window of waiting is over: a new one begins if it brought enough bytes, else the
    /// stream fails; whether it did.
    fn window_passed(&mut self) -> bool {
        if *self.received < *self.bytes {
            *self.expired = true;
            return false;
        }
        *self.waited = Duration::ZERO;
        *self.received = 0;
        true
    }
}

impl<S: AsyncRead> AsyncRead for WithMinRate<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        if *this.bytes == 0 {
            return this.inner.poll_read(cx, buf);
        }
        if *this.expired {
            return Poll::Ready(Err(this.error()));
        }
        let before = buf.filled().len();
        if let Poll::Ready(result) = this.inner.as_mut().poll_read(cx, buf) {
            *this.received = this.received.saturating_add((buf.filled().len() - before) as u64);
            if let Some(since) = this.waiting_since.take() {
                *this.waited = this.waited.saturating_add(since.elapsed());
                // The window ended during this wait: judged now, with what just came, and
                // a failure is the next read's.
                if *this.waited >= *this.window {
                    this.window_passed();
                }
            }
            return Poll::Ready(result);
        }
        let mut since = *this.waiting_since.get_or_insert_with(Instant::now);
        loop {
            let window_end = clock::deadline(since, this.window.saturating_sub(*this.waited));
            ready!(this.timer.poll_until(cx, window_end));
            if !this.window_passed() {
                return Poll::Ready(Err(this.error()));
            }
            // The wait goes on, in a new window that began when the last one ended.
            since = window_end;
            *this.waiting_since = Some(since);
        }
    }
}

forward_async_write!(WithMinRate, inner);

/// The error of a stream whose client sent fewer bytes per window than its
/// [`MinRateLayer`] asks.
///
/// It comes inside an [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut); find it
/// with [`BelowMinRate::find`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BelowMinRate {
    bytes: u64,
    window: Duration,
}

impl BelowMinRate {
    /// The bytes each window had to bring.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The window: how long reads were pending for them.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The `BelowMinRate` in `error` (an [`io::Error`], a handler's error, or one of their
    /// sources), if that is what it is.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        crate::chain::find(error)
    }
}

impl fmt::Display for BelowMinRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "minimum rate of {} bytes per {:?} of waiting not met: the client sends too slowly",
            self.bytes, self.window
        )
    }
}

impl std::error::Error for BelowMinRate {}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const BYTES: u64 = 4;
    const WINDOW: Duration = Duration::from_secs(2);

    /// Writes `bytes` one at a time, `every` apart, then holds the connection open.
    fn drip(mut peer: DuplexStream, bytes: usize, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            for _ in 0..bytes {
                tokio::time::sleep(every).await;
                if peer.write_all(b"x").await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_drip_below_the_rate_fails_at_the_end_of_the_first_window() {
        let (peer, server) = tokio::io::duplex(64);
        let mut stream = WithMinRate::new(server, BYTES, WINDOW);
        let _dripping = drip(peer, usize::MAX, Duration::from_millis(700));
        let started = Instant::now();
        let mut buf = [0; 8];
        let error = loop {
            match stream.read(&mut buf).await {
                Ok(n) => assert_eq!(n, 1),
                Err(error) => break error,
            }
        };
        assert_eq!(started.elapsed(), WINDOW, "2 bytes in the first 2 s of waiting");
        let below = BelowMinRate::find(&error).expect("the typed error");
        assert_eq!((below.bytes(), below.window()), (BYTES, WINDOW));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_at_the_rate_is_served_however_long_it_takes() {
        let (peer, server) = tokio::io::duplex(64);
        let mut stream = WithMinRate::new(server, BYTES, WINDOW);
        let _dripping = drip(peer, 40, Duration::from_millis(400));
        let mut got = vec![0; 40];
        stream.read_exact(&mut got).await.expect("5 bytes per 2 s is enough");
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_handler_spends_elsewhere_does_not_count() {
        let (mut peer, server) = tokio::io::duplex(64);
        let mut stream = WithMinRate::new(server, BYTES, WINDOW);
        peer.write_all(b"x").await.unwrap();
        // One byte, read at once, then a long time working: no waiting, no window.
        assert_eq!(stream.read(&mut [0; 8]).await.unwrap(), 1);
        tokio::time::advance(WINDOW * 10).await;
        peer.write_all(b"yyy").await.unwrap();
        assert_eq!(stream.read(&mut [0; 8]).await.unwrap(), 3);
        // Now it waits for more than a window: 4 bytes came, so a new window begins.
        let started = Instant::now();
        let error = stream.read(&mut [0; 8]).await.expect_err("nothing more comes");
        assert_eq!(started.elapsed(), WINDOW * 2);
        assert!(BelowMinRate::find(&error).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_rate_or_a_zero_window_asks_for_no_rate() {
        for (bytes, window) in [(BYTES, Duration::ZERO), (0, WINDOW), (0, Duration::ZERO)] {
            let (mut peer, server) = tokio::io::duplex(64);
            let mut stream = WithMinRate::new(server, bytes, window);
            let mut buf = [0; 8];
            let waiting = tokio::time::timeout(Duration::from_secs(3600), stream.read(&mut buf));
            assert!(waiting.await.is_err(), "({bytes}, {window:?}): waiting after an hour");
            peer.write_all(b"x").await.unwrap();
            assert_eq!(stream.read(&mut buf).await.unwrap(), 1, "({bytes}, {window:?})");
        }
    }
}
