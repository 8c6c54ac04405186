//! An echo server: every byte a client sends comes back.
//!
//! ```text
//! cargo run --example echo                          # TCP on 127.0.0.1:7878
//! cargo run --example echo -- --listen 0.0.0.0:9000 --max-connections 100
//! cargo run --example echo -- --unix /tmp/echo.sock
//! socat - TCP:127.0.0.1:7878                        # type a line, see it again
//! ```
//!
//! On SIGINT or SIGTERM it drains: it stops accepting, each connection stops reading and
//! closes once it has echoed what it had, and the process exits 0 (a second signal closes
//! every connection at once). `--help` lists the flags.

mod common;

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use common::{Listen, ServerArgs};
use tcp_serve::{service_fn, Connection, Family, Serve, ShutdownSignal, WhereToListen};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Parser)]
#[command(about = "An echo server: every byte a client sends comes back")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

/// Echoes until the client closes its side, or until a drain begins: then it stops
/// reading, and closes its side once the bytes it read are echoed.
///
/// The pattern to copy for a handler that drains: one clone of the signal per connection,
/// watched in a `select!` with each read (`biased`, so the watch comes first and a drain is
/// seen even while the client keeps sending). Watching costs an atomic load per read.
async fn echo<S>(mut stream: S, mut shutdown: ShutdownSignal) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = tokio::select! {
            biased;
            () = shutdown.requested() => 0,
            n = stream.read(&mut buf) => n?,
        };
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
    let serve = args.server.configure(Serve::new(where_to_listen));
    let shutdown = serve.shutdown_signal();
    let server = serve
        .serve(service_fn(move |(_peer, stream): Connection<F>| echo(stream, shutdown.clone())))
        .await?;
    // Signals are handled from here on; only then say where we listen, so that whoever
    // reads the line and sends SIGTERM finds the drain ready.
    let drain = server.drain_on_signals(args.server.drain_deadline())?;
    println!("echo: listening on {}", server.endpoint());
    let drained = drain.await?;
    println!("echo: stopped ({drained:?})");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::log_to_stderr();
    let args = Args::parse();
    let result = match args.server.listen(([127, 0, 0, 1], 7878).into()) {
        Listen::Inet(addr) => run(WhereToListen::addr(addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("echo", result)
}
