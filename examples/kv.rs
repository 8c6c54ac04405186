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
//! Takes the same flags as the echo example, and drains on SIGINT or SIGTERM.

mod common;

use std::collections::HashMap;
use std::error::Error;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use common::Args;
use futures::{SinkExt, StreamExt};
use tcp_serve::io::{AgeLimited, Framing};
use tcp_serve::{Family, Serve, ShutdownSignal, WhereToListen};
use tokio_util::codec::{Framed, LinesCodec, LinesCodecError};

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
    shutdown: ShutdownSignal,
) -> Result<(), LinesCodecError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let line = tokio::select! {
            line = lines.next() => line,
            () = shutdown.requested() => return lines.send("BYE server shutting down").await,
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
    let serve = args.configure(Serve::new(where_to_listen));
    let shutdown = serve.shutdown_signal();
    let store = Store::default();
    let kv = Framing::new(LinesCodec::new_with_max_length(MAX_LINE), move |_peer, lines| {
        session::<F::Stream>(Arc::clone(&store), lines, shutdown.clone())
    });
    let server = serve.serve(kv).await?;
    common::run_until_signal("kv", server).await
}

#[tokio::main]
async fn main() -> ExitCode {
    common::run_main!("kv", "127.0.0.1:7879", run)
}
