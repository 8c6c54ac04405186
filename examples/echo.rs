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
use std::process::ExitCode;

use common::Args;
use tcp_serve::{service_fn, Connection, Family, Serve, WhereToListen};

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let serve = args.configure(Serve::new(where_to_listen));
    let shutdown = serve.shutdown_signal();
    let server = serve
        .serve(service_fn(move |(_peer, stream): Connection<F>| {
            common::echo(stream, shutdown.clone(), |_| Ok(()))
        }))
        .await?;
    common::run_until_signal("echo", server).await
}

#[tokio::main]
async fn main() -> ExitCode {
    common::run_main!("echo", "127.0.0.1:7878", run)
}
