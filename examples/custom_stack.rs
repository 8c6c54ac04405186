//! A server whose stack is built by hand around an `Acceptor`, in an order `Serve` does not
//! use: `tower::load_shed` outside the connection limit, so that at the limit a client is
//! accepted and closed at once (it sees EOF and can try elsewhere) instead of waiting in the
//! backlog; and a tower `TimeoutLayer` that only covers the connection's handler.
//!
//! ```text
//! cargo run --example custom_stack -- --max-connections 2
//! socat - TCP:127.0.0.1:7882         # two of these are echoed; a third is closed at once
//! ```
//!
//! The acceptor keeps everything `Serve` gives: the close guarantee, batching, the back-off
//! on accept errors, and the `Server` handle (metrics, drain on SIGINT/SIGTERM).

mod common;

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::{Listen, ServerArgs};
use tcp_serve::{
    service_fn, Acceptor, Connection, Family, Listener, OnHandlerError, WhereToListen,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower::ServiceBuilder;

#[derive(Parser)]
#[command(about = "An echo server on a stack built by hand around an Acceptor")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

/// Echoes until the client closes its side (no drain watch: the timeout bounds it).
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> std::io::Result<()> {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let listener = Listener::bind(&where_to_listen)?;
    let mut acceptor = Acceptor::new(listener);
    if let Some(max) = args.server.max_connections {
        acceptor = acceptor.max_connections(max);
    }
    let stack = ServiceBuilder::new()
        // Outermost: every failure below, shed connections included, is logged and counted.
        .layer(acceptor.error_policy_layer(OnHandlerError::call(|peer, error| {
            println!("custom_stack: {peer:?} ended: {error}");
        })))
        // Always ready: when the limit below is not, the connection is accepted and dropped
        // with an "overloaded" error instead of waiting in the backlog.
        .load_shed()
        .layer(acceptor.limit_layer())
        .layer(acceptor.graceful_layer())
        // Inside the count: a connection's whole life is bounded.
        .timeout(Duration::from_secs(60))
        .service(service_fn(|(_peer, stream): Connection<F>| echo(stream)));
    let server = acceptor.serve(stack)?;
    let drain = server.drain_on_signals(args.server.drain_deadline())?;
    println!("custom_stack: listening on {}", server.endpoint());
    let drained = drain.await?;
    println!("custom_stack: stopped ({drained:?}); {:?}", server.metrics());
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::log_to_stderr("info");
    let args = Args::parse();
    let result = match args.server.listen(([127, 0, 0, 1], 7882).into()) {
        Listen::Inet(addr) => run(WhereToListen::addr(addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("custom_stack", result)
}
