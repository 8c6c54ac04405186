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
//! Pausing is the listener's state, so the accept loop does it: the handle says what it
//! wants (`pause_wanted`) and wakes the loop through the closed switch; the loop stops or
//! starts listening and says what it did (`listening`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// A wish to pause, resume or retire.
    Wish,
}

/// Whether the server listens, as the accept loop last left it.
#[derive(Clone, Debug)]
pub(crate) enum Listening {
    Yes,
    Paused,
    /// No longer accepting: the socket was handed over.
    Retired,
    /// A pause or resume failed; `paused` is where it stays.
    Failed {
        paused: bool,
        error: Arc<std::io::Error>,
    },
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
    pause_wanted: AtomicBool,
    // Set once the socket is handed over: the loop stops accepting, leaving it be.
    retire_wanted: AtomicBool,
    listening: watch::Sender<Listening>,
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
            pause_wanted: AtomicBool::new(false),
            retire_wanted: AtomicBool::new(false),
            listening: watch::Sender::new(Listening::Yes),
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

    /// Asks the accept loop to stop (`true`) or start (`false`) listening, and returns a
    /// receiver of what it does.
    pub(crate) fn want_paused(&self, paused: bool) -> watch::Receiver<Listening> {
        let listening = self.listening.subscribe();
        self.pause_wanted.store(paused, Ordering::SeqCst);
        self.closed.wake();
        listening
    }

    /// Asks the accept loop to stop accepting for good, without touching the socket (another
    /// process accepts on it now), and returns a receiver of what it does. Unlike a close,
    /// this leaves no connection taken from the shared backlog and then dropped.
    pub(crate) fn want_retired(&self) -> watch::Receiver<Listening> {
        let listening = self.listening.subscribe();
        self.retire_wanted.store(true, Ordering::SeqCst);
        self.closed.wake();
        listening
    }

    pub(crate) fn retire_wanted(&self) -> bool {
        self.retire_wanted.load(Ordering::SeqCst)
    }

    pub(crate) fn pause_wanted(&self) -> bool {
        self.pause_wanted.load(Ordering::SeqCst)
    }

    /// The accept loop says what it did: a failed pause or resume also drops the wish.
    pub(crate) fn set_listening(&self, listening: Listening) {
        if let Listening::Failed { paused, .. } = &listening {
            self.pause_wanted.store(*paused, Ordering::SeqCst);
        }
        self.listening.send_replace(listening);
    }

    pub(crate) fn listening(&self) -> Listening {
        self.listening.borrow().clone()
    }

    /// What the accept loop must do next: stop because the server closed, or follow a new
    /// wish about pausing; otherwise wakes `cx` when either comes.
    pub(crate) fn poll_event(
        &self,
        watch: &mut Watch,
        cx: &mut Context<'_>,
        paused: bool,
    ) -> Poll<Event> {
        for registered in [false, true] {
            if self.is_closed() {
                return Poll::Ready(Event::Closed);
            }
            if self.pause_wanted() != paused || self.retire_wanted() {
                return Poll::Ready(Event::Wish);
            }
            if !registered {
                // Checked again after registering: a change in between woke this waker.
                watch.register_waker(cx);
            }
        }
        Poll::Pending
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
