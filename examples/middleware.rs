//! tower's own middleware, and one written here, composed on the connection service of an
//! echo server. Each connection is one request `(peer, stream)`, so a tower layer wraps a
//! whole connection: a timeout bounds its lifetime, a rate limit paces accepts.
//!
//! ```text
//! cargo run --example middleware                    # TCP on 127.0.0.1:7880
//! socat - TCP:127.0.0.1:7880                        # a banner, then your lines echoed
//! cargo run --example middleware -- --timeout-ms 5000   # connections last 5 s
//! ```
//!
//! For every connection it prints the layers in the order their `call` runs, outermost
//! first, e.g.:
//!
//! ```text
//! middleware: 127.0.0.1:50312 1 map_request
//! middleware: 127.0.0.1:50312 2 rate_limit
//! middleware: 127.0.0.1:50312 3 timeout
//! middleware: 127.0.0.1:50312 4 banner
//! middleware: 127.0.0.1:50312 5 handler
//! ```
//!
//! Flags: those of the echo example, and `--timeout-ms` (`MIDDLEWARE_TIMEOUT_MS`, default
//! 30000), the longest a connection may last, and `--accepts-per-second`
//! (`MIDDLEWARE_ACCEPTS_PER_SECOND`, default 100). On SIGINT or SIGTERM it drains and exits 0.

mod common;

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use clap::Parser;
use common::{Listen, ServerArgs};
use tcp_serve::{service_fn, BoxError, Connection, Family, OnHandlerError, Serve, WhereToListen};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tower::limit::RateLimitLayer;
use tower::timeout::TimeoutLayer;
use tower::util::MapRequestLayer;
use tower::{Layer, Service};

#[derive(Parser)]
#[command(about = "tower middleware around an echo server")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The longest a connection may last, in milliseconds
    #[arg(long, env = "MIDDLEWARE_TIMEOUT_MS", default_value_t = 30_000)]
    timeout_ms: u64,
    /// How many connections are accepted per second
    #[arg(long, env = "MIDDLEWARE_ACCEPTS_PER_SECOND", default_value_t = 100)]
    accepts_per_second: u64,
}

/// Prints that the layer `step` saw a connection from `peer`.
fn note(peer: &impl fmt::Debug, step: &str) {
    println!("middleware: {peer:?} {step}");
}

/// A layer that only notes, when its `call` runs, that the connection got this far: put
/// after a tower layer that prints nothing itself, it shows when that layer let it through.
fn passed<F: Family>(
    step: &'static str,
) -> MapRequestLayer<impl Fn(Connection<F>) -> Connection<F> + Clone> {
    MapRequestLayer::new(move |connection: Connection<F>| {
        note(&connection.0, step);
        connection
    })
}

/// Our own layer: writes a banner line to the client, then hands the stream on.
#[derive(Clone, Debug)]
struct BannerLayer {
    banner: Arc<str>,
}

impl BannerLayer {
    fn new(banner: &str) -> Self {
        BannerLayer { banner: Arc::from(format!("{banner}\n")) }
    }
}

impl<S> Layer<S> for BannerLayer {
    type Service = Banner<S>;

    fn layer(&self, inner: S) -> Banner<S> {
        Banner { inner, banner: Arc::clone(&self.banner) }
    }
}

/// The service of [`BannerLayer`].
#[derive(Clone, Debug)]
struct Banner<S> {
    inner: S,
    banner: Arc<str>,
}

impl<S, A, Io> Service<(A, Io)> for Banner<S>
where
    S: Service<(A, Io), Response = ()> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    A: fmt::Debug + Send + 'static,
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, (peer, mut stream): (A, Io)) -> Self::Future {
        note(&peer, "4 banner");
        // The service made ready goes with this connection; a clone stays for the next one.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let banner = Arc::clone(&self.banner);
        Box::pin(async move {
            stream.write_all(banner.as_bytes()).await?;
            inner.call((peer, stream)).await.map_err(Into::into)
        })
    }
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let timeout = Duration::from_millis(args.timeout_ms);
    let accepts_per_second = args.accepts_per_second;

    // Layers are listed outermost first, as with `tower::ServiceBuilder`; they all sit inside
    // the server's own policies (error policy, drop-incoming, max_connections, tracking).
    let serve = args
        .server
        .configure(Serve::new(where_to_listen))
        // A connection the timeout ends is a handler error ("request timed out"): say so.
        .on_handler_error(OnHandlerError::call(|peer, error| {
            println!("middleware: {peer:?} ended: {error}");
        }))
        // 1. tower::util::MapRequestLayer: sees (and could rewrite) every connection first;
        //    here it records the peer.
        .layer(MapRequestLayer::new(|connection: Connection<F>| {
            note(&connection.0, "1 map_request");
            connection
        }))
        // 2. tower's RateLimitLayer. Its `poll_ready` stays pending once the quota for this
        //    second is spent, and the acceptor asks the whole stack to be ready *before* it
        //    calls accept(2): so this limits the rate of accepts. Clients over the rate wait
        //    in the kernel's backlog (and beyond it are refused), rather than being accepted
        //    and then made to wait. The same holds for any layer whose `poll_ready` can be
        //    pending, such as ConcurrencyLimitLayer (like `max_connections`, but for the
        //    connections under this layer only).
        .layer(RateLimitLayer::new(accepts_per_second, Duration::from_secs(1)))
        .layer(passed::<F>("2 rate_limit"))
        // 3. tower's TimeoutLayer: the connection's whole life, handshake to close, is one
        //    request, so this bounds how long a connection may last, idle or not. At the
        //    timeout its future is dropped, which closes the socket.
        .layer(TimeoutLayer::new(timeout))
        .layer(passed::<F>("3 timeout"))
        // 4. Our own layer, written above: greets the client before the handler runs.
        .layer(BannerLayer::new("welcome to the middleware example; type to be echoed"));
    let shutdown = serve.shutdown_signal();
    // 5. The handler: echoes until the client is done, or a drain begins.
    let server = serve
        .serve(service_fn(move |(peer, stream): Connection<F>| {
            note(&peer, "5 handler");
            let mut shutdown = shutdown.clone();
            async move {
                let (mut reader, mut writer) = tokio::io::split(stream);
                tokio::select! {
                    copied = tokio::io::copy(&mut reader, &mut writer) => copied.map(drop),
                    () = shutdown.requested() => writer.shutdown().await,
                }
            }
        }))
        .await?;
    // Signals are handled from here on; only then say where we listen, so that whoever
    // reads the line and sends SIGTERM finds the drain ready.
    let drain = server.drain_on_signals(args.server.drain_deadline())?;
    println!("middleware: listening on {}", server.endpoint());
    let drained = drain.await?;
    println!("middleware: stopped ({drained:?})");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::log_to_stderr("info");
    let args = Args::parse();
    let result = match args.server.listen(([127, 0, 0, 1], 7880).into()) {
        Listen::Inet(addr) => run(WhereToListen::addr(addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("middleware", result)
}
