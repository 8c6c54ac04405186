//! Guarantee 6: toggling `set_drop_incoming_connections` while clients connect: every
//! client sees its whole echo or the end of its connection, never a half-open one, and no
//! handler is called while the switch is on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tcp_serve::{Inet, Serve, WhereToListen};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::common::*;
use crate::{is_reset, read_to_end_of, Ended};

const CLIENTS: usize = 32;
/// Connections each client makes at most.
const CONNECTIONS_EACH: usize = 300;
/// On/off cycles of the switch.
const CYCLES: usize = 40;
/// How long each half of a cycle lasts.
const PHASE: Duration = Duration::from_millis(3);
/// Barrier clients tried per cycle at most.
const BARRIER_ATTEMPTS: usize = 100;

/// Connects, writes `message`, half-closes and reads to the end: the whole echo (served)
/// or nothing (dropped); [`read_to_end_of`] fails the test on anything else, or a hang.
async fn one_connection(port: u16, message: &[u8]) -> Ended {
    let mut client =
        within("connect", TcpStream::connect(("127.0.0.1", port))).await.expect("connect");
    // A dropped connection may be reset before the client is done writing.
    match client.write_all(message).await {
        Ok(()) => {
            if let Err(e) = client.shutdown().await {
                assert!(is_reset(&e) || e.kind() == std::io::ErrorKind::NotConnected, "{e}");
            }
        }
        Err(e) => assert!(is_reset(&e), "writing failed oddly: {e}"),
    }
    read_to_end_of(&mut client, message).await
}

/// What clients saw, counted.
#[derive(Default)]
struct Seen {
    echoed: usize,
    closed: usize,
    half_open: usize,
}

impl Seen {
    fn count(&mut self, ended: Ended) {
        match ended {
            Ended::Echoed => self.echoed += 1,
            Ended::Closed => self.closed += 1,
            Ended::HalfOpen { .. } => self.half_open += 1,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toggling_drop_incoming_under_load_leaves_no_connection_half_open() {
    let started = Instant::now();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_accepts_per_batch(4)
        .backlog(1024)
        .serve(echo::<Inet>().map_request(move |connection| {
            counted.fetch_add(1, Ordering::SeqCst);
            connection
        }))
        .await
        .unwrap();
    let port = server.listening_on();

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = JoinSet::new();
    for c in 0..CLIENTS {
        let stop = Arc::clone(&stop);
        clients.spawn(async move {
            let mut seen = Seen::default();
            for n in 0..CONNECTIONS_EACH {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let message = format!("client {c} connection {n} ").repeat(20).into_bytes();
                seen.count(one_connection(port, &message).await);
            }
            seen
        });
    }

    let (mut windows, mut barriers_served, mut barriers_half_open, mut calls_while_on) =
        (0, 0, 0, 0);
    for _cycle in 0..CYCLES {
        server.set_drop_incoming_connections(true);
        // A barrier client dropped by the acceptor proves every later accept sees the
        // switch on: from here until it is turned off, no handler may be called.
        let mut dropped = false;
        for _ in 0..BARRIER_ATTEMPTS {
            match one_connection(port, b"barrier").await {
                Ended::Closed => {
                    dropped = true;
                    break;
                }
                Ended::Echoed => barriers_served += 1, // accepted before the switch: again
                Ended::HalfOpen { .. } => barriers_half_open += 1,
            }
        }
        if dropped {
            let before = calls.load(Ordering::SeqCst);
            tokio::time::sleep(PHASE).await; // a window with the switch on all along
            calls_while_on += calls.load(Ordering::SeqCst) - before;
            windows += 1;
        }
        server.set_drop_incoming_connections(false);
        tokio::time::sleep(PHASE).await;
    }
    stop.store(true, Ordering::SeqCst);

    let mut seen = Seen::default();
    within("every client to finish", async {
        while let Some(result) = clients.join_next().await {
            let s = result.expect("a client failed");
            seen.echoed += s.echoed;
            seen.closed += s.closed;
            seen.half_open += s.half_open;
        }
    })
    .await;
    let Seen { echoed, closed, half_open } = seen;
    let half_open = half_open + barriers_half_open;
    assert!(!server.drop_incoming_connections());
    until_connections(&server, 0).await;
    server.invariant();
    let mut after = connect(&server).await;
    assert_echoes(&mut after, b"served after the toggling").await;
    drop(after);
    until_connections(&server, 0).await;

    println!(
        "drop toggling: {CYCLES} on/off cycles of {PHASE:?} under {CLIENTS} clients, in {:?}: \
         {} connections, {echoed} echoed in full, {closed} dropped (EOF or reset), \
         {half_open} half-open; {windows} fully-on windows checked, handler calls in them: \
         {calls_while_on}; {barriers_served} barrier clients served before a switch took effect",
        started.elapsed(),
        echoed + closed + half_open,
    );
    assert_eq!(half_open, 0, "connections that got part of their echo");
    assert_eq!(windows, CYCLES, "every cycle's barrier client was dropped");
    assert_eq!(calls_while_on, 0, "handler calls while the switch was on");
    assert!(echoed > 0 && closed > 0, "the toggling both served and dropped clients");
    within("close", server.close()).await;
    server.invariant();
}
