//! The `Serve` builder: where to listen, the limits, the error policy, your layers; then
//! `serve(service).await` binds and starts the server.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, ReentrantMutex};
use socket2::Socket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::layer::util::{Identity, Stack};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{Layer, Service, ServiceBuilder};

use crate::accept::Acceptor;
use crate::bind::{BindOptions, Bound};
use crate::error::{BoxError, Error, ServerError};
use crate::layer::{
    CloseAll, DropIncomingLayer, DropIncomingSwitch, ErrorPolicyLayer, OnHandlerError, TrackLayer,
};
use crate::listen::{Family, WhereToListen};
use crate::listening_socket::ListenerCell;
use crate::server::{Limits, Server, Shared};
use crate::shutdown::ShutdownSignal;

/// Async's default `max_accepts_per_batch`.
const DEFAULT_MAX_ACCEPTS_PER_BATCH: usize = 1;
/// Async's default `backlog`. Far below tokio's 1024: raise it for bursts of connections.
const DEFAULT_BACKLOG: usize = 64;
/// The floor of the default `max_connections`, as Async.
const DEFAULT_MAX_CONNECTIONS_FLOOR: usize = 10_000;

/// Builds a server: where it listens, its limits and policies, and the layers around your
/// service. [`serve`](Self::serve) binds the socket and starts accepting.
///
/// Every option has Async's default and may be set in any order; invalid values are
/// reported by `serve`, not by the setter.
///
/// ```
/// use std::{io, time::Duration};
/// use tcp_serve::{service_fn, Connection, Inet, OnHandlerError, Serve, WhereToListen};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tcp_serve::Error> {
/// let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
///     .max_connections(1000)
///     .max_accepts_per_batch(16)
///     .backlog(1024)
///     .on_handler_error(OnHandlerError::call(|peer, error| eprintln!("{peer}: {error}")))
///     .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(30)))
///     .serve(service_fn(|(_peer, mut stream): Connection<Inet>| async move {
///         let (mut reader, mut writer) = stream.split();
///         tokio::io::copy(&mut reader, &mut writer).await?;
///         Ok::<_, io::Error>(())
///     }))
///     .await?;
/// println!("listening on port {}", server.listening_on());
/// server.close().await;
/// # Ok(())
/// # }
/// ```
pub struct Serve<F: Family, L = Identity> {
    where_to_listen: WhereToListen<F>,
    max_connections: Option<usize>,
    max_accepts_per_batch: usize,
    backlog: usize,
    reuseaddr: bool,
    reuseport: bool,
    nodelay: bool,
    socket: Option<Socket>,
    on_handler_error: OnHandlerError<F::Addr>,
    shutdown: CancellationToken,
    layer: L,
}

impl<F: Family> Serve<F> {
    /// A server that will listen where asked, with Async's defaults.
    pub fn new(where_to_listen: WhereToListen<F>) -> Self {
        Serve {
            where_to_listen,
            max_connections: None,
            max_accepts_per_batch: DEFAULT_MAX_ACCEPTS_PER_BATCH,
            backlog: DEFAULT_BACKLOG,
            reuseaddr: true,
            reuseport: false,
            nodelay: true,
            socket: None,
            on_handler_error: OnHandlerError::default(),
            shutdown: CancellationToken::new(),
            layer: Identity::new(),
        }
    }
}

impl<F: Family, L> Serve<F, L> {
    /// The most clients served at once. At the limit no `accept(2)` is made; further
    /// clients wait in the backlog until a connection ends. At least 1.
    ///
    /// Default: the larger of 10,000 and 90% of the process's open-file limit, as Async.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// The most connections taken per wake-up of the acceptor, as long as
    /// `max_connections` allows; more raises the accept rate under bursts, at the cost of
    /// fairness to connections already running. At least 1; default 1.
    pub fn max_accepts_per_batch(mut self, max: usize) -> Self {
        self.max_accepts_per_batch = max;
        self
    }

    /// The backlog passed to `listen(2)`: how many connections the kernel queues before
    /// they are accepted (Linux caps it at `net.core.somaxconn`). At least 1; default 64,
    /// as Async.
    pub fn backlog(mut self, backlog: usize) -> Self {
        self.backlog = backlog;
        self
    }

    /// Sets `SO_REUSEADDR` on the socket the server creates, so it can rebind a port whose
    /// old connections linger in `TIME_WAIT`. Default `true`. Not applied to a socket
    /// given with [`socket`](Self::socket).
    pub fn reuseaddr(mut self, reuse: bool) -> Self {
        self.reuseaddr = reuse;
        self
    }

    /// Sets `SO_REUSEPORT` on the socket the server creates, so several servers can share
    /// a port. Default `false`. Not applied to a socket given with [`socket`](Self::socket).
    pub fn reuseport(mut self, reuse: bool) -> Self {
        self.reuseport = reuse;
        self
    }

    /// Sets `TCP_NODELAY` on each accepted TCP connection, so small replies go out at once
    /// instead of waiting for Nagle's algorithm. Default `true`, as Async. A server that
    /// streams bulk data in small writes may do better without it (see `BENCHMARKS.md`).
    /// No effect on Unix sockets.
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.nodelay = nodelay;
        self
    }

    /// Uses a socket you created, unbound, instead of creating one: set whatever options
    /// you need on it first. The server binds and listens it as given, without setting
    /// `SO_REUSEADDR`. Its domain must fit where the server listens.
    pub fn socket(mut self, socket: Socket) -> Self {
        self.socket = Some(socket);
        self
    }

    /// What happens when a handler fails; default [`OnHandlerError::Log`].
    pub fn on_handler_error(mut self, policy: OnHandlerError<F::Addr>) -> Self {
        self.on_handler_error = policy;
        self
    }

    /// Adds a layer around your service, inside the server's own policies. The first
    /// added is the outermost, as with `tower::ServiceBuilder`.
    pub fn layer<T>(self, layer: T) -> Serve<F, Stack<T, L>> {
        Serve {
            where_to_listen: self.where_to_listen,
            max_connections: self.max_connections,
            max_accepts_per_batch: self.max_accepts_per_batch,
            backlog: self.backlog,
            reuseaddr: self.reuseaddr,
            reuseport: self.reuseport,
            nodelay: self.nodelay,
            socket: self.socket,
            on_handler_error: self.on_handler_error,
            shutdown: self.shutdown,
            layer: Stack::new(layer, self.layer),
        }
    }

    /// The signal that [`Server::drain`] will raise, for your handlers to watch.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        ShutdownSignal::new(self.shutdown.clone())
    }

    /// Binds the socket, starts accepting, and returns the running server once it is
    /// listening. Each connection is a call `service.call((peer, stream))`, through your
    /// layers, whose future is spawned on the current tokio runtime (which must have its
    /// time driver enabled, as `#[tokio::main]` does).
    ///
    /// # Errors
    ///
    /// A limit out of range, or a socket that cannot be created, bound or listened on;
    /// see [`Error`].
    pub async fn serve<S>(self, service: S) -> Result<Server<F>, Error>
    where
        L: Layer<S>,
        L::Service: Service<(F::Addr, F::Stream), Response = ()> + Send + 'static,
        <L::Service as Service<(F::Addr, F::Stream)>>::Error: Into<BoxError>,
        <L::Service as Service<(F::Addr, F::Stream)>>::Future: Send + 'static,
    {
        let limits = self.limits()?;
        let options = BindOptions {
            backlog: i32::try_from(limits.backlog).expect("limits() checked the backlog fits"),
            reuseaddr: self.reuseaddr,
            reuseport: self.reuseport,
            nodelay: self.nodelay,
            socket: self.socket,
        };
        let Bound { listener, addr, listening_on, endpoint } =
            F::bind(self.where_to_listen.bind_to(), options)?;
        let listener_closed = CancellationToken::new();
        let listener = Arc::new(ListenerCell::new(listener, listener_closed.clone()));
        let on_handler_error = self.on_handler_error;
        let shared = Arc::new_cyclic(|shared: &Weak<Shared<F>>| {
            // Weak: the server's state holds the layer, and the layer must not keep it alive.
            let raise_to = Weak::clone(shared);
            let raise = move |peer, error: BoxError| {
                if let Some(shared) = raise_to.upgrade() {
                    shared.stop(ServerError::Handler { peer, source: Arc::from(error) });
                }
            };
            Shared {
                listener: ReentrantMutex::new(RefCell::new(Some(Arc::clone(&listener)))),
                stop_accepting: CloseAll::new(),
                listener_closed,
                connections: TaskTracker::new(),
                close_connections: CloseAll::new(),
                shutdown: self.shutdown,
                error_policy: ErrorPolicyLayer::new(on_handler_error, raise),
                drop_incoming: DropIncomingSwitch::new(),
                accepted: AtomicU64::new(0),
                stopped_by: Mutex::new(None),
                limits,
                addr,
                listening_on,
                endpoint,
            }
        });

        let stack = ServiceBuilder::new()
            .layer(shared.error_policy.clone())
            .layer(DropIncomingLayer::new(shared.drop_incoming.clone()))
            .layer(GlobalConcurrencyLimitLayer::new(limits.max_connections))
            .layer(TrackLayer::new(shared.connections.clone(), shared.close_connections.clone()))
            .layer(self.layer)
            .service(service);
        tokio::spawn(Acceptor::new(Arc::clone(&shared), listener, stack).run());

        let server = Server::new(shared);
        tracing::info!(?server, "listening");
        Ok(server)
    }

    fn limits(&self) -> Result<Limits, Error> {
        let max_connections = self.max_connections.unwrap_or_else(default_max_connections);
        Ok(Limits {
            max_connections: in_range("max_connections", max_connections, Semaphore::MAX_PERMITS)?,
            max_accepts_per_batch: in_range(
                "max_accepts_per_batch",
                self.max_accepts_per_batch,
                usize::MAX,
            )?,
            backlog: in_range("backlog", self.backlog, i32::MAX as usize)?,
        })
    }
}

fn in_range(name: &'static str, value: usize, max: usize) -> Result<usize, Error> {
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Error::InvalidLimit { name, value, min: 1, max })
    }
}

/// Async's default: the larger of 10,000 and 90% of the open-file limit.
fn default_max_connections() -> usize {
    let open_files = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let ninety_percent =
        open_files.map_or(usize::MAX, |n| usize::try_from(n / 10 * 9).unwrap_or(usize::MAX));
    ninety_percent.clamp(DEFAULT_MAX_CONNECTIONS_FLOOR, Semaphore::MAX_PERMITS)
}

impl<F: Family, L> fmt::Debug for Serve<F, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("where_to_listen", &self.where_to_listen)
            .field("max_connections", &self.max_connections)
            .field("max_accepts_per_batch", &self.max_accepts_per_batch)
            .field("backlog", &self.backlog)
            .field("reuseaddr", &self.reuseaddr)
            .field("reuseport", &self.reuseport)
            .field("tcp_nodelay", &self.nodelay)
            .field("socket", &self.socket)
            .field("on_handler_error", &self.on_handler_error)
            .finish_non_exhaustive()
    }
}
