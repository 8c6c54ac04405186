//! The close protocol, in one place: how a connection is dispatched, how the server closes,
//! and how it stops itself.
//!
//! Three pieces, each with one job:
//! - `dispatch`, a lock held only around the closed-check and the call of the service.
//!   `close` sets the closed switch under it, so once `close` has returned no call starts.
//!   Reentrant, so a service's `call` may close its own server.
//! - `closed`, a switch that is the server's closed flag and wakes the accept loop.
//! - the listener, owned by the accept loop alone; the core keeps a weak reference for
//!   views of it, and learns it has closed through `listener_closed`.
//!
//! Pausing is the listener's state, so the accept loop does it: the handle numbers what it
//! wants (`wish`: listen, pause, or stop accepting for good after a hand-over) and wakes the
//! loop through the closed switch; the loop does it and says which wish it has followed and
//! how (`followed`), so each caller waits for its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use parking_lot::{Mutex, ReentrantMutex};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::dispatch::Gate;
use crate::error::ServerError;
use crate::family::sys::Place;
use crate::family::Family;
use crate::layer::graceful::ShutdownSignal;
use crate::layer::{DropIncomingSwitch, Graceful};
use crate::listener::{ListeningSocket, Live};
use crate::shutdown::ExistingConnections;
use crate::switch::{Switch, Watch};

/// The `closed` switch's level once the server is closed.
pub(crate) const CLOSED: u8 = 1;

/// What the accept loop has to react to.
pub(crate) enum Event {
    Closed,
    /// A new wish to follow.
    Wish,
}

/// What the server's owner wants of the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wish {
    Listen,
    Pause,
    /// Stop accepting for good, without touching the socket: another process accepts on it.
    Retire,
}

/// Whether the accept loop listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listening {
    Yes,
    Paused,
    Retired,
}

/// What the accept loop did about the wish numbered `seq` (and every one before it).
#[derive(Clone, Debug)]
pub(crate) struct Followed {
    pub(crate) seq: u64,
    pub(crate) listening: Listening,
    // Why the wish could not be followed, if it could not.
    pub(crate) error: Option<Arc<std::io::Error>>,
}

/// The limits a server runs with, all at least 1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) max_accepts_per_batch: usize,
    // Known only for a socket the server bound itself.
    pub(crate) backlog: Option<usize>,
}

/// What the [`Server`](super::Server) handle, the accept loop and the layers made by the
/// acceptor share.
pub(crate) struct Core<F: Family> {
    dispatch: ReentrantMutex<()>,
    closed: Arc<Switch>,
    // Why the server stopped, if it stopped itself rather than being closed.
    stopped_by: Mutex<Option<ServerError<F::Addr>>>,
    // Cancelled once the listening fd is closed (the listener's drop guard does it).
    listener_closed: CancellationToken,
    // The listener the accept loop owns now (it changes when a pause ends).
    listener: Mutex<Weak<Live<F>>>,
    // The latest wish and its number; the number alone, for the loop's check on every turn.
    wish: Mutex<(u64, Wish)>,
    wish_seq: AtomicU64,
    followed: watch::Sender<Followed>,
    place: Place<F>,
    graceful: Graceful,
    drop_incoming: DropIncomingSwitch,
    // Connections handed to the service stack (dropped ones included): each one's id.
    accepted: AtomicU64,
    // Connections a layer closed for bad input (see `Dispatch::reject`).
    rejected: AtomicU64,
    failures: Arc<AtomicU64>,
    limits: Limits,
}

/// The policies' state a core reports on, as the acceptor made it.
pub(crate) struct Parts {
    pub(crate) graceful: Graceful,
    pub(crate) drop_incoming: DropIncomingSwitch,
    pub(crate) failures: Arc<AtomicU64>,
    pub(crate) limits: Limits,
}

impl<F: Family> Core<F> {
    pub(crate) fn new(
        listener: &Arc<Live<F>>,
        listener_closed: CancellationToken,
        place: Place<F>,
        parts: Parts,
    ) -> Self {
        let Parts { graceful, drop_incoming, failures, limits } = parts;
        Core {
            dispatch: ReentrantMutex::new(()),
            closed: Arc::default(),
            stopped_by: Mutex::new(None),
            listener_closed,
            listener: Mutex::new(Arc::downgrade(listener)),
            wish: Mutex::new((0, Wish::Listen)),
            wish_seq: AtomicU64::new(0),
            followed: watch::Sender::new(Followed {
                seq: 0,
                listening: Listening::Yes,
                error: None,
            }),
            place,
            graceful,
            drop_incoming,
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failures,
            limits,
        }
    }

    /// Runs `call` (the service's) with the id of a new connection, unless the server has
    /// closed; then `None`, and the connection is to be dropped.
    pub(crate) fn dispatch<R>(&self, call: impl FnOnce(u64) -> R) -> Option<R> {
        self.unless_closed(|| call(self.accepted.fetch_add(1, Ordering::Relaxed) + 1))
    }

    fn unless_closed<R>(&self, call: impl FnOnce() -> R) -> Option<R> {
        let _guard = self.dispatch.lock();
        if self.is_closed() {
            return None;
        }
        Some(call())
    }

    /// Stops accepting; with `Close` also ends every live connection. Idempotent, and
    /// `Close` may come in a later call.
    pub(crate) fn close(&self, existing: ExistingConnections) {
        let first = {
            let _guard = self.dispatch.lock();
            self.closed.raise(CLOSED)
        };
        self.graceful.stop_counting_new();
        if existing == ExistingConnections::Close {
            self.graceful.close_all();
        }
        if first {
            tracing::info!(listening_on = ?self.place.listening_on, ?existing, "closing the server");
        }
    }

    /// Stops the server because of `error`, unless it is already closed: the first error
    /// to arrive is the one reported.
    pub(crate) fn stop(&self, error: ServerError<F::Addr>) {
        let _guard = self.dispatch.lock();
        if !self.is_closed() {
            *self.stopped_by.lock() = Some(error);
        }
        self.close(ExistingConnections::Keep);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.level() >= CLOSED
    }

    /// A watch on the closed switch, for the accept loop.
    pub(crate) fn closed_watch(&self) -> Watch {
        Watch::new(Arc::clone(&self.closed))
    }

    pub(crate) fn stopped_by(&self) -> Option<ServerError<F::Addr>> {
        self.stopped_by.lock().clone()
    }

    pub(crate) fn listener_closed(&self) -> &CancellationToken {
        &self.listener_closed
    }

    pub(crate) fn listening_socket(&self) -> Option<ListeningSocket<F>> {
        self.listener.lock().upgrade().map(ListeningSocket::new)
    }

    /// The accept loop's listener from now on.
    pub(crate) fn set_listener(&self, listener: &Arc<Live<F>>) {
        *self.listener.lock() = Arc::downgrade(listener);
    }

    /// Asks the accept loop to follow `wish`; returns its number and a receiver of what the
    /// loop does. Once the socket is handed over (`Retire`), no other wish is taken.
    pub(crate) fn want(&self, wish: Wish) -> (u64, watch::Receiver<Followed>) {
        let followed = self.followed.subscribe();
        let seq = {
            let mut latest = self.wish.lock();
            if latest.1 != Wish::Retire {
                *latest = (latest.0 + 1, wish);
                self.wish_seq.store(latest.0, Ordering::SeqCst);
            }
            latest.0
        };
        self.closed.wake();
        (seq, followed)
    }

    /// The latest wish and its number.
    pub(crate) fn wish(&self) -> (u64, Wish) {
        *self.wish.lock()
    }

    /// The accept loop says what it did about the wish numbered `followed.seq`.
    pub(crate) fn followed(&self, followed: Followed) {
        self.followed.send_replace(followed);
    }

    pub(crate) fn listening(&self) -> Listening {
        self.followed.borrow().listening
    }

    /// What the accept loop must do next, if anything: stop because the server closed, or
    /// follow a wish newer than the one numbered `followed`.
    pub(crate) fn event(&self, followed: u64) -> Option<Event> {
        if self.is_closed() {
            Some(Event::Closed)
        } else if self.wish_seq.load(Ordering::SeqCst) != followed {
            Some(Event::Wish)
        } else {
            None
        }
    }

    /// [`event`](Self::event), or wakes `cx` when there is one.
    pub(crate) fn poll_event(
        &self,
        watch: &mut Watch,
        cx: &mut Context<'_>,
        followed: u64,
    ) -> Poll<Event> {
        if let Some(event) = self.event(followed) {
            return Poll::Ready(event);
        }
        watch.register_waker(cx);
        // Checked again after registering: a change in between woke this waker.
        match self.event(followed) {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }

    pub(crate) fn place(&self) -> &Place<F> {
        &self.place
    }

    pub(crate) fn graceful(&self) -> &Graceful {
        &self.graceful
    }

    pub(crate) fn drop_incoming(&self) -> &DropIncomingSwitch {
        &self.drop_incoming
    }

    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl<F: Family> Gate for Core<F> {
    fn call_unless_closed(&self, call: &mut dyn FnMut()) -> bool {
        self.unless_closed(call).is_some()
    }

    fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    fn shutdown_signal(&self) -> ShutdownSignal {
        self.graceful.signal()
    }
}
