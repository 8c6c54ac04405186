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
//! how (`followed`), so each caller waits for its own. Callers also wait on the closed
//! switch: once the server is closed, the loop follows no more wishes.

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
use crate::shutdown::{ExistingConnections, Readiness};
use crate::switch::{Switch, Watch};
use crate::timer::Timer;

/// The `closed` switch's level once the server is closed.
pub(crate) const CLOSED: u8 = 1;

/// What the server's owner wants of the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wish {
    Listen,
    Pause,
    /// Stop accepting for good, without touching the socket: another process accepts on it.
    Retire,
}

impl Wish {
    /// The wish numbered `seq`, in one word: the number above two bits of wish.
    fn pack(self, seq: u64) -> u64 {
        let wish = match self {
            Wish::Listen => 0,
            Wish::Pause => 1,
            Wish::Retire => 2,
        };
        seq << 2 | wish
    }

    /// The number and the wish packed in `word`.
    fn unpack(word: u64) -> (u64, Wish) {
        let wish = match word & 0b11 {
            0 => Wish::Listen,
            1 => Wish::Pause,
            _ => Wish::Retire,
        };
        (word >> 2, wish)
    }
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
    // Known only for a socket the crate bound.
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
    // The latest wish and its number, packed in one word (`Wish::pack`): the loop reads it
    // on every turn without a lock.
    wish: AtomicU64,
    followed: watch::Sender<Followed>,
    place: Place<F>,
    graceful: Graceful,
    drop_incoming: DropIncomingSwitch,
    readiness: Readiness,
    // Connections accepted, each one's id: those dropped, and those closed unserved because
    // the server closed as they came, included.
    accepted: AtomicU64,
    // Connections a layer closed for bad input (see `Dispatch::reject`).
    rejected: AtomicU64,
    failures: Arc<AtomicU64>,
    limits: Limits,
    timer: Timer,
}

/// The policies' state a core reports on, as the acceptor made it, and how it sleeps.
pub(crate) struct Parts {
    pub(crate) graceful: Graceful,
    pub(crate) drop_incoming: DropIncomingSwitch,
    pub(crate) readiness: Readiness,
    pub(crate) failures: Arc<AtomicU64>,
    pub(crate) limits: Limits,
    pub(crate) timer: Timer,
}

impl<F: Family> Core<F> {
    pub(crate) fn new(
        listener: &Arc<Live<F>>,
        listener_closed: CancellationToken,
        place: Place<F>,
        parts: Parts,
    ) -> Self {
        let Parts { graceful, drop_incoming, readiness, failures, limits, timer } = parts;
        Core {
            dispatch: ReentrantMutex::new(()),
            closed: Arc::default(),
            stopped_by: Mutex::new(None),
            listener_closed,
            listener: Mutex::new(Arc::downgrade(listener)),
            wish: AtomicU64::new(Wish::Listen.pack(0)),
            followed: watch::Sender::new(Followed {
                seq: 0,
                listening: Listening::Yes,
                error: None,
            }),
            place,
            graceful,
            drop_incoming,
            readiness,
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failures,
            limits,
            timer,
        }
    }

    /// Counts a connection accepted, and gives its id.
    pub(crate) fn next_id(&self) -> u64 {
        self.accepted.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Runs `call` (the service's) unless the server has closed; then `None`, and the
    /// connection is to be dropped.
    pub(crate) fn dispatch<R>(&self, call: impl FnOnce() -> R) -> Option<R> {
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
    /// loop does, or `None` once the socket is handed over (`Retire`): no wish is taken after
    /// that one.
    pub(crate) fn want(&self, wish: Wish) -> Option<(u64, watch::Receiver<Followed>)> {
        let followed = self.followed.subscribe();
        let latest = self
            .wish
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |word| match Wish::unpack(word) {
                (_, Wish::Retire) => None,
                (seq, _) => Some(wish.pack(seq + 1)),
            })
            .ok()?;
        self.closed.wake();
        Some((Wish::unpack(latest).0 + 1, followed))
    }

    /// The latest wish and its number.
    pub(crate) fn wish(&self) -> (u64, Wish) {
        Wish::unpack(self.wish.load(Ordering::SeqCst))
    }

    /// The accept loop says what it did about the wish numbered `followed.seq`.
    pub(crate) fn followed(&self, followed: Followed) {
        self.followed.send_replace(followed);
    }

    pub(crate) fn listening(&self) -> Listening {
        self.followed.borrow().listening
    }

    /// Whether the accept loop has something to react to: the server closed, or a wish
    /// newer than the one numbered `followed`.
    pub(crate) fn has_event(&self, followed: u64) -> bool {
        self.is_closed() || self.wish().0 != followed
    }

    /// Ready once [`has_event`](Self::has_event); until then wakes `cx` when it may be.
    pub(crate) fn poll_event(
        &self,
        watch: &mut Watch,
        cx: &mut Context<'_>,
        followed: u64,
    ) -> Poll<()> {
        if self.has_event(followed) {
            return Poll::Ready(());
        }
        watch.register_waker(cx);
        // Checked again after registering: a change in between woke this waker.
        if self.has_event(followed) {
            Poll::Ready(())
        } else {
            Poll::Pending
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

    pub(crate) fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// How the server sleeps (the accept back-off, a drain's deadline).
    pub(crate) fn timer(&self) -> Timer {
        self.timer
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
        self.dispatch(call).is_some()
    }

    fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    fn shutdown_signal(&self) -> ShutdownSignal {
        self.graceful.signal()
    }
}
