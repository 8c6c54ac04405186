//! The accept loop: ask the service stack to be ready, accept, call, spawn.
//!
//! Back-pressure is the stack's `poll_ready`: at `max_connections` the concurrency limit is
//! not ready, so no `accept(2)` is made and clients wait in the kernel's backlog, as the
//! seed promises. After one accept that may wait, up to `max_accepts_per_batch - 1` more
//! are taken while connections are pending and the stack stays ready; after a full batch
//! the loop yields, so the handlers it spawned get to run.

use std::future::{poll_fn, Future};
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tower::{Service, ServiceExt};
use tracing::Instrument;

use super::errors::{classify, AcceptError, Backoff};
use super::task::{Connection, Guarded};
use crate::error::{BoxError, ServerError};
use crate::family::sys::Paused;
use crate::family::Family;
use crate::listener::Live;
use crate::listener::DEFAULT_BACKLOG;
use crate::server::core::{Core, Followed, Listening, Wish, CLOSED};
use crate::switch::Watch;

/// How often "at max_connections" is logged while the server stays at its limit.
const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(60);

pub(super) struct AcceptLoop<F: Family, S> {
    core: Arc<Core<F>>,
    // The loop's own reference is the listener's only strong one: the fd closes when the
    // loop ends (or when the last view of it is dropped after that).
    listener: Arc<Live<F>>,
    service: S,
    nodelay: bool,
    // What resuming needs, while the listener is paused.
    paused: Option<Paused>,
    // Whether the socket was handed over: then the loop accepts no more.
    retired: bool,
    // The number of the last wish followed.
    followed: u64,
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

impl<F, S> AcceptLoop<F, S>
where
    F: Family,
    S: Service<(F::Addr, F::Stream), Response = ()> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    pub(super) fn new(
        core: Arc<Core<F>>,
        listener: Arc<Live<F>>,
        service: S,
        nodelay: bool,
    ) -> Self {
        AcceptLoop {
            core,
            listener,
            service,
            nodelay,
            paused: None,
            retired: false,
            followed: 0,
            backoff: Backoff::default(),
            limit_logged_at: None,
        }
    }

    /// Runs the loop as a task that stops the server if the loop panics.
    pub(super) fn spawn(self) {
        let core = Arc::clone(&self.core);
        tokio::spawn(Guarded::new(self.run(), core));
    }

    async fn run(mut self) {
        let core = Arc::clone(&self.core);
        // Polled on every turn, so a cheap watch rather than cancellation futures; one for
        // every wait on the closed switch, none of which overlaps another.
        let mut events = core.closed_watch();
        while !core.is_closed() {
            if core.has_event(self.followed) {
                self.follow_wish();
                continue;
            }
            match self.listening() {
                Listening::Yes => {}
                // Not listening: nothing to accept until the server closes or resumes.
                Listening::Paused => {
                    poll_fn(|cx| core.poll_event(&mut events, cx, self.followed)).await;
                    continue;
                }
                // The socket is another process's now: accept no more; wait for the close.
                Listening::Retired => {
                    events.reached(CLOSED).await;
                    break;
                }
            }
            self.note_limit();
            let ready = self.service.ready();
            let Some(ready) = interruptible(&core, &mut events, self.followed, ready).await else {
                continue;
            };
            let ready = ready.map(drop);
            if !self.stays_ready(ready) {
                break;
            }
            let (listener, nodelay) = (&self.listener, self.nodelay);
            let mut waited = false;
            let accepting = poll_fn(|cx| {
                let polled = F::poll_accept(listener.io(), cx, nodelay);
                waited |= polled.is_pending();
                polled
            });
            let Some(accepted) = interruptible(&core, &mut events, self.followed, accepting).await
            else {
                continue;
            };
            match accepted {
                Ok(connection) => {
                    self.backoff.reset();
                    // Readiness seen before a wait may be stale (a load shedder that saw the
                    // limit full before the wait would refuse a connection the limit now
                    // has room for): ask again. A permit taken before the wait is kept. The
                    // connection is in hand: only a close may drop it now, not a wish to
                    // pause or to hand the socket over.
                    if waited {
                        let ready = self.service.ready();
                        let ready = tokio::select! {
                            biased;
                            () = events.reached(CLOSED) => break,
                            ready = ready => ready.map(drop),
                        };
                        if !self.stays_ready(ready) {
                            break;
                        }
                    }
                    if !self.dispatch(connection) {
                        break;
                    }
                }
                Err(error) => {
                    if let Some(pause) = self.accept_failed(error) {
                        let sleep = core.timer().sleep(pause);
                        interruptible(&core, &mut events, self.followed, sleep).await;
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
    }

    /// Whether the stack is ready; if it failed to be, stops the server with its error.
    fn stays_ready<E: Into<BoxError>>(&self, ready: Result<(), E>) -> bool {
        let Err(error) = ready else { return true };
        let error: BoxError = error.into();
        tracing::error!(
            error = &*error as &dyn std::error::Error,
            "the service stack failed to become ready; stopping"
        );
        self.core.stop(ServerError::NotReady { source: Arc::from(error) });
        false
    }

    /// Whether the loop listens, as it has left the socket.
    fn listening(&self) -> Listening {
        match (self.retired, &self.paused) {
            (true, _) => Listening::Retired,
            (false, Some(_)) => Listening::Paused,
            (false, None) => Listening::Yes,
        }
    }

    /// Follows the latest wish of the server's owner, and says how it went.
    fn follow_wish(&mut self) {
        let (seq, wish) = self.core.wish();
        let place = self.core.place();
        let endpoint = &place.endpoint;
        let error = match (wish, self.paused.take()) {
            (Wish::Retire, paused) => {
                self.paused = paused;
                self.retired = true;
                None
            }
            (Wish::Pause, None) => match F::pause(self.listener.io(), place) {
                Ok(paused) => {
                    tracing::info!(%endpoint, "paused: not listening");
                    self.paused = Some(paused);
                    None
                }
                Err(error) => {
                    tracing::warn!(
                        %endpoint,
                        error = &error as &dyn std::error::Error,
                        "could not pause; still listening"
                    );
                    Some(error)
                }
            },
            (Wish::Listen, Some(paused)) => {
                let backlog = self.core.limits().backlog.unwrap_or(DEFAULT_BACKLOG);
                let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
                match F::resume(self.listener.io(), place, backlog, &paused) {
                    Ok(io) => {
                        let listener = Arc::new(self.listener.succeeded_by(io));
                        self.core.set_listener(&listener);
                        self.listener = listener;
                        tracing::info!(%endpoint, "listening again");
                        None
                    }
                    Err(error) => {
                        tracing::warn!(
                            %endpoint,
                            error = &error as &dyn std::error::Error,
                            "could not listen again; still paused"
                        );
                        self.paused = Some(paused);
                        Some(error)
                    }
                }
            }
            // Already as wished.
            (Wish::Pause, paused @ Some(_)) | (Wish::Listen, paused @ None) => {
                self.paused = paused;
                None
            }
        };
        self.followed = seq;
        let listening = self.listening();
        self.core.followed(Followed { seq, listening, error: error.map(Arc::new) });
    }

    /// Takes up to `max_accepts_per_batch - 1` more connections without waiting.
    fn accept_more(&mut self, cx: &mut Context<'_>) -> Batch {
        for _ in 1..self.core.limits().max_accepts_per_batch {
            if !matches!(self.service.poll_ready(cx), Poll::Ready(Ok(()))) {
                return Batch::Short;
            }
            match F::poll_accept(self.listener.io(), cx, self.nodelay) {
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
        let service = &mut self.service;
        let id = self.core.next_id();
        // Made before the dispatch lock is taken, which a close and the calls deferred by
        // layers (`Dispatch`) wait for: a subscriber formats the fields here. Checked first:
        // even a disabled span costs something per connection, and so does every poll of a
        // future instrumented with one.
        let span = tracing::enabled!(tracing::Level::INFO).then(|| {
            // `client` is for a layer that learns who the client really is (a PROXY header
            // names it) to record.
            tracing::info_span!("connection", id, peer = ?peer, client = tracing::field::Empty)
        });
        let called = self.core.dispatch(|| {
            let call = || {
                tracing::debug!("accepted");
                service.call((peer.clone(), stream))
            };
            match &span {
                Some(span) => span.in_scope(call),
                None => call(),
            }
        });
        let Some(future) = called else { return false };
        let connection = Connection::new(future, Arc::clone(&self.core), peer);
        match span {
            Some(span) => drop(tokio::spawn(connection.instrument(span))),
            None => drop(tokio::spawn(connection)),
        }
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
        let max = self.core.limits().max_connections;
        if self.core.graceful().count() < max {
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

/// Awaits `future`, unless the server closes or its owner wants the pause state changed
/// first: then `None`, and the loop starts its turn again.
async fn interruptible<F: Family, T>(
    core: &Core<F>,
    events: &mut Watch,
    followed: u64,
    future: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        _ = poll_fn(|cx| core.poll_event(events, cx, followed)) => None,
        value = future => Some(value),
    }
}
