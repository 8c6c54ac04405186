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
//! The new process is started as this one was (its `argv[0]` and arguments), so replacing
//! the binary on disk and sending SIGHUP deploys the new version. If the new process fails
//! to start or to take the socket, the old one says why and keeps serving. SIGINT or
//! SIGTERM drain and exit as in the echo example.

mod common;

use std::error::Error;
use std::future::IntoFuture;
use std::process::ExitCode;

use clap::Parser;
use tcp_serve::{handover, service_fn, Connection, Inet, Listener, Serve, WhereToListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
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
async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
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

async fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let me = std::process::id();
    // Started by a running server to take over: its socket; otherwise a new one.
    let (listener, confirm) = match handover::receive::<Inet>().await? {
        Some((listener, confirm)) => (listener, Some(confirm)),
        None => {
            let addr = args.server.listen.unwrap_or(([127, 0, 0, 1], 7883).into());
            (Listener::bind(&WhereToListen::addr(addr))?, None)
        }
    };
    let server = args
        .server
        .configure(Serve::from_listener(listener))
        .serve(service_fn(|(_peer, stream): Connection<Inet>| echo(stream)))
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
                Err(error) => println!("restart: pid {me} keeps serving: {error}"),
            },
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    common::log_to_stderr();
    let args = Args::parse();
    common::exit_code("restart", run(&args).await)
}
