//! Guarantee 1: `max_connections` holds under a storm of clients.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tcp_serve::{service_fn, Connection, Inet, Serve, WhereToListen};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::common::*;
use crate::{read_to_end_of, Ended, Running};

const MAX: usize = 50;
const CLIENTS: usize = 200;
const ATTEMPTS_EACH: usize = 10;
/// How long each handler holds its slot before echoing, so the limit is reached.
const HOLD: Duration = Duration::from_millis(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_under_a_storm_of_2000_connection_attempts() {
    let started = Instant::now();
    let running = Running::default();
    let in_handler = running.clone();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_connections(MAX)
        .max_accepts_per_batch(8)
        // Room in the kernel's queue for every waiting client, so none waits on a SYN retry.
        .backlog(1024)
        .serve(service_fn(move |(_peer, stream): Connection<Inet>| {
            let running = in_handler.enter();
            async move {
                let _running = running;
                tokio::time::sleep(HOLD).await;
                let (mut reader, mut writer) = tokio::io::split(stream);
                tokio::io::copy(&mut reader, &mut writer).await?;
                writer.shutdown().await
            }
        }))
        .await
        .unwrap();

    // Checks the invariant and samples num_connections until the storm ends (bounded).
    let storm_over = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (server, storm_over) = (server.clone(), Arc::clone(&storm_over));
        async move {
            let mut peak = 0;
            for _ in 0..WAIT.as_millis() * 3 {
                if storm_over.load(Ordering::SeqCst) {
                    break;
                }
                server.invariant();
                peak = peak.max(server.num_connections());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            peak
        }
    });

    let port = server.listening_on();
    let mut clients = JoinSet::new();
    for c in 0..CLIENTS {
        clients.spawn(async move {
            let (mut echoed, mut failed_connects) = (0, 0);
            for a in 0..ATTEMPTS_EACH {
                let message = format!("client {c} attempt {a} ").repeat(40).into_bytes();
                let connecting = TcpStream::connect(("127.0.0.1", port));
                let Ok(mut client) = within("connect", connecting).await else {
                    failed_connects += 1;
                    continue;
                };
                client.write_all(&message).await.expect("write to the server");
                client.shutdown().await.expect("half-close");
                assert_eq!(read_to_end_of(&mut client, &message).await, Ended::Echoed);
                echoed += 1;
            }
            (echoed, failed_connects)
        });
    }
    let (mut echoed, mut failed_connects) = (0, 0);
    within("every client of the storm", async {
        while let Some(result) = clients.join_next().await {
            let (e, f) = result.expect("a client failed");
            echoed += e;
            failed_connects += f;
        }
    })
    .await;

    until_connections(&server, 0).await;
    storm_over.store(true, Ordering::SeqCst);
    let sampled_peak = within("the sampler", sampler).await.expect("the invariant held");
    server.invariant();
    assert_eq!(running.now(), 0, "every handler ended");
    println!(
        "storm: {} connection attempts from {CLIENTS} concurrent clients, max_connections {MAX}: \
         {echoed} echoed in full, {failed_connects} connects failed; peak handlers running at \
         once {} (num_connections sampled: {sampled_peak}); num_connections back to {} in {:?}",
        CLIENTS * ATTEMPTS_EACH,
        running.peak(),
        server.num_connections(),
        started.elapsed(),
    );
    assert!(sampled_peak <= MAX, "num_connections reached {sampled_peak}, above {MAX}");
    assert!(running.peak() <= MAX, "{} handlers ran at once, above {MAX}", running.peak());
    assert_eq!(running.peak(), MAX, "the storm reached the limit (else it tested nothing)");
    assert_eq!(echoed + failed_connects, CLIENTS * ATTEMPTS_EACH);
    assert_eq!(failed_connects, 0, "with a backlog of 1024 every client gets through");
    within("close", server.close()).await;
    server.invariant();
}
