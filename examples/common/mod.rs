//! What every example shares: its command line and its life under SIGINT/SIGTERM.
//!
//! Each example takes `--listen ADDR` or `--unix PATH` (and the server's limits), prints
//! where it listens, and on SIGINT or SIGTERM drains its connections and exits 0.

// Each example uses the parts it needs.
#![allow(dead_code, unused_macros, unused_imports)]

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tcp_serve::{Family, Serve, Server, ShutdownSignal};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::signal::unix::{signal, SignalKind};

/// How long a drain waits for handlers before closing what is left, unless
/// `DRAIN_DEADLINE_MS` says otherwise.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Where to listen, from `--listen` or `--unix`.
#[derive(Debug)]
pub enum Listen {
    /// TCP on this address.
    Inet(SocketAddr),
    /// A Unix socket at this path.
    Unix(PathBuf),
}

/// An example's command line.
#[derive(Debug)]
pub struct Args {
    pub listen: Listen,
    max_connections: Option<usize>,
    backlog: Option<usize>,
    max_accepts_per_batch: Option<usize>,
}

impl Args {
    /// Parses the command line, or explains it and exits 2.
    pub fn parse(name: &str, default_listen: &str) -> Args {
        match Self::try_parse(std::env::args().skip(1), default_listen) {
            Ok(args) => args,
            Err(message) => {
                if !message.is_empty() {
                    eprintln!("{name}: {message}");
                }
                eprintln!(
                    "usage: {name} [--listen ADDR | --unix PATH] [--max-connections N] \
                     [--backlog N] [--max-accepts-per-batch N]"
                );
                std::process::exit(2);
            }
        }
    }

    fn try_parse(
        mut words: impl Iterator<Item = String>,
        default_listen: &str,
    ) -> Result<Args, String> {
        let mut listen = None;
        let mut args = Args {
            listen: Listen::Inet(default_listen.parse().map_err(|e| format!("{e}"))?),
            max_connections: None,
            backlog: None,
            max_accepts_per_batch: None,
        };
        while let Some(flag) = words.next() {
            let value = words.next().ok_or_else(|| format!("{flag} needs a value"));
            let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
            let place = match flag.as_str() {
                "--listen" => {
                    let v = value?;
                    Listen::Inet(v.parse().map_err(|e| format!("--listen {v}: {e}"))?)
                }
                "--unix" => Listen::Unix(PathBuf::from(value?)),
                "--max-connections" => {
                    args.max_connections = Some(number(value?)?);
                    continue;
                }
                "--backlog" => {
                    args.backlog = Some(number(value?)?);
                    continue;
                }
                "--max-accepts-per-batch" => {
                    args.max_accepts_per_batch = Some(number(value?)?);
                    continue;
                }
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other}")),
            };
            if listen.replace(place).is_some() {
                return Err("give one --listen or --unix".into());
            }
        }
        if let Some(place) = listen {
            args.listen = place;
        }
        Ok(args)
    }

    /// Applies the limits given on the command line.
    pub fn configure<F: Family, L>(&self, mut serve: Serve<F, L>) -> Serve<F, L> {
        if let Some(n) = self.max_connections {
            serve = serve.max_connections(n);
        }
        if let Some(n) = self.backlog {
            serve = serve.backlog(n);
        }
        if let Some(n) = self.max_accepts_per_batch {
            serve = serve.max_accepts_per_batch(n);
        }
        serve
    }
}

/// Prints where `server` listens, waits for SIGINT or SIGTERM (or for the server to stop by
/// itself), then drains it: says when it no longer accepts, and how the drain ended.
///
/// The drain waits [`DRAIN_DEADLINE`] for handlers, or `DRAIN_DEADLINE_MS` from the
/// environment.
pub async fn run_until_signal<F: Family>(
    name: &str,
    server: Server<F>,
) -> Result<(), Box<dyn Error>> {
    let deadline = match std::env::var("DRAIN_DEADLINE_MS") {
        Ok(ms) => {
            Duration::from_millis(ms.parse().map_err(|e| format!("DRAIN_DEADLINE_MS={ms}: {e}"))?)
        }
        Err(_) => DRAIN_DEADLINE,
    };
    println!("{name}: listening on {}", server.endpoint());
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
        stopped = server.clone() => stopped?,
    }
    let (drained, ()) = tokio::join!(server.drain(deadline), async {
        // `drain` closes the listening socket first; from here connects are refused.
        server.close_finished().await;
        println!("{name}: draining {} connections; no longer accepting", server.num_connections());
    });
    println!("{name}: stopped ({drained:?})");
    Ok(())
}

/// Turns an example's result into its exit code, printing the error.
pub fn exit_code(name: &str, result: Result<(), Box<dyn Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A number from the environment variable `name`, if it is set.
pub fn setting(name: &str) -> Result<Option<u64>, Box<dyn Error>> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value.parse().map_err(|e| format!("{name}={value}: {e}"))?)),
        Err(_) => Ok(None),
    }
}

/// Echoes `stream` until the client closes its side or a drain begins. `check` sees each
/// chunk first and may end the connection with an error.
pub async fn echo<S: AsyncRead + AsyncWrite>(
    stream: S,
    shutdown: ShutdownSignal,
    check: impl Fn(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = reader.read(&mut buf) => read?,
            () = shutdown.requested() => 0,
        };
        if n == 0 {
            // Over TLS this sends close_notify first.
            return writer.shutdown().await;
        }
        check(&buf[..n])?;
        writer.write_all(&buf[..n]).await?;
    }
}

/// The body of an example's `main`: parses the command line, awaits `$run(where, &args)`
/// for TCP or a Unix socket as it says, and turns the result into the exit code.
macro_rules! run_main {
    ($name:literal, $default_listen:literal, $run:ident) => {{
        let args = common::Args::parse($name, $default_listen);
        let result = match &args.listen {
            common::Listen::Inet(addr) => $run(tcp_serve::WhereToListen::addr(*addr), &args).await,
            common::Listen::Unix(path) => $run(tcp_serve::WhereToListen::unix(path), &args).await,
        };
        common::exit_code($name, result)
    }};
}
pub(crate) use run_main;
