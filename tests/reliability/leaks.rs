//! Guarantee 2: no descriptor leaks, whatever way clients leave.
//!
//! The process's descriptors are counted in a child process running this one test, so
//! the other tests of the suite, running in parallel, do not move the count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tcp_serve::{Inet, Serve, WhereToListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::common::child::{is_child, run_child};
use crate::common::*;
use crate::{is_reset, open_fds, read_to_end_of, reset, Ended};

const CHILD_TEST: &str = "leaks::child_no_descriptor_leaks_after_20000_cycles";
const CYCLES: usize = 20_000;
const CONCURRENCY: usize = 64;
/// The bound on all the cycles together: about 7 s in debug builds, 3 s in release, on an
/// idle machine.
const CYCLES_WAIT: Duration = Duration::from_secs(60);

/// How the client of cycle `i` behaves.
#[derive(Clone, Copy, Debug)]
enum Client {
    /// Writes, half-closes and reads the whole echo.
    Echo,
    /// Writes, reads part of the echo (so its handler is mid-copy), then resets
    /// (`SO_LINGER` 0).
    ResetMidWrite,
    /// Writes and closes at once, before the server has read (or even accepted).
    CloseBeforeRead,
    /// Resets right after connecting, before the server can accept.
    ResetAtOnce,
}

impl Client {
    fn of_cycle(i: usize) -> Client {
        match i % 5 {
            0 | 1 => Client::Echo,
            2 => Client::ResetMidWrite,
            3 => Client::CloseBeforeRead,
            _ => Client::ResetAtOnce,
        }
    }
}

#[tokio::test]
async fn no_descriptor_leaks_after_20000_connect_echo_close_cycles() {
    run_child(CHILD_TEST, &[]).await;
}

async fn cycle(port: u16, i: usize) {
    let how = Client::of_cycle(i);
    let mut client =
        within("connect", TcpStream::connect(("127.0.0.1", port))).await.expect("connect");
    let message = format!("cycle {i} ").repeat(100).into_bytes();
    match how {
        Client::Echo => {
            client.write_all(&message).await.expect("write");
            client.shutdown().await.expect("half-close");
            assert_eq!(read_to_end_of(&mut client, &message).await, Ended::Echoed, "cycle {i}");
        }
        Client::ResetMidWrite => {
            client.write_all(&message).await.expect("write");
            let mut half = vec![0; message.len() / 2];
            within("part of the echo", client.read_exact(&mut half)).await.expect("read");
            reset(client);
        }
        Client::CloseBeforeRead => {
            // The write may meet a reset if the server already failed writing back: fine.
            if let Err(e) = client.write_all(&message).await {
                assert!(is_reset(&e), "cycle {i}: writing failed oddly: {e}");
            }
            drop(client);
        }
        Client::ResetAtOnce => {
            reset(client);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_no_descriptor_leaks_after_20000_cycles() {
    if !is_child(CHILD_TEST) {
        return; // run by the parent test, alone in its own process
    }
    let started = Instant::now();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .backlog(1024)
        .serve(echo::<Inet>())
        .await
        .unwrap();
    // Warm up whatever the runtime opens lazily, then take the baseline.
    let mut warm = connect(&server).await;
    assert_echoes(&mut warm, b"warm up").await;
    drop(warm);
    until_connections(&server, 0).await;
    let baseline = open_fds();

    let port = server.listening_on();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..CONCURRENCY {
        let next = Arc::clone(&next);
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= CYCLES {
                    break;
                }
                cycle(port, i).await;
            }
        });
    }
    let mut peak_fds = baseline;
    // Each step of each cycle is bounded by WAIT; the whole run, by CYCLES_WAIT.
    let all_cycles = tokio::time::timeout(CYCLES_WAIT, async {
        let mut sample = tokio::time::interval(Duration::from_millis(10));
        loop {
            tokio::select! {
                joined = workers.join_next() => match joined {
                    Some(result) => result.expect("a client failed"),
                    None => break,
                },
                _ = sample.tick() => peak_fds = peak_fds.max(open_fds()),
            }
        }
    });
    all_cycles.await.unwrap_or_else(|_| panic!("{CYCLES} cycles took over {CYCLES_WAIT:?}"));
    let cycles_done = started.elapsed();

    until_connections(&server, 0).await;
    // Closed sockets leave the table a little after their tasks end: wait (bounded) for the
    // count to come down, then take it as it is, so a leak shows in the figure.
    let settling = async {
        while open_fds() > baseline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let _ = tokio::time::timeout(WAIT, settling).await;
    let settled = open_fds();
    let leaked = settled as isize - baseline as isize;
    server.invariant();

    let mut fresh = connect(&server).await;
    assert_echoes(&mut fresh, b"still serving").await;
    drop(fresh);
    until_connections(&server, 0).await;
    server.invariant();

    let count = |how: fn(&Client) -> bool| (0..CYCLES).map(Client::of_cycle).filter(how).count();
    println!(
        "[child] leaks: {CYCLES} cycles, {CONCURRENCY} at a time, in {cycles_done:?}: {} echoed, \
         {} reset mid-write, {} closed before the server read, {} reset at once; open fds: \
         baseline {baseline}, peak {peak_fds} during the cycles, {settled} after them; \
         leaked: {leaked}; num_connections {}",
        count(|c| matches!(c, Client::Echo)),
        count(|c| matches!(c, Client::ResetMidWrite)),
        count(|c| matches!(c, Client::CloseBeforeRead)),
        count(|c| matches!(c, Client::ResetAtOnce)),
        server.num_connections(),
    );
    assert_eq!(leaked, 0, "descriptors left open after {CYCLES} cycles (baseline {baseline})");
    assert!(peak_fds > baseline, "the cycles opened descriptors (else they tested nothing)");
    within("close", server.close()).await;
}
