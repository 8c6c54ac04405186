use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tokio::io::{AsyncRead, ReadBuf};

use super::handle::DRAINING;
use crate::switch::Watch;

/// Tells handlers that the server has begun a graceful drain, so they can finish the
/// request in hand and end the connection before the deadline closes it.
///
/// Get one from [`Serve::shutdown_signal`](crate::Serve::shutdown_signal) before the server
/// starts (to move into your service), from
/// [`Server::shutdown_signal`](crate::Server::shutdown_signal), or from a
/// [`Graceful`](super::Graceful). It can watch, not trigger.
///
/// Watching is cheap enough for every read: each clone registers its task's waker the first
/// time it waits, and from then on a poll costs an atomic load and a comparison of wakers.
/// Two ways to watch, for one clone per connection:
///
/// - [`until_drain`](Self::until_drain) wraps the connection's stream so that its reads end,
///   as at the client's EOF, once a drain begins: a byte or codec-framed protocol then
///   ends its loop the way it does when the client leaves. The cheapest, and the pattern
///   `examples/echo.rs` shows.
/// - [`requested`](Self::requested) is a future for `tokio::select!`, for a handler that
///   must do something on a drain (send a goodbye, start an HTTP connection's graceful
///   shutdown).
///
/// ```
/// use tcp_serve::{service_fn, Connection, Inet, Serve, WhereToListen};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tcp_serve::Error> {
/// let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os());
/// let shutdown = serve.shutdown_signal();
/// let server = serve
///     .serve(service_fn(move |(_peer, stream): Connection<Inet>| {
///         // Reads see the end of the stream when a drain begins.
///         let mut stream = shutdown.clone().until_drain(stream);
///         async move {
///             let mut buf = vec![0; 16 * 1024];
///             loop {
///                 let n = stream.read(&mut buf).await?;
///                 if n == 0 {
///                     return Ok::<_, std::io::Error>(());
///                 }
///                 stream.write_all(&buf[..n]).await?;
///             }
///         }
///     }))
///     .await?;
/// # server.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ShutdownSignal {
    watch: Watch,
}

impl ShutdownSignal {
    pub(super) fn new(watch: Watch) -> Self {
        ShutdownSignal { watch }
    }

    /// Whether a drain has begun.
    pub fn is_requested(&self) -> bool {
        self.watch.level() >= DRAINING
    }

    /// Resolves once a drain has begun (at once if it already has).
    pub fn requested(&mut self) -> Requested<'_> {
        Requested { watch: &mut self.watch }
    }

    /// `stream`, whose reads end (read 0 bytes, as at EOF) once a drain has begun; writes
    /// pass through. Bytes a read has returned were read whole: a drain ends the stream
    /// between reads, never in the middle of one.
    pub fn until_drain<S>(self, stream: S) -> UntilDrain<S> {
        UntilDrain { stream, watch: self.watch }
    }
}

/// A stream whose reads end once a drain has begun; see [`ShutdownSignal::until_drain`].
#[pin_project]
pub struct UntilDrain<S> {
    #[pin]
    stream: S,
    watch: Watch,
}

impl<S> UntilDrain<S> {
    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: AsyncRead> AsyncRead for UntilDrain<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if this.watch.level() >= DRAINING {
            return Poll::Ready(Ok(()));
        }
        match this.stream.poll_read(cx, buf) {
            Poll::Pending => this.watch.poll_level(cx, DRAINING).map(Ok),
            ready => ready,
        }
    }
}

forward_async_write!(UntilDrain, stream);

impl<S: fmt::Debug> fmt::Debug for UntilDrain<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntilDrain")
            .field("stream", &self.stream)
            .field("drained", &(self.watch.level() >= DRAINING))
            .finish()
    }
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal").field("requested", &self.is_requested()).finish()
    }
}

/// The future of [`ShutdownSignal::requested`].
#[must_use = "futures do nothing unless polled"]
pub struct Requested<'a> {
    watch: &'a mut Watch,
}

impl Future for Requested<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.watch.poll_level(cx, DRAINING)
    }
}

impl fmt::Debug for Requested<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Requested").finish_non_exhaustive()
    }
}
