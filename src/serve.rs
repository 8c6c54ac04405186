//! The `Serve` builder: where to listen, the limits, the error policy, your layers; then
//! `serve(service).await` starts the server. A convenience over
//! [`Listener`] + [`Acceptor`] with the server's four policy layers.

use std::fmt;

use socket2::Socket;
use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service, ServiceBuilder};

use crate::acceptor::{self, Acceptor, DEFAULT_MAX_ACCEPTS_PER_BATCH};
use crate::error::{BoxError, Error};
use crate::family::sys::BindOptions;
use crate::family::Family;
use crate::layer::graceful::ShutdownSignal;
use crate::layer::{Graceful, OnHandlerError};
use crate::listen::WhereToListen;
use crate::listener::{Listener, DEFAULT_BACKLOG};
use crate::server::Server;
use crate::shutdown::Readiness;

/// Builds a server: where it listens, its limits and policies, and the layers around your
/// service. [`serve`](Self::serve) binds the socket and starts accepting.
///
/// Every option has a default (see each method) and may be set in any order; invalid
/// values are reported by `serve`, not by the setter.
///
/// ```
/// use std::{io, time::Duration};
/// use tcp_serve::{service_fn, Connection, Inet, OnHandlerError, Serve, WhereToListen};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tcp_serve::Error> {
/// let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
///     .max_connections(1000)
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
///
/// The stack it builds, outermost first: [`ErrorPolicyLayer`](crate::layer::ErrorPolicyLayer),
/// [`DropIncomingLayer`](crate::layer::DropIncomingLayer), tower's
/// `GlobalConcurrencyLimitLayer`, [`GracefulLayer`](crate::layer::GracefulLayer), your
/// layers, your service. For another order, or layers between them, build the stack with
/// an [`Acceptor`].
#[must_use = "a Serve does nothing until you call serve(service)"]
pub struct Serve<F: Family, L = Identity> {
    settings: Settings<F>,
    layer: L,
}

/// Everything but the layers, so that adding a layer moves it in one piece.
struct Settings<F: Family> {
    source: Source<F>,
    max_connections: Option<usize>,
    max_accepts_per_batch: usize,
    backlog: usize,
    reuseaddr: bool,
    reuseport: bool,
    tcp_nodelay: bool,
    socket: Option<Socket>,
    drop_incoming: bool,
    on_handler_error: OnHandlerError<F::Addr>,
    graceful: Graceful,
    readiness: Readiness,
}

/// Where the listening socket comes from.
enum Source<F: Family> {
    Bind(WhereToListen<F>),
    Listener(Listener<F>),
}

impl<F: Family> Serve<F> {
    /// A server that will bind where asked.
    pub fn new(where_to_listen: WhereToListen<F>) -> Self {
        Self::from_source(Source::Bind(where_to_listen))
    }

    /// A server for a socket that is already listening: one made by your code, inherited
    /// from systemd or handed over by the process this one replaces. `backlog`,
    /// `reuseaddr`, `reuseport` and `socket` do not apply to it.
    pub fn from_listener(listener: Listener<F>) -> Self {
        Self::from_source(Source::Listener(listener))
    }

    fn from_source(source: Source<F>) -> Self {
        let settings = Settings {
            source,
            max_connections: None,
            max_accepts_per_batch: DEFAULT_MAX_ACCEPTS_PER_BATCH,
            backlog: DEFAULT_BACKLOG,
            reuseaddr: true,
            reuseport: false,
            tcp_nodelay: true,
            socket: None,
            drop_incoming: false,
            on_handler_error: OnHandlerError::default(),
            graceful: Graceful::new(),
            readiness: Readiness::default(),
        };
        Serve { settings, layer: Identity::new() }
    }
}

impl<F: Family, L> Serve<F, L> {
    /// The most clients served at once. At the limit no `accept(2)` is made; further
    /// clients wait in the backlog until a connection ends. At least 1.
    ///
    /// Default: the larger of 10,000 and 90% of the process's open-file limit, as Async.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.settings.max_connections = Some(max);
        self
    }

    /// The most connections taken per wake-up of the acceptor, as long as
    /// `max_connections` allows; after a full batch the acceptor yields to the handlers it
    /// started. At least 1.
    ///
    /// Default 64. Async's default is 1, which sends the acceptor through the scheduler
    /// (and an `epoll_wait`) once per connection; 64 keeps up with a burst as a plain
    /// tokio accept loop does, and still lets running connections in between batches.
    pub fn max_accepts_per_batch(mut self, max: usize) -> Self {
        self.settings.max_accepts_per_batch = max;
        self
    }

    /// The backlog passed to `listen(2)`: how many connections the kernel queues before
    /// they are accepted. At least 1.
    ///
    /// Default 4096; Linux caps it at `net.core.somaxconn` (4096 since Linux 5.4). Async's
    /// 64 drops the SYNs of a burst, which clients retry only after 1, 3, 7 seconds.
    pub fn backlog(mut self, backlog: usize) -> Self {
        self.settings.backlog = backlog;
        self
    }

    /// Sets `SO_REUSEADDR` on the socket the server creates, so it can rebind a port whose
    /// old connections linger in `TIME_WAIT`. Default `true`. Not applied to a socket
    /// given with [`socket`](Self::socket).
    pub fn reuseaddr(mut self, reuse: bool) -> Self {
        self.settings.reuseaddr = reuse;
        self
    }

    /// Sets `SO_REUSEPORT` on the socket the server creates, so several servers can share
    /// a port. Default `false`. Not applied to a socket given with [`socket`](Self::socket).
    pub fn reuseport(mut self, reuse: bool) -> Self {
        self.settings.reuseport = reuse;
        self
    }

    /// Sets `TCP_NODELAY` on each accepted TCP connection, so small replies go out at once
    /// instead of waiting for Nagle's algorithm. Default `true`, as Async. A server that
    /// streams bulk data in small writes may do better without it (see `BENCHMARKS.md`).
    /// No effect on Unix sockets.
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.settings.tcp_nodelay = nodelay;
        self
    }

    /// Uses a socket you created, unbound, instead of creating one: set whatever options
    /// you need on it first. The server binds and listens it as given, without setting
    /// `SO_REUSEADDR`. Its domain must fit where the server listens. (A socket that is
    /// already listening goes to [`Serve::from_listener`] instead.)
    pub fn socket(mut self, socket: Socket) -> Self {
        self.settings.socket = Some(socket);
        self
    }

    /// Whether the server starts paused, dropping each incoming connection until
    /// [`Server::set_drop_incoming_connections`] turns it off; as Async's `create`
    /// takes `drop_incoming_connections`. Default `false`.
    pub fn drop_incoming_connections(mut self, drop: bool) -> Self {
        self.settings.drop_incoming = drop;
        self
    }

    /// What happens when a handler fails; default [`OnHandlerError::Log`].
    pub fn on_handler_error(mut self, policy: OnHandlerError<F::Addr>) -> Self {
        self.settings.on_handler_error = policy;
        self
    }

    /// Adds a layer around your service, inside the server's own policies. The first
    /// added is the outermost, as with `tower::ServiceBuilder`.
    pub fn layer<T>(self, layer: T) -> Serve<F, Stack<T, L>> {
        Serve { settings: self.settings, layer: Stack::new(layer, self.layer) }
    }

    /// The signal that [`Server::drain`] will raise, for your handlers to watch.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.settings.graceful.signal()
    }

    /// Whether the server wants new clients, for the service that answers a load
    /// balancer's health check; see [`Readiness`].
    pub fn readiness(&self) -> Readiness {
        self.settings.readiness.clone()
    }

    /// Binds the socket (unless it was given listening), starts accepting on the current
    /// tokio runtime, and returns the running server once it is listening. Each connection
    /// is a call `service.call((peer, stream))`, through your layers, whose future is
    /// spawned on the runtime.
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
        let s = self.settings;
        let listener = match s.source {
            Source::Bind(where_to_listen) => {
                // Checked before binding, which leaves a file behind for a Unix path.
                acceptor::limits(s.max_connections, s.max_accepts_per_batch, Some(s.backlog))?;
                let options = BindOptions {
                    backlog: i32::try_from(s.backlog).expect("limits() checked the backlog"),
                    reuseaddr: s.reuseaddr,
                    reuseport: s.reuseport,
                    socket: s.socket,
                };
                Listener::bind_with(&where_to_listen, options)?
            }
            Source::Listener(listener) => listener,
        };
        let mut acceptor = Acceptor::new(listener)
            .max_accepts_per_batch(s.max_accepts_per_batch)
            .tcp_nodelay(s.tcp_nodelay)
            .drop_incoming_connections(s.drop_incoming)
            .graceful(s.graceful)
            .with_readiness(s.readiness);
        if let Some(max) = s.max_connections {
            acceptor = acceptor.max_connections(max);
        }
        let stack = ServiceBuilder::new()
            .layer(acceptor.error_policy_layer(s.on_handler_error))
            .layer(acceptor.drop_incoming_layer())
            .layer(acceptor.limit_layer())
            .layer(acceptor.graceful_layer())
            .layer(self.layer)
            .service(service);
        acceptor.serve(stack)
    }
}

impl<F: Family, L> fmt::Debug for Serve<F, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        let mut debug = f.debug_struct("Serve");
        match &s.source {
            Source::Bind(where_to_listen) => debug.field("where_to_listen", where_to_listen),
            Source::Listener(listener) => debug.field("listener", listener),
        };
        debug
            .field("max_connections", &s.max_connections)
            .field("max_accepts_per_batch", &s.max_accepts_per_batch)
            .field("backlog", &s.backlog)
            .field("reuseaddr", &s.reuseaddr)
            .field("reuseport", &s.reuseport)
            .field("tcp_nodelay", &s.tcp_nodelay)
            .field("socket", &s.socket)
            .field("drop_incoming_connections", &s.drop_incoming)
            .field("on_handler_error", &s.on_handler_error)
            .finish_non_exhaustive()
    }
}
