//! An echo server: every byte a client sends comes back.
//!
//! ```text
//! cargo run --example echo                          # TCP on 127.0.0.1:7878
//! cargo run --example echo -- --listen 0.0.0.0:9000 --max-connections 100
//! cargo run --example echo -- --unix /tmp/echo.sock
//! socat - TCP:127.0.0.1:7878                        # type a line, see it again
//! cargo run --example echo -- --proxy-protocol required --say-peer   # behind HAProxy
//! systemd-socket-activate -l 127.0.0.1:7878 target/debug/examples/echo --systemd
//! ```
//!
//! Behind a load balancer that sends a PROXY header (HAProxy's `send-proxy`),
//! `--proxy-protocol` serves each connection as the client the header names, and
//! `--say-peer` greets every client with `peer <address>` to show it.
//!
//! With `--systemd` it serves the socket systemd passed (socket activation; the units are
//! in `examples/systemd/`), and with `NOTIFY_SOCKET` set it tells systemd when it is ready.
//!
//! On SIGINT or SIGTERM it drains: it stops accepting, each connection stops reading and
//! closes once it has echoed what it had, and the process exits 0 (a second signal closes
//! every connection at once). `--help` lists the flags.

mod common;

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use common::{Listen, ProxyArgs, ServerArgs};
use tcp_serve::proxy::{PeerAddr, ProxiedStream};
use tcp_serve::systemd::{self, AnyListener, ListenFds};
use tcp_serve::{service_fn, Connection, Family, Serve, ShutdownSignal, WhereToListen};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Parser)]
#[command(about = "An echo server: every byte a client sends comes back")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    proxy: ProxyArgs,
    /// Greet each client with `peer <address>`: who the server thinks it is
    #[arg(long)]
    say_peer: bool,
    /// Serve the socket systemd passed (LISTEN_FDS) instead of binding one
    #[arg(long, conflicts_with_all = ["listen", "unix"])]
    systemd: bool,
    /// With --systemd: the socket's FileDescriptorName= [default: the first socket]
    #[arg(long, value_name = "NAME", requires = "systemd")]
    systemd_name: Option<String>,
}

/// Echoes until the client closes its side, or until a drain begins: then the stream's reads
/// end as if the client had closed, and the loop ends after echoing what it read.
///
/// The pattern to copy for a handler that drains: give the connection's stream to the
/// drain signal (one clone per connection), which costs an atomic load per read. Returning
/// drops the stream, which closes the connection: the client reads EOF.
async fn echo<S>(stream: S, shutdown: ShutdownSignal) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = shutdown.until_drain(stream);
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// Serves one client: first, if asked, tells it who the server thinks it is.
async fn serve_client<A, S>(
    peer: A,
    mut stream: S,
    say_peer: bool,
    shutdown: ShutdownSignal,
) -> std::io::Result<()>
where
    A: std::fmt::Debug,
    S: AsyncRead + AsyncWrite + Unpin,
{
    if say_peer {
        stream.write_all(format!("peer {peer:?}\n").as_bytes()).await?;
    }
    echo(stream, shutdown).await
}

async fn run<F: Family>(serve: Serve<F>, args: &Args) -> Result<(), Box<dyn Error>>
where
    F::Addr: PeerAddr,
{
    let serve = args.server.configure(serve);
    let (shutdown, say_peer) = (serve.shutdown_signal(), args.say_peer);
    // Behind a balancer, the PROXY layer hands each handler the client and a stream that
    // starts after the header; otherwise it gets the peer and the socket.
    let server = match args.proxy.layer() {
        Some(proxy) => {
            let handler = move |(client, stream): (F::Addr, ProxiedStream<F::Stream>)| {
                serve_client(client, stream, say_peer, shutdown.clone())
            };
            serve.layer(proxy).serve(service_fn(handler)).await?
        }
        None => {
            let handler = move |(peer, stream): Connection<F>| {
                serve_client(peer, stream, say_peer, shutdown.clone())
            };
            serve.serve(service_fn(handler)).await?
        }
    };
    // Signals are handled from here on; only then say where we listen, so that whoever
    // reads the line and sends SIGTERM finds the drain ready.
    let drain = server.drain_on_signals(args.server.drain_deadline())?;
    println!("echo: listening on {}", server.endpoint());
    systemd::notify_ready()?;
    let drained = drain.await?;
    println!("echo: stopped ({drained:?})");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Before the runtime starts its threads: taking systemd's sockets clears LISTEN_* from
    // the environment.
    let systemd = args.systemd.then(|| take_systemd_socket(args.systemd_name.as_deref()));
    serve(args, systemd)
}

/// The socket systemd passed: the one named `name`, else the first.
fn take_systemd_socket(name: Option<&str>) -> Result<AnyListener, tcp_serve::Error> {
    let mut fds = ListenFds::from_env()?;
    match name {
        Some(name) => fds.take_named(name),
        None => fds.take(0),
    }
}

#[tokio::main]
async fn serve(args: Args, systemd: Option<Result<AnyListener, tcp_serve::Error>>) -> ExitCode {
    common::log_to_stderr("info");
    let result = match systemd {
        Some(Err(error)) => Err(error.into()),
        Some(Ok(AnyListener::Inet(listener))) => run(Serve::from_listener(listener), &args).await,
        Some(Ok(AnyListener::Unix(listener))) => run(Serve::from_listener(listener), &args).await,
        None => match args.server.listen(([127, 0, 0, 1], 7878).into()) {
            Listen::Inet(addr) => run(Serve::new(WhereToListen::addr(addr)), &args).await,
            Listen::Unix(path) => run(Serve::new(WhereToListen::unix(path)), &args).await,
        },
    };
    common::exit_code("echo", result)
}
