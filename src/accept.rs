//! The accept loop: ask the service stack to be ready, accept, call, spawn.
//!
//! Back-pressure is the stack's `poll_ready`: at `max_connections` the concurrency limit is
//! not ready, so no `accept(2)` is made and clients wait in the kernel's backlog, as the
//! seed promises. After one accept that may wait, up to `max_accepts_per_batch - 1` more
//! are taken while connections are pending and the stack stays ready; after a full batch
//! the acceptor yields, so the handlers it spawned get to run.

use std::future::poll_fn;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustix::io::Errno;
use tokio::time::Instant;
use tower::{Service, ServiceExt};
use tracing::Instrument;

use crate::error::{BoxError, ServerError};
use crate::listen::Family;
use crate::listening_socket::ListenerCell;
use crate::server::Shared;

/// The first pause after an accept error that signals exhaustion; it doubles up to
/// [`ACCEPT_BACKOFF_MAX`] while the errors go on (Go's `net/http` does the same).
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(5);
/// The longest pause between accepts while descriptors or memory are exhausted.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How often "at max_connections" is logged while the server stays at its limit.
const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) struct Acceptor<F: Family, S> {
    shared: Arc<Shared<F>>,
    // The acceptor's own reference; the fd closes when this and the handle's are dropped.
    listener: Arc<ListenerCell<F>>,
    service: S,
    backoff: Backoff,
    limit_logged_at: Option<Instant>,
}

/// How a batch of non-waiting accepts ended.
enum Batch {
    /// `max_accepts_per_batch` were taken: yield before taking more.
    Full,
    /// No connection was pending, the stack was not ready, or an accept failed.
    Short,
    /// The server closed.
    Closed,
}

impl<F, S> Acceptor<F, S>
where
    F: Family,
    S: Service<(F::Addr, F::Stream), Response = (), Error = BoxError> + Send + 'static,
    S::Future: Send + 'static,
{
    pub(crate) fn new(shared: Arc<Shared<F>>, listener: Arc<ListenerCell<F>>, service: S) -> Self {
        Acceptor { shared, listener, service, backoff: Backoff::default(), limit_logged_at: None }
    }

    pub(crate) async fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        // Polled on every turn, so a cheap watch rather than a cancellation future.
        let mut stop = shared.stop_accepting.watch();
        loop {
            self.note_limit();
            let ready = tokio::select! {
                biased;
                () = stop.closed() => break,
                ready = self.service.ready() => ready,
            };
            if let Err(error) = ready {
                tracing::error!(%error, "the service stack failed to become ready; stopping");
                shared.stop(ServerError::NotReady { source: Arc::from(error) });
                break;
            }
            let listener = &self.listener.listener;
            let accepted = tokio::select! {
                biased;
                () = stop.closed() => break,
                accepted = poll_fn(|cx| F::poll_accept(listener, cx)) => accepted,
            };
            match accepted {
                Ok(connection) => {
                    self.backoff.reset();
                    if !self.dispatch(connection) {
                        break;
                    }
                }
                Err(error) => {
                    if let Some(pause) = self.accept_failed(error) {
                        tokio::select! {
                            biased;
                            () = stop.closed() => break,
                            () = tokio::time::sleep(pause) => {}
                        }
                    }
                    continue;
                }
            }
            match poll_fn(|cx| Poll::Ready(self.accept_more(cx))).await {
                Batch::Full => tokio::task::yield_now().await,
                Batch::Short => {}
                Batch::Closed => break,
            }
        }
        tracing::debug!(listening_on = ?self.shared.listening_on, "stopped accepting");
    }

    /// Takes up to `max_accepts_per_batch - 1` more connections without waiting.
    fn accept_more(&mut self, cx: &mut Context<'_>) -> Batch {
        for _ in 1..self.shared.limits.max_accepts_per_batch {
            if !matches!(self.service.poll_ready(cx), Poll::Ready(Ok(()))) {
                return Batch::Short;
            }
            match F::poll_accept(&self.listener.listener, cx) {
                Poll::Ready(Ok(connection)) => {
                    if !self.dispatch(connection) {
                        return Batch::Closed;
                    }
                }
                // The loop's own accept meets the error again and handles it.
                Poll::Ready(Err(_)) | Poll::Pending => return Batch::Short,
            }
        }
        Batch::Full
    }

    /// Calls the service with a connection and spawns its future, in a span naming the
    /// peer, unless the server has closed since the accept; then the connection is dropped
    /// and `false` returned.
    fn dispatch(&mut self, (stream, peer): (F::Stream, F::Addr)) -> bool {
        let listener = self.shared.listener.lock();
        if listener.borrow().is_none() {
            return false;
        }
        // The count of connections accepted is also each connection's id.
        let id = self.shared.accepted.fetch_add(1, Ordering::Relaxed) + 1;
        // Checked first: even a disabled span costs something per connection.
        let span = if tracing::enabled!(tracing::Level::INFO) {
            tracing::info_span!("connection", id, peer = ?peer)
        } else {
            tracing::Span::none()
        };
        let future = span.in_scope(|| {
            tracing::debug!("accepted");
            self.service.call((peer, stream))
        });
        drop(listener);
        tokio::spawn(future.instrument(span));
        true
    }

    /// Logs an accept error and says how long to pause before the next accept.
    fn accept_failed(&mut self, error: io::Error) -> Option<Duration> {
        match classify(&error) {
            AcceptError::Connection => {
                tracing::debug!(%error, "a connection failed before it was accepted; skipping it");
                None
            }
            AcceptError::Exhausted => {
                let pause = self.backoff.next();
                tracing::warn!(%error, ?pause, "accept failed; pausing before the next accept");
                Some(pause)
            }
        }
    }

    /// At `max_connections`, says so once a minute, not on every turn of the loop.
    fn note_limit(&mut self) {
        let max = self.shared.limits.max_connections;
        if self.shared.connections.len() < max {
            return;
        }
        let now = Instant::now();
        if self.limit_logged_at.is_none_or(|at| now - at >= LIMIT_LOG_INTERVAL) {
            tracing::info!(
                max_connections = max,
                "at max_connections; accepting again when one ends"
            );
            self.limit_logged_at = Some(now);
        }
    }
}

/// What an `accept(2)` error means for the loop.
#[derive(Debug, PartialEq, Eq)]
enum AcceptError {
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
fn classify(error: &io::Error) -> AcceptError {
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
struct Backoff {
    last: Option<Duration>,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let pause =
            self.last.map_or(ACCEPT_BACKOFF_FIRST, |last| (last * 2).min(ACCEPT_BACKOFF_MAX));
        self.last = Some(pause);
        pause
    }

    fn reset(&mut self) {
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
