//! An axum router served by tcp-serve: the server accepts, limits (`--max-connections`)
//! and drains; the `http` adapter speaks HTTP/1.1 and HTTP/2 on each connection, over TLS
//! with `--tls`.
//!
//! ```text
//! cargo run --example axum                                  # HTTP on 127.0.0.1:3000
//! curl http://127.0.0.1:3000/                               # hello from axum on tcp-serve
//! curl http://127.0.0.1:3000/peer                           # 127.0.0.1:PORT, from ConnectInfo
//! curl 'http://127.0.0.1:3000/slow?ms=2000'                 # answers after 2 s
//! curl --http2-prior-knowledge http://127.0.0.1:3000/       # HTTP/2 without TLS (h2c)
//! cargo run --example axum -- --tls --write-cert /tmp/cert.pem   # HTTPS, self-signed
//! curl --http2 --cacert /tmp/cert.pem https://127.0.0.1:3000/    # HTTP/2 chosen by ALPN
//! ```
//!
//! Flags: those of the echo example (`--listen`, `--unix`, `--max-connections`, ...), and:
//!
//! - `--tls`: HTTPS with a self-signed certificate for `localhost` and `127.0.0.1`,
//!   offering `h2` and `http/1.1` by ALPN; `--write-cert PATH` writes it out for clients.
//! - `--header-read-timeout-ms` (`HEADER_READ_TIMEOUT_MS`, default 30000): how long a
//!   client may take to send a request's head; also how long an idle keep-alive connection
//!   holds a `--max-connections` slot.
//! - `--proxy-protocol required|optional` (and `--proxy-trusted CIDR`): behind a load
//!   balancer that sends a PROXY header (HAProxy's `send-proxy`), `/peer` and the log show
//!   the client the header names.
//! - `--not-ready-for-ms` (`NOT_READY_FOR_MS`, default 0): on SIGTERM, first answer
//!   `/health` with 503 for this long while still serving, then drain: the time a load
//!   balancer's health checks need to stop sending clients.
//!
//! `/health` answers 200 while the server wants clients and 503 once it is terminating.
//!
//! On SIGINT or SIGTERM the server drains: it stops accepting (new connections are
//! refused), a request in flight is answered and its connection closed, idle connections
//! are closed at once, HTTP/2 clients get a GOAWAY; the process exits 0 once all are done,
//! or at the deadline (`DRAIN_DEADLINE_MS`, default 10000), closing those left.

mod common;

use std::collections::HashMap;
use std::error::Error;
use std::fmt::Debug;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use common::{Listen, ProxyArgs, ServerArgs};
use tcp_serve::http::Http;
use tcp_serve::proxy::PeerAddr;
use tcp_serve::tls::{rustls, TlsLayer};
use tcp_serve::{Family, Readiness, Serve, WhereToListen};
use tower::util::option_layer;

#[derive(Parser)]
#[command(about = "An axum router served by tcp-serve, HTTP/1.1 and HTTP/2")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Serve HTTPS with a self-signed certificate (ALPN: h2, http/1.1)
    #[arg(long)]
    tls: bool,
    /// Where to write the self-signed certificate, PEM (with --tls)
    #[arg(long, requires = "tls")]
    write_cert: Option<PathBuf>,
    /// How long a client may take to send a request's head, in milliseconds
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = 30_000)]
    header_read_timeout_ms: u64,
    #[command(flatten)]
    proxy: ProxyArgs,
    /// On SIGTERM, fail /health for this long before draining, in milliseconds
    #[arg(long, env = "NOT_READY_FOR_MS", default_value_t = 0)]
    not_ready_for_ms: u64,
}

/// The longest `/slow` may take.
const MAX_SLOW_MS: u64 = 60_000;

/// The routes; `A` is the peer address type of the family served (`ConnectInfo<A>`).
fn router<A: Debug + Clone + Send + Sync + 'static>(readiness: Readiness) -> Router {
    Router::new()
        .route("/", get(|| async { "hello from axum on tcp-serve\n" }))
        .route(
            "/health",
            get(move || async move {
                match readiness.is_ready() {
                    true => (StatusCode::OK, "ready\n"),
                    false => (StatusCode::SERVICE_UNAVAILABLE, "terminating\n"),
                }
            }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<A>| async move { format!("{peer:?}\n") }),
        )
        .route("/slow", get(slow::<A>))
}

/// `/slow?ms=N`: answers after N milliseconds.
async fn slow<A: Debug>(
    ConnectInfo(peer): ConnectInfo<A>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<String, (StatusCode, &'static str)> {
    let ms = query.get("ms").and_then(|ms| ms.parse::<u64>().ok()).filter(|&ms| ms <= MAX_SLOW_MS);
    let ms = ms.ok_or((StatusCode::BAD_REQUEST, "give /slow?ms=N, N at most 60000\n"))?;
    println!("axum: {peer:?} sleeping {ms} ms");
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(format!("slept {ms} ms\n"))
}

/// TLS with a fresh self-signed certificate, offering HTTP/2 and HTTP/1.1 by ALPN: the
/// configuration of `examples/tls.rs` (which also reads your own certificate), plus ALPN.
fn tls_layer(args: &Args) -> Result<TlsLayer, Box<dyn Error>> {
    let (chain, key) = common::self_signed_certificate(args.write_cert.as_deref())?;
    // rustls needs a crypto provider; name ring, the one tcp-serve's `tls` feature enables.
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    // Without ALPN a client assumes HTTP/1.1; `h2` lets it choose HTTP/2.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsLayer::new(Arc::new(config)))
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>>
where
    F::Addr: PeerAddr,
{
    let tls = if args.tls { Some(tls_layer(args)?) } else { None };
    let serve = args.server.configure(Serve::new(where_to_listen));
    let http = Http::new(router::<F::Addr>(serve.readiness()))
        .header_read_timeout(Duration::from_millis(args.header_read_timeout_ms));
    // The whole server: where, the limits, a PROXY header or not (it comes first, in the
    // clear), TLS or not, and the router.
    let server =
        serve.layer(option_layer(args.proxy.layer())).layer(option_layer(tls)).serve(http).await?;
    // Signals are handled from here on; only then say where we listen, so that whoever
    // reads the line and sends SIGTERM finds the drain ready.
    let drain = server
        .drain_on_signals(args.server.drain_deadline())?
        .not_ready_for(Duration::from_millis(args.not_ready_for_ms));
    println!("axum: listening on {}", server.endpoint());
    let drained = drain.await?;
    println!("axum: stopped ({drained:?})");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::log_to_stderr("info");
    let args = Args::parse();
    let result = match args.server.listen(([127, 0, 0, 1], 3000).into()) {
        Listen::Inet(addr) => run(WhereToListen::addr(addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("axum", result)
}
