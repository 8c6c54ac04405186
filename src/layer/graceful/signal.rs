use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

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
/// time it waits, and from then on [`requested`](Self::requested) costs an atomic load per
/// poll. Clone it once per connection and keep the clone for the connection's life:
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
///     .serve(service_fn(move |(_peer, mut stream): Connection<Inet>| {
///         let mut shutdown = shutdown.clone();
///         async move {
///             let mut buf = vec![0; 16 * 1024];
///             loop {
///                 let n = tokio::select! {
///                     biased;
///                     () = shutdown.requested() => 0, // a drain: stop reading, say goodbye
///                     n = stream.read(&mut buf) => n?,
///                 };
///                 if n == 0 {
///                     return stream.shutdown().await;
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
