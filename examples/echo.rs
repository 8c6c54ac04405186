//! An echo server: every byte a client sends comes back.
//!
//! ```text
//! cargo run --example echo                          # TCP on 127.0.0.1:7878
//! cargo run --example echo -- --listen 0.0.0.0:9000 --max-connections 100
//! cargo run --example echo -- --unix /tmp/echo.sock
//! socat - TCP:127.0.0.1:7878                        # type a line, see it again
//! ```
//!
//! Flags: `--listen ADDR`, `--unix PATH`, `--max-connections N`, `--backlog N`,
//! `--max-accepts-per-batch N`. On SIGINT or SIGTERM it drains: stops accepting, lets
//! clients finish what they sent (up to 10 s), then exits 0.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tcp_serve::{service_fn, Connection, Family, Serve, ShutdownSignal, WhereToListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{signal, SignalKind};

const DEFAULT_LISTEN: &str = "127.0.0.1:7878";
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
const USAGE: &str = "usage: echo [--listen ADDR | --unix PATH] [--max-connections N] \
                     [--backlog N] [--max-accepts-per-batch N]";

#[derive(Debug, Default)]
struct Args {
    listen: Option<SocketAddr>,
    unix: Option<PathBuf>,
    max_connections: Option<usize>,
    backlog: Option<usize>,
    max_accepts_per_batch: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        let mut value = || words.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                args.listen = Some(v.parse().map_err(|e| format!("--listen {v}: {e}"))?);
            }
            "--unix" => args.unix = Some(PathBuf::from(value()?)),
            "--max-connections" => args.max_connections = Some(number(value()?)?),
            "--backlog" => args.backlog = Some(number(value()?)?),
            "--max-accepts-per-batch" => args.max_accepts_per_batch = Some(number(value()?)?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.listen.is_some() && args.unix.is_some() {
        return Err("give --listen or --unix, not both".into());
    }
    Ok(args)
}

/// Echoes until the client closes its side, or until a drain begins.
async fn echo<F: Family>((_peer, stream): Connection<F>, shutdown: ShutdownSignal) -> io::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = reader.read(&mut buf) => read?,
            () = shutdown.requested() => 0,
        };
        if n == 0 {
            return writer.shutdown().await;
        }
        writer.write_all(&buf[..n]).await?;
    }
}

async fn run<F: Family>(where_to_listen: WhereToListen<F>, args: &Args) -> Result<(), Box<dyn Error>> {
    let mut serve = Serve::new(where_to_listen);
    if let Some(n) = args.max_connections {
        serve = serve.max_connections(n);
    }
    if let Some(n) = args.backlog {
        serve = serve.backlog(n);
    }
    if let Some(n) = args.max_accepts_per_batch {
        serve = serve.max_accepts_per_batch(n);
    }
    let shutdown = serve.shutdown_signal();
    let server = serve
        .serve(service_fn(move |connection| echo::<F>(connection, shutdown.clone())))
        .await?;
    println!("echo: listening on {}", server.endpoint());

    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
        stopped = server.clone() => stopped?,
    }
    println!("echo: draining {} connections", server.num_connections());
    let drained = server.drain(DRAIN_DEADLINE).await;
    println!("echo: stopped ({drained:?})");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("echo: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match &args.unix {
        Some(path) => run(WhereToListen::unix(path), &args).await,
        None => {
            let addr = args.listen.unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid address"));
            run(WhereToListen::addr(addr), &args).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo: {error}");
            ExitCode::FAILURE
        }
    }
}
