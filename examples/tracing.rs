//! The echo server with its `tracing` events printed by `tracing-subscriber`, and its
//! metrics logged periodically.
//!
//! ```text
//! cargo run --example tracing                       # TCP on 127.0.0.1:7881
//! socat - TCP:127.0.0.1:7881                        # watch the server's log on stderr
//! RUST_LOG=tcp_serve=trace,info cargo run --example tracing
//! cargo run --example tracing -- --metrics-every-ms 1000   # metrics once a second
//! ```
//!
//! What tcp-serve logs (target `tcp_serve`), each connection's events inside a span
//! `connection{id=N peer=ADDR}`:
//!
//! | event | level |
//! |---|---|
//! | listening; closing the server; stopped accepting; drain deadline passed | INFO |
//! | draining (on a signal); closing every connection now (a second signal) | INFO, WARN |
//! | accepted; connection closed | DEBUG |
//! | dropped an incoming connection (drop_incoming_connections is on) | DEBUG |
//! | at max_connections (at most once a minute while at the limit) | INFO |
//! | connection handler failed (the default `OnHandlerError::Log`) | WARN |
//! | TLS handshake failed or timed out (`TlsLayer`) | DEBUG |
//! | accept failed (out of file descriptors or memory), pausing | WARN |
//!
//! Flags: those of the echo example, and `--metrics-every-ms` (`METRICS_EVERY_MS`, default
//! 10000), how often `Server::metrics` is logged at INFO. Environment: `RUST_LOG` (default
//! `tcp_serve=debug,info`). The log goes to stderr; stdout has the example's own lines. On
//! SIGINT or SIGTERM it drains and exits 0. A client that sends `fail` makes its handler
//! return an error, to show how one is logged.

mod common;

use std::error::Error;
use std::io;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::{Listen, ServerArgs};
use tcp_serve::{service_fn, Connection, Family, Serve, ShutdownSignal, WhereToListen};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Parser)]
#[command(about = "The echo server with its tracing events and metrics logged")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// How often the server's metrics are logged, in milliseconds
    #[arg(long, env = "METRICS_EVERY_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    metrics_every_ms: u64,
}

/// Echoes until the client closes its side or a drain begins; a chunk starting with `fail`
/// makes it return an error instead, to show how a failed handler is logged.
async fn echo<S>(stream: S, shutdown: ShutdownSignal) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Once a drain begins, reads end as at the client's EOF.
    let mut stream = shutdown.until_drain(stream);
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        if buf[..n].starts_with(b"fail") {
            return Err(io::Error::other("the client asked for a failure"));
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let serve = args.server.configure(Serve::new(where_to_listen));
    let shutdown = serve.shutdown_signal();
    let server = serve
        .serve(service_fn(move |(_peer, stream): Connection<F>| echo(stream, shutdown.clone())))
        .await?;

    // The counters, for a log or an exporter (Prometheus and the like would read the same).
    let watched = server.clone();
    let metrics_every = Duration::from_millis(args.metrics_every_ms);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(metrics_every);
        every.tick().await;
        while !watched.is_closed() {
            every.tick().await;
            tracing::info!(metrics = ?watched.metrics(), "metrics");
        }
    });
    // Signals are handled from here on; only then say where we listen, so that whoever
    // reads the line and sends SIGTERM finds the drain ready.
    let drain = server.drain_on_signals(args.server.drain_deadline())?;
    println!("tracing: listening on {}", server.endpoint());
    let drained = drain.await?;
    println!("tracing: stopped ({drained:?})");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // To stderr: stdout starts with the `tracing: listening on ADDR` line scripts read.
    common::log_to_stderr("tcp_serve=debug,info");
    let args = Args::parse();
    let result = match args.server.listen(([127, 0, 0, 1], 7881).into()) {
        Listen::Inet(addr) => run(WhereToListen::addr(addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("tracing", result)
}
