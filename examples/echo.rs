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

mod common;

use std::error::Error;
use std::io;
use std::process::ExitCode;

use common::{Args, Listen};
use tcp_serve::{service_fn, Connection, Family, Serve, ShutdownSignal, WhereToListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Echoes until the client closes its side, or until a drain begins.
async fn echo<F: Family>(
    (_peer, stream): Connection<F>,
    shutdown: ShutdownSignal,
) -> io::Result<()> {
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

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let serve = args.configure(Serve::new(where_to_listen));
    let shutdown = serve.shutdown_signal();
    let server =
        serve.serve(service_fn(move |connection| echo::<F>(connection, shutdown.clone()))).await?;
    common::run_until_signal("echo", server).await
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse("echo", "127.0.0.1:7878");
    let result = match &args.listen {
        Listen::Inet(addr) => run(WhereToListen::addr(*addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("echo", result)
}
