//! A key-value server speaking a line protocol, framed with `tokio_util`'s `LinesCodec`.
//!
//! ```text
//! cargo run --example kv                            # TCP on 127.0.0.1:7879
//! socat - TCP:127.0.0.1:7879
//! SET greeting hello world      -> OK
//! GET greeting                  -> VALUE hello world
//! DEL greeting                  -> DELETED
//! GET greeting                  -> NOT_FOUND
//! QUIT                          -> BYE (and the server closes the connection)
//! ```
//!
//! Takes the same flags as the echo example (`--help` lists them), and drains on SIGINT or
//! SIGTERM: each client is told `BYE server shutting down`.

mod common;

use std::collections::HashMap;
use std::error::Error;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use common::{Listen, ServerArgs};
use futures::{SinkExt, StreamExt};
use tcp_serve::io::{AgeLimited, FramedConnection, FramingLayer};
use tcp_serve::{service_fn, Family, Serve, ShutdownSignal, WhereToListen};
use tokio_util::codec::{Framed, LinesCodec, LinesCodecError};

#[derive(Parser)]
#[command(about = "A key-value server speaking a line protocol")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

/// The longest request line taken; a longer one ends the connection with an error.
const MAX_LINE: usize = 8 * 1024;

type Store = Arc<Mutex<HashMap<String, String>>>;

/// Answers one request line; `None` means the client said goodbye.
fn answer(store: &Store, line: &str) -> Option<String> {
    let mut words = line.splitn(3, ' ');
    let mut store = store.lock().expect("no handler panics while holding the store");
    let reply = match (words.next(), words.next(), words.next()) {
        (Some("GET"), Some(key), None) => match store.get(key) {
            Some(value) => format!("VALUE {value}"),
            None => "NOT_FOUND".into(),
        },
        (Some("SET"), Some(key), Some(value)) => {
            store.insert(key.to_owned(), value.to_owned());
            "OK".into()
        }
        (Some("DEL"), Some(key), None) => match store.remove(key) {
            Some(_) => "DELETED".into(),
            None => "NOT_FOUND".into(),
        },
        (Some("QUIT"), None, None) => return None,
        _ => format!("ERROR unknown command: {line}"),
    };
    Some(reply)
}

/// Serves one client until it quits, leaves, or a drain begins.
async fn session<S>(
    store: Store,
    mut lines: Framed<AgeLimited<S>, LinesCodec>,
    mut shutdown: ShutdownSignal,
) -> Result<(), LinesCodecError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let line = tokio::select! {
            biased;
            () = shutdown.requested() => return lines.send("BYE server shutting down").await,
            line = lines.next() => line,
        };
        let Some(line) = line.transpose()? else { return Ok(()) };
        match answer(&store, &line) {
            Some(reply) => lines.send(reply).await?,
            None => return lines.send("BYE").await,
        }
    }
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let serve = args.server.configure(Serve::new(where_to_listen));
    let shutdown = serve.shutdown_signal();
    let store = Store::default();
    let server = serve
        .layer(FramingLayer::new(LinesCodec::new_with_max_length(MAX_LINE)))
        .serve(service_fn(
            move |(_peer, lines): FramedConnection<F::Addr, F::Stream, LinesCodec>| {
                session(Arc::clone(&store), lines, shutdown.clone())
            },
        ))
        .await?;
    // Signals are handled from here on; only then say where we listen, so that whoever
    // reads the line and sends SIGTERM finds the drain ready.
    let drain = server.drain_on_signals(args.server.drain_deadline())?;
    println!("kv: listening on {}", server.endpoint());
    let drained = drain.await?;
    println!("kv: stopped ({drained:?})");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::log_to_stderr("info");
    let args = Args::parse();
    let result = match args.server.listen(([127, 0, 0, 1], 7879).into()) {
        Listen::Inet(addr) => run(WhereToListen::addr(addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("kv", result)
}
