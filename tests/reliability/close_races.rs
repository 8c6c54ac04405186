//! Guarantee 5: `close_with(Close)` racing clients that connect, on the multi-thread
//! runtime: no handler call after close returns, the future resolves, and every client's
//! connection ends.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tcp_serve::{ExistingConnections, Inet, Serve, WhereToListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::common::*;
use crate::is_reset;

const ROUNDS: usize = 50;
const CLIENTS: usize = 24;
/// Connections each client makes at most; it stops once one is refused.
const ATTEMPTS: usize = 4;

/// What one client saw over its connections; for a round, also what the server did.
#[derive(Default, Debug)]
struct Seen {
    connections: usize,
    served_then_closed: usize,
    closed_unserved: usize,
    refused: usize,
    /// Handler calls counted after `close_with` returned (must be 0).
    calls_after_close: usize,
    /// `num_connections` once `close_with(Close)`'s future resolved (must be 0).
    left_open: usize,
}

impl Seen {
    fn add(&mut self, other: Seen) {
        self.connections += other.connections;
        self.served_then_closed += other.served_then_closed;
        self.closed_unserved += other.closed_unserved;
        self.refused += other.refused;
        self.calls_after_close += other.calls_after_close;
        self.left_open += other.left_open;
    }
}

/// Connects (at most [`ATTEMPTS`] times, until refused); on each connection, writes a ping
/// and either gets it back and then sees the server end the connection, or sees the
/// connection end (a reset, for one left in the backlog when the listener closed).
async fn client(port: u16) -> Seen {
    let mut seen = Seen::default();
    for _ in 0..ATTEMPTS {
        let mut stream = match within("connect", TcpStream::connect(("127.0.0.1", port))).await {
            Ok(stream) => stream,
            // Refused once the listener is closed; reset if it closed mid-handshake.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused || is_reset(&e) => {
                seen.refused += 1;
                return seen;
            }
            Err(e) => panic!("connect failed oddly: {e}"),
        };
        seen.connections += 1;
        if let Err(e) = stream.write_all(b"ping").await {
            assert!(is_reset(&e), "writing failed oddly: {e}");
        }
        let mut echoed = [0; 4];
        match within("the echo or the end", stream.read_exact(&mut echoed)).await {
            Ok(_) => {
                assert_eq!(&echoed, b"ping");
                // Served: held until close_with(Close) ends the connection.
                assert_closed_by_server(&mut stream).await;
                seen.served_then_closed += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof || is_reset(&e) => {
                seen.closed_unserved += 1;
            }
            Err(e) => panic!("reading failed oddly: {e}"),
        }
    }
    seen
}

/// One race: clients connect while a task calls `close_with(Close)` once the handler has
/// been called `close_after` times. Returns what the clients saw.
async fn race(round: usize, close_after: usize) -> Seen {
    let calls = Arc::new(AtomicUsize::new(0));
    let (announce, mut announced) = watch::channel(0);
    let counted = Arc::clone(&calls);
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_accepts_per_batch(1 + round % 4)
        .serve(echo::<Inet>().map_request(move |connection| {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            announce.send_replace(n);
            connection
        }))
        .await
        .unwrap();

    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        clients.spawn(client(server.listening_on()));
    }
    let closer = tokio::spawn({
        let (server, calls) = (server.clone(), Arc::clone(&calls));
        async move {
            within("handler calls", announced.wait_for(|&n| n >= close_after)).await.unwrap();
            let finished = server.close_with(ExistingConnections::Close);
            let at_close = calls.load(Ordering::SeqCst);
            within("close_with(Close) to finish", finished).await;
            // The future waited for every connection's handler to be dropped.
            (at_close, server.num_connections())
        }
    });
    let (at_close, left_open) = within("the closer", closer).await.expect("the closer failed");

    let mut seen = Seen { left_open, ..Seen::default() };
    within("every client's connections to end", async {
        while let Some(result) = clients.join_next().await {
            seen.add(result.expect("a client failed"));
        }
    })
    .await;
    seen.calls_after_close = calls.load(Ordering::SeqCst) - at_close;
    assert!(seen.served_then_closed <= at_close, "round {round}: more served than called");
    assert!(server.is_closed());
    assert_eq!(server.num_connections(), 0);
    server.invariant();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_races_of_clients_against_close_with_close() {
    let started = Instant::now();
    let mut total = Seen::default();
    let mut rounds_with_calls_after_close = Vec::new();
    for round in 0..ROUNDS {
        let seen = race(round, 1 + round % CLIENTS).await;
        if seen.calls_after_close > 0 || seen.left_open > 0 {
            rounds_with_calls_after_close.push((round, seen.calls_after_close, seen.left_open));
        }
        total.add(seen);
    }
    println!(
        "close races: {ROUNDS} rounds of {CLIENTS} clients against close_with(Close), in {:?}: \
         {} connections ({} served then closed by the server, {} ended unserved), {} connects \
         refused (or reset mid-handshake) by the closed listener; handler calls after close \
         returned: {}; connections left open: {}",
        started.elapsed(),
        total.connections,
        total.served_then_closed,
        total.closed_unserved,
        total.refused,
        total.calls_after_close,
        total.left_open,
    );
    assert_eq!(
        (total.calls_after_close, total.left_open),
        (0, 0),
        "(round, calls after close, connections left open): {rounds_with_calls_after_close:?}"
    );
    assert_eq!(total.connections, total.served_then_closed + total.closed_unserved);
}
