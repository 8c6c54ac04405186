//! Zero-downtime restart: on SIGHUP, the echo server starts a new process of this program,
//! hands it the listening socket, and once the new one accepts, drains and exits 0. No
//! client is refused during the restart: both processes hold the same socket meanwhile.
//!
//! ```text
//! cargo build --example restart && target/debug/examples/restart --listen 127.0.0.1:7883 &
//! socat - TCP:127.0.0.1:7883                        # echoed
//! kill -HUP %1                                      # a new pid serves; the old one drains
//! ```
//!
//! With `--unix PATH` it serves a Unix socket instead, and hands that over the same way.
//!
//! The new process is started as this one was (its `argv[0]` and arguments), so replacing
//! the binary on disk and sending SIGHUP deploys the new version. If the new process fails
//! to start or to take the socket, the old one says why and keeps serving. SIGINT or
//! SIGTERM drain and exit as in the echo example.

mod common;

use std::error::Error;
use std::future::IntoFuture;
use std::process::ExitCode;

use clap::Parser;
use common::Listen;
use tcp_serve::{handover, service_fn, Connection, Family, Listener, Serve, WhereToListen};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(about = "An echo server that restarts on SIGHUP without refusing a client")]
struct Args {
    #[command(flatten)]
    server: common::ServerArgs,
}

/// Echoes until the client closes its side. Unlike `examples/echo.rs`, it does not end a
/// conversation when a drain begins: a client the old process accepted a moment before it
/// handed over is still answered in full (the drain's deadline bounds a client that never
/// leaves).
async fn echo<S>(mut stream: S) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// This program again, started as this process was, to take over.
fn successor() -> tokio::process::Command {
    let mut args = std::env::args_os();
    let mut command = tokio::process::Command::new(args.next().unwrap_or_else(|| "restart".into()));
    command.args(args);
    command
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let me = std::process::id();
    // Started by a running server to take over: its socket; otherwise a new one.
    let (listener, confirm) = match handover::receive::<F>().await? {
        Some((listener, confirm)) => (listener, Some(confirm)),
        None => (Listener::bind(&where_to_listen)?, None),
    };
    let server = args
        .server
        .configure(Serve::from_listener(listener))
        .serve(service_fn(|(_peer, stream): Connection<F>| echo(stream)))
        .await?;
    let mut hangup = signal(SignalKind::hangup())?;
    let drain = server.drain_on_signals(args.server.drain_deadline())?.into_future();
    if let Some(confirm) = confirm {
        // We accept: the old process may stop.
        confirm.accepting().await?;
    }
    println!("restart: listening on {}", server.endpoint());
    println!("restart: pid {me} serving");
    tokio::pin!(drain);
    loop {
        tokio::select! {
            drained = &mut drain => {
                println!("restart: pid {me} stopped ({:?})", drained?);
                return Ok(());
            }
            _ = hangup.recv() => match server.hand_over(successor()).await {
                Ok(pid) => {
                    println!("restart: pid {me} handed over to pid {pid}");
                    let drained = server.drain(args.server.drain_deadline()).await;
                    println!("restart: pid {me} stopped ({drained:?})");
                    return Ok(());
                }
                Err(error) => {
                    println!("restart: pid {me} keeps serving: {}", common::report(&error));
                }
            },
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    common::log_to_stderr("info");
    let args = Args::parse();
    let result = match args.server.listen(([127, 0, 0, 1], 7883).into()) {
        Listen::Inet(addr) => run(WhereToListen::addr(addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("restart", result)
}
