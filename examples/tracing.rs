//! The echo server with its `tracing` events printed by `tracing-subscriber`, and its
//! metrics logged periodically.
//!
//! ```text
//! cargo run --example tracing                       # TCP on 127.0.0.1:7881
//! socat - TCP:127.0.0.1:7881                        # watch the server's log on stderr
//! RUST_LOG=tcp_serve=trace,info cargo run --example tracing
//! METRICS_EVERY_MS=1000 cargo run --example tracing # metrics once a second
//! ```
//!
//! What tcp-serve logs (target `tcp_serve`), each connection's events inside a span
//! `connection{id=N peer=ADDR}`:
//!
//! | event | level |
//! |---|---|
//! | listening; closing the server; drain deadline passed | INFO |
//! | accepted; connection closed | DEBUG |
//! | dropped an incoming connection (drop_incoming_connections is on) | DEBUG |
//! | at max_connections (at most once a minute while at the limit) | INFO |
//! | connection handler failed (the default `OnHandlerError::Log`) | WARN |
//! | TLS handshake failed or timed out (`TlsLayer`) | DEBUG |
//! | accept failed (out of file descriptors or memory), pausing | WARN |
//!
//! Flags: those of the echo example. Environment: `RUST_LOG` (default
//! `tcp_serve=debug,info`); `METRICS_EVERY_MS` (default 10000), how often `Server::metrics`
//! is logged at INFO. The log goes to stderr; stdout has the example's own lines. On SIGINT
//! or SIGTERM it drains and exits 0.

mod common;

use std::error::Error;
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use common::Args;
use tcp_serve::{service_fn, Connection, Family, Serve, WhereToListen};
use tracing_subscriber::EnvFilter;

/// A client that sends `fail` makes its handler return an error, to show how one is logged.
fn fail_on_request(chunk: &[u8]) -> io::Result<()> {
    if chunk.starts_with(b"fail") {
        return Err(io::Error::other("the client asked for a failure"));
    }
    Ok(())
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let metrics_every = match common::setting("METRICS_EVERY_MS")? {
        None => Duration::from_secs(10),
        Some(ms) if ms > 0 => Duration::from_millis(ms),
        Some(_) => return Err("METRICS_EVERY_MS must be a number of milliseconds above 0".into()),
    };
    let serve = args.configure(Serve::new(where_to_listen));
    let shutdown = serve.shutdown_signal();
    let server = serve
        .serve(service_fn(move |(_peer, stream): Connection<F>| {
            common::echo(stream, shutdown.clone(), fail_on_request)
        }))
        .await?;

    // The counters, for a log or an exporter (Prometheus and the like would read the same).
    let watched = server.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(metrics_every);
        every.tick().await;
        while !watched.is_closed() {
            every.tick().await;
            tracing::info!(metrics = ?watched.metrics(), "metrics");
        }
    });
    common::run_until_signal("tracing", server).await
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("tcp_serve=debug,info"));
    // To stderr: stdout starts with the `tracing: listening on ADDR` line scripts read.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    common::run_main!("tracing", "127.0.0.1:7881", run)
}
