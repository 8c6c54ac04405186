//! The handle of a running server: close it, drain it, look inside it.

use std::cell::RefCell;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::{Mutex, ReentrantMutex};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{Endpoint, ServerError};
use crate::layer::{CloseAll, DropIncomingSwitch, ErrorPolicyLayer};
use crate::listen::Family;
use crate::listening_socket::{ListenerCell, ListeningSocket};
use crate::shutdown::{Drained, ExistingConnections, ShutdownSignal};

/// The limits a server was built with, all at least 1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) max_accepts_per_batch: usize,
    pub(crate) backlog: usize,
}

/// The state the handle, the acceptor and the policy layers share.
pub(crate) struct Shared<F: Family> {
    // The listener while the server is open, `None` once closed. `close` takes it under this
    // lock, and the acceptor holds the lock while it checks it and calls the service: once
    // `close` has returned, the handler is never called again. Reentrant, so a service's
    // `call` may itself close the server or look at it.
    pub(crate) listener: ReentrantMutex<RefCell<Option<Arc<ListenerCell<F>>>>>,
    // Wakes the acceptor out of `ready` or `accept` when the server closes.
    pub(crate) stop_accepting: CloseAll,
    // Cancelled when the listening fd is closed (by `ListenerCell`'s drop guard).
    pub(crate) listener_closed: CancellationToken,
    pub(crate) connections: TaskTracker,
    // Closing it ends every live connection.
    pub(crate) close_connections: CloseAll,
    // Cancelled when a drain begins; handlers watch it through `ShutdownSignal`.
    pub(crate) shutdown: CancellationToken,
    pub(crate) error_policy: ErrorPolicyLayer<F::Addr>,
    pub(crate) drop_incoming: DropIncomingSwitch,
    // Connections handed to the service stack (dropped ones included).
    pub(crate) accepted: AtomicU64,
    // Why the server stopped, if it stopped itself rather than being closed.
    pub(crate) stopped_by: Mutex<Option<ServerError<F::Addr>>>,
    pub(crate) limits: Limits,
    pub(crate) addr: F::Addr,
    pub(crate) listening_on: F::ListeningOn,
    pub(crate) endpoint: Endpoint,
}

impl<F: Family> Shared<F> {
    pub(crate) fn close(&self, existing: ExistingConnections) {
        self.stop_accepting.close();
        self.connections.close();
        if existing == ExistingConnections::Close {
            self.close_connections.close();
        }
        // Our reference to the listener goes; the fd closes when the acceptor drops its own.
        let listener = self.listener.lock().borrow_mut().take();
        if listener.is_some() {
            tracing::info!(listening_on = ?self.listening_on, ?existing, "closing the server");
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.listener.lock().borrow().is_some()
    }

    /// Stops the server because of `error`, unless it is already closed. Holding the
    /// (reentrant) listener lock through the close makes the first error the one reported.
    pub(crate) fn stop(&self, error: ServerError<F::Addr>) {
        let listener = self.listener.lock();
        if listener.borrow().is_some() {
            *self.stopped_by.lock() = Some(error);
        }
        self.close(ExistingConnections::Keep);
    }
}

/// A running server: a cheap, cloneable handle, as Async's `Tcp.Server.t`.
///
/// Dropping every handle does not stop the server; [`close`](Self::close) does. Awaiting a
/// handle waits until the server stops accepting, and yields the error if a handler's
/// failure stopped it ([`OnHandlerError::Raise`](crate::OnHandlerError::Raise)).
pub struct Server<F: Family> {
    shared: Arc<Shared<F>>,
}

/// A server listening on TCP.
pub type InetServer = Server<crate::Inet>;
/// A server listening on a Unix-domain socket.
pub type UnixServer = Server<crate::Unix>;

impl<F: Family> Server<F> {
    pub(crate) fn new(shared: Arc<Shared<F>>) -> Self {
        Server { shared }
    }

    /// The port (TCP) or path (Unix) the server listens on.
    pub fn listening_on(&self) -> F::ListeningOn {
        self.shared.listening_on.clone()
    }

    /// The address the listening socket is bound to.
    pub fn listening_on_address(&self) -> F::Addr {
        self.shared.addr.clone()
    }

    /// Where the server listens, printable: the bound address (TCP) or the path (Unix).
    pub fn endpoint(&self) -> &Endpoint {
        &self.shared.endpoint
    }

    /// A view of the listening socket, or `None` once the server is closed.
    pub fn listening_socket(&self) -> Option<ListeningSocket<F>> {
        self.shared.listener.lock().borrow().clone().map(ListeningSocket::new)
    }

    /// How many connections are being served now.
    pub fn num_connections(&self) -> usize {
        self.shared.connections.len()
    }

    /// The server's counters, read together.
    pub fn metrics(&self) -> Metrics {
        let accepted = self.shared.accepted.load(Ordering::Relaxed);
        let dropped = self.shared.drop_incoming.dropped();
        let open = self.num_connections();
        Metrics {
            accepted,
            dropped,
            failed: self.shared.error_policy.failures(),
            open,
            closed: accepted.saturating_sub(dropped).saturating_sub(open as u64),
        }
    }

    /// The most connections served at once.
    pub fn max_connections(&self) -> usize {
        self.shared.limits.max_connections
    }

    /// The most connections accepted per wake-up of the acceptor.
    pub fn max_accepts_per_batch(&self) -> usize {
        self.shared.limits.max_accepts_per_batch
    }

    /// The backlog passed to `listen(2)`.
    pub fn backlog(&self) -> usize {
        self.shared.limits.backlog
    }

    /// While `true`, each new connection is accepted and closed at once, without calling
    /// the handler: a way to pause the server that clients see as EOF rather than as a
    /// silent connection in the backlog. `false` (the default) serves again.
    pub fn set_drop_incoming_connections(&self, drop: bool) {
        self.shared.drop_incoming.set(drop);
    }

    /// Whether new connections are being dropped.
    pub fn drop_incoming_connections(&self) -> bool {
        self.shared.drop_incoming.is_on()
    }

    /// Whether [`close`](Self::close) has been called (or the server stopped itself).
    pub fn is_closed(&self) -> bool {
        !self.shared.is_open()
    }

    /// Stops accepting and closes the listening socket; live connections carry on.
    ///
    /// Once `close` has returned, the handler is never called again. The future resolves
    /// once the listening fd is closed. Calling it again is harmless and returns a future
    /// that resolves at the same moment.
    pub fn close(&self) -> CloseFinished {
        self.close_with(ExistingConnections::Keep)
    }

    /// [`close`](Self::close), and with [`ExistingConnections::Close`] also closes every
    /// live connection's socket (by dropping its handler); the future then resolves once
    /// all of those fds and the listener's are closed.
    ///
    /// A later call with `Close` closes the connections of a server already closed with
    /// `Keep`; that is how a drain ends at its deadline.
    pub fn close_with(&self, existing: ExistingConnections) -> CloseFinished {
        self.shared.close(existing);
        self.close_finished()
    }

    /// The future [`close`](Self::close) returns, without starting a close.
    pub fn close_finished(&self) -> CloseFinished {
        let listener_closed = self.shared.listener_closed.clone();
        let close_connections = self.shared.close_connections.clone();
        let connections = self.shared.connections.clone();
        CloseFinished(Box::pin(async move {
            listener_closed.cancelled().await;
            if close_connections.is_closed() {
                connections.wait().await;
            }
        }))
    }

    /// Resolves once the server is closed and every handler has finished (Async's
    /// `close_finished_and_handlers_determined`).
    pub fn handlers_finished(&self) -> impl Future<Output = ()> + Send + 'static {
        let listener_closed = self.shared.listener_closed.clone();
        let connections = self.shared.connections.clone();
        async move {
            listener_closed.cancelled().await;
            connections.wait().await;
        }
    }

    /// A graceful drain: tells handlers through [`ShutdownSignal`], closes the listener,
    /// waits up to `deadline` for the handlers to finish, then closes the connections that
    /// are left.
    pub fn drain(&self, deadline: Duration) -> impl Future<Output = Drained> + Send + 'static {
        let server = self.clone();
        async move {
            server.shared.shutdown.cancel();
            server.close().await;
            match tokio::time::timeout(deadline, server.shared.connections.wait()).await {
                Ok(()) => Drained::Gracefully,
                Err(_elapsed) => {
                    let connections = server.num_connections();
                    tracing::info!(connections, ?deadline, "drain deadline passed; closing");
                    server.close_with(ExistingConnections::Close).await;
                    Drained::Forced { connections }
                }
            }
        }
    }

    /// The signal handlers watch for a drain.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        ShutdownSignal::new(self.shared.shutdown.clone())
    }

    /// Checks the server's internal consistency, as Async's `invariant`.
    ///
    /// # Panics
    ///
    /// If a limit is below 1, more connections are live than `max_connections`, or the
    /// closed state is inconsistent. Each is a bug in this
    /// crate; the message names the broken condition.
    pub fn invariant(&self) {
        let limits = &self.shared.limits;
        assert!(limits.max_connections >= 1, "max_connections is below 1: {limits:?}");
        assert!(limits.max_accepts_per_batch >= 1, "max_accepts_per_batch is below 1: {limits:?}");
        assert!(limits.backlog >= 1, "backlog is below 1: {limits:?}");
        let live = self.num_connections();
        assert!(
            live <= limits.max_connections,
            "{live} connections live, above max_connections {}",
            limits.max_connections
        );
        if self.is_closed() {
            assert!(
                self.shared.stop_accepting.is_closed(),
                "closed, but the acceptor was not told"
            );
        }
        if self.shared.listener_closed.is_cancelled() || self.shared.stopped_by.lock().is_some() {
            assert!(self.is_closed(), "the listener is closed, but the server is not");
        }
    }
}

// By hand: a derived `Clone` would demand `F: Clone`.
impl<F: Family> Clone for Server<F> {
    fn clone(&self) -> Self {
        Server { shared: Arc::clone(&self.shared) }
    }
}

impl<F: Family> fmt::Debug for Server<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limits = &self.shared.limits;
        f.debug_struct("Server")
            .field("endpoint", &self.shared.endpoint)
            .field("listening_on", &self.shared.listening_on)
            .field("num_connections", &self.num_connections())
            .field("max_connections", &limits.max_connections)
            .field("max_accepts_per_batch", &limits.max_accepts_per_batch)
            .field("backlog", &limits.backlog)
            .field("drop_incoming_connections", &self.drop_incoming_connections())
            .field("is_closed", &self.is_closed())
            .finish()
    }
}

impl<F: Family> IntoFuture for Server<F> {
    type Output = Result<(), ServerError<F::Addr>>;
    type IntoFuture = Stopped<F::Addr>;

    /// Waits until the server stops accepting: `Ok` after [`close`](Server::close), the
    /// error when the server stopped itself.
    fn into_future(self) -> Self::IntoFuture {
        Stopped(Box::pin(async move {
            self.shared.listener_closed.cancelled().await;
            match self.shared.stopped_by.lock().clone() {
                Some(error) => Err(error),
                None => Ok(()),
            }
        }))
    }
}

/// A snapshot of a server's counters, from [`Server::metrics`], for logs or an exporter
/// such as Prometheus. Counters only grow, except `open`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Connections accepted, including those then dropped by
    /// [`set_drop_incoming_connections`](Server::set_drop_incoming_connections).
    pub accepted: u64,
    /// Connections accepted and closed at once because dropping was on.
    pub dropped: u64,
    /// Connections whose handler returned an error or panicked.
    pub failed: u64,
    /// Connections being served now ([`Server::num_connections`]).
    pub open: usize,
    /// Connections served that have ended, whether well or not (`failed` among them).
    pub closed: u64,
}

/// Resolves when a server's close has finished; see [`Server::close`].
#[must_use = "the close has started; await this to know when it has finished"]
pub struct CloseFinished(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for CloseFinished {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for CloseFinished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseFinished").finish_non_exhaustive()
    }
}

/// Resolves when a server stops accepting; what awaiting a [`Server`] gives.
pub struct Stopped<A>(Pin<Box<dyn Future<Output = Result<(), ServerError<A>>> + Send>>);

impl<A> Future for Stopped<A> {
    type Output = Result<(), ServerError<A>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<A> fmt::Debug for Stopped<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stopped").finish_non_exhaustive()
    }
}
