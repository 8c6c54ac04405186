//! The [`Acceptor`]: the accept loop and its close protocol, for a service stack you build
//! yourself. [`Serve`](crate::Serve) is a convenience over exactly this.

mod errors;
mod run;
mod task;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::Service;

use self::run::AcceptLoop;
use crate::error::{BoxError, Error};
use crate::family::Family;
use crate::layer::graceful::ShutdownSignal;
use crate::layer::{
    DropIncomingLayer, DropIncomingSwitch, ErrorPolicyLayer, Graceful, GracefulLayer,
    OnHandlerError,
};
use crate::listener::Listener;
use crate::server::core::{Core, Limits, Parts};
use crate::server::Server;
use crate::shutdown::Readiness;
use crate::timer::Timer;

/// How many connections the accept loop takes per wake-up before it yields, unless told
/// otherwise. Async's default is 1, which costs a trip through the scheduler (and an
/// `epoll_wait`) per connection; 64 accepts a burst at the pace of a plain tokio loop
/// while the handlers it spawned still run between batches.
pub(crate) const DEFAULT_MAX_ACCEPTS_PER_BATCH: usize = 64;
/// The floor of the default `max_connections`, as Async.
const DEFAULT_MAX_CONNECTIONS_FLOOR: usize = 10_000;

/// Accepts connections from a [`Listener`] and calls a service stack with each, keeping
/// the close guarantee, batching and accept-error back-off of a [`Serve`](crate::Serve)d
/// server, and giving back a [`Server`] handle.
///
/// The server's policies are layers the acceptor hands out, tied to the `Server` it
/// starts: put them in a `tower::ServiceBuilder` in the order you want, with any other
/// layer between them.
///
/// ```
/// use tcp_serve::{service_fn, Acceptor, Connection, Inet, Listener, OnHandlerError, WhereToListen};
/// use tower::ServiceBuilder;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tcp_serve::Error> {
/// let listener = Listener::bind(&WhereToListen::localhost_port_chosen_by_os())?;
/// let acceptor = Acceptor::new(listener).max_connections(100);
/// let stack = ServiceBuilder::new()
///     .layer(acceptor.error_policy_layer(OnHandlerError::Log))
///     // Outside the limit: at 100 connections, accept and close at once instead of
///     // leaving clients in the backlog.
///     .load_shed()
///     .layer(acceptor.limit_layer())
///     .layer(acceptor.graceful_layer())
///     .service(service_fn(|(_peer, mut stream): Connection<Inet>| async move {
///         let (mut reader, mut writer) = stream.split();
///         tokio::io::copy(&mut reader, &mut writer).await.map(drop)
///     }));
/// let server = acceptor.serve(stack)?;
/// # server.close().await;
/// # Ok(())
/// # }
/// ```
///
/// What the [`Server`] reports depends on the layers used: `num_connections` and `drain`
/// count and drain the connections under [`graceful_layer`](Self::graceful_layer);
/// `set_drop_incoming_connections` flips the switch of
/// [`drop_incoming_layer`](Self::drop_incoming_layer); `metrics().failed` counts the
/// failures of [`error_policy_layer`](Self::error_policy_layer); `invariant` holds
/// `num_connections <= max_connections` when [`limit_layer`](Self::limit_layer) is outside
/// the graceful layer. A connection whose future ends in an error stops the server (Async's
/// `Raise`): put an error policy outermost to decide otherwise.
#[derive(Debug)]
#[must_use = "an Acceptor does nothing until you call serve(stack)"]
pub struct Acceptor<F: Family> {
    listener: Listener<F>,
    max_connections: Option<usize>,
    max_accepts_per_batch: usize,
    tcp_nodelay: bool,
    graceful: Graceful,
    drop_incoming: DropIncomingSwitch,
    readiness: Readiness,
    failures: Arc<AtomicU64>,
}

impl<F: Family> Acceptor<F> {
    /// An acceptor for `listener`, with the defaults: `max_connections` the larger of
    /// 10,000 and 90% of the open-file limit, 64 accepts per batch, `TCP_NODELAY` on.
    pub fn new(listener: Listener<F>) -> Self {
        Acceptor {
            listener,
            max_connections: None,
            max_accepts_per_batch: DEFAULT_MAX_ACCEPTS_PER_BATCH,
            tcp_nodelay: true,
            graceful: Graceful::new(),
            drop_incoming: DropIncomingSwitch::new(),
            readiness: Readiness::default(),
            failures: Arc::default(),
        }
    }

    /// The most clients served at once by [`limit_layer`](Self::limit_layer). At least 1.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// The most connections taken per wake-up, as long as the stack is ready. At least 1.
    pub fn max_accepts_per_batch(mut self, max: usize) -> Self {
        self.max_accepts_per_batch = max;
        self
    }

    /// Whether accepted TCP connections get `TCP_NODELAY`; default `true`.
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.tcp_nodelay = nodelay;
        self
    }

    /// Whether the server starts dropping incoming connections (paused); default `false`.
    pub fn drop_incoming_connections(self, drop: bool) -> Self {
        self.drop_incoming.set(drop);
        self
    }

    /// Counts and drains connections with `graceful` instead of a new one: one whose
    /// signal your service already holds, say.
    pub fn graceful(mut self, graceful: Graceful) -> Self {
        self.graceful = graceful;
        self
    }

    /// Reports readiness through `readiness` instead of a new one: the one
    /// [`Serve::readiness`](crate::Serve::readiness) handed out before the server started.
    pub(crate) fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// The error policy, counting failures for [`Server::metrics`]. Put it outermost.
    pub fn error_policy_layer(&self, policy: OnHandlerError<F::Addr>) -> ErrorPolicyLayer<F::Addr> {
        ErrorPolicyLayer::counting(policy, Arc::clone(&self.failures))
    }

    /// The layer that drops connections while
    /// [`Server::set_drop_incoming_connections`] is on.
    pub fn drop_incoming_layer(&self) -> DropIncomingLayer {
        DropIncomingLayer::new(self.drop_incoming.clone())
    }

    /// The concurrency limit of [`max_connections`](Self::max_connections): not ready at the
    /// limit, so the acceptor stops calling `accept(2)`.
    pub fn limit_layer(&self) -> GlobalConcurrencyLimitLayer {
        // An out-of-range limit is reported by `serve`; the layer must not panic first.
        let max = self.max_connections_or_default().clamp(1, Semaphore::MAX_PERMITS);
        GlobalConcurrencyLimitLayer::new(max)
    }

    /// The layer that counts connections, tells them of a drain and closes them, for
    /// [`Server::num_connections`], [`Server::drain`] and [`Server::close_with`].
    pub fn graceful_layer(&self) -> GracefulLayer {
        self.graceful.layer()
    }

    /// The signal [`Server::drain`] raises, for your service to watch.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.graceful.signal()
    }

    /// Whether the server wants new clients, for your health check; see [`Readiness`].
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Starts accepting on the current tokio runtime, calling `stack` with each connection,
    /// and returns the running server.
    ///
    /// # Errors
    ///
    /// A limit out of range ([`Error::InvalidLimit`]), no tokio runtime
    /// ([`Error::NoRuntime`]), or a listener tokio cannot register.
    pub fn serve<S>(self, stack: S) -> Result<Server<F>, Error>
    where
        S: Service<(F::Addr, F::Stream), Response = ()> + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        let backlog = self.listener.backlog();
        let limits = limits(self.max_connections, self.max_accepts_per_batch, backlog)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        let listener_closed = CancellationToken::new();
        let (live, place) = self.listener.register(listener_closed.clone().drop_guard())?;
        let live = Arc::new(live);
        let parts = Parts {
            graceful: self.graceful,
            drop_incoming: self.drop_incoming,
            readiness: self.readiness,
            failures: self.failures,
            limits,
            timer: Timer::probe(),
        };
        let core = Arc::new(Core::new(&live, listener_closed, place, parts));
        AcceptLoop::new(Arc::clone(&core), live, stack, self.tcp_nodelay).spawn();
        let server = Server::new(core);
        tracing::info!(?server, "listening");
        Ok(server)
    }

    fn max_connections_or_default(&self) -> usize {
        self.max_connections.unwrap_or_else(default_max_connections)
    }
}

/// The limits, checked: each at least 1 and at most what the OS or tokio takes.
pub(crate) fn limits(
    max_connections: Option<usize>,
    max_accepts_per_batch: usize,
    backlog: Option<usize>,
) -> Result<Limits, Error> {
    let max_connections = max_connections.unwrap_or_else(default_max_connections);
    Ok(Limits {
        max_connections: in_range("max_connections", max_connections, Semaphore::MAX_PERMITS)?,
        max_accepts_per_batch: in_range(
            "max_accepts_per_batch",
            max_accepts_per_batch,
            usize::MAX,
        )?,
        backlog: backlog.map(|b| in_range("backlog", b, i32::MAX as usize)).transpose()?,
    })
}

fn in_range(name: &'static str, value: usize, max: usize) -> Result<usize, Error> {
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Error::InvalidLimit { name, value, min: 1, max })
    }
}

/// Async's default: the larger of 10,000 and 90% of the process's open-file limit.
pub(crate) fn default_max_connections() -> usize {
    let open_files = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let ninety_percent = open_files
        .map_or(usize::MAX, |n| usize::try_from(n.saturating_mul(9) / 10).unwrap_or(usize::MAX));
    ninety_percent.clamp(DEFAULT_MAX_CONNECTIONS_FLOOR, Semaphore::MAX_PERMITS)
}
