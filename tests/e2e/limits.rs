//! `max_connections` and `max_accepts_per_batch`, as clients see them: a client beyond the
//! limit waits in the kernel's backlog with no reply until a served client leaves.

use crate::common;

use common::*;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tcp_serve::tower::ServiceBuilder;
use tcp_serve::{Connection, Inet, InetServer, Serve, WhereToListen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The echo service, announcing each peer on `called` when the handler is called.
fn announcing_echo(called: mpsc::UnboundedSender<SocketAddr>) -> impl TestService<Inet> {
    ServiceBuilder::new()
        .map_request(move |connection: Connection<Inet>| {
            called.send(connection.0).expect("the test listens for handler calls");
            connection
        })
        .service(echo::<Inet>())
}

/// Writes `message`, which a served client would get back, and asserts nothing comes back.
async fn write_and_assert_no_reply(client: &mut TcpStream, message: &[u8]) {
    client.write_all(message).await.expect("write to the server");
    assert_no_reply(client).await;
}

/// Asserts the echo of `message`, written earlier, arrives now.
async fn assert_echo_arrives(client: &mut TcpStream, message: &[u8]) {
    let mut echoed = vec![0; message.len()];
    within("the delayed echo", client.read_exact(&mut echoed)).await.expect("read the echo");
    assert_eq!(echoed, message);
}

/// Asserts no further handler call is announced for [`QUIET`].
async fn assert_no_more_calls(called: &mut mpsc::UnboundedReceiver<SocketAddr>) {
    if let Ok(peer) = tokio::time::timeout(QUIET, called.recv()).await {
        panic!("the handler was called for {peer:?} beyond max_connections");
    }
}

/// Samples `num_connections` every millisecond, for at most [`WAIT`], keeping the highest.
struct PeakConnections {
    peak: Arc<AtomicUsize>,
    sampler: JoinHandle<()>,
}

impl PeakConnections {
    fn watch(server: &InetServer) -> Self {
        let peak = Arc::new(AtomicUsize::new(0));
        let (server, seen) = (server.clone(), Arc::clone(&peak));
        let sampler = tokio::spawn(async move {
            for _ in 0..WAIT.as_millis() {
                seen.fetch_max(server.num_connections(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        PeakConnections { peak, sampler }
    }

    fn stop(self) -> usize {
        self.sampler.abort();
        self.peak.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_client_beyond_max_connections_waits_unserved_until_a_served_client_leaves() {
    const MAX: usize = 3;
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_connections(MAX)
        .serve(echo::<Inet>())
        .await
        .unwrap();
    let peak = PeakConnections::watch(&server);

    let mut served = Vec::new();
    for _ in 0..MAX {
        let mut client = connect(&server).await;
        assert_echoes(&mut client, b"served").await;
        served.push(client);
    }
    until_connections(&server, MAX).await;

    // The kernel completes the handshake, but the server does not accept it.
    let mut extra = connect(&server).await;
    write_and_assert_no_reply(&mut extra, b"my turn?").await;
    assert_eq!(server.num_connections(), MAX);
    server.invariant();

    drop(served.remove(0));
    assert_echo_arrives(&mut extra, b"my turn?").await;
    for client in &mut served {
        assert_echoes(client, b"still served").await;
    }
    assert_echoes(&mut extra, b"and served again").await;
    assert_eq!(server.num_connections(), MAX);
    server.invariant();

    drop((served, extra));
    until_connections(&server, 0).await;
    assert!(peak.stop() <= MAX, "num_connections went above max_connections");
    server.invariant();
}

#[tokio::test]
async fn a_batch_of_accepts_never_exceeds_max_connections_and_every_client_gets_its_turn() {
    const MAX: usize = 2;
    const CLIENTS: usize = 5;
    let (called, mut calls) = mpsc::unbounded_channel();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_connections(MAX)
        .max_accepts_per_batch(16)
        .serve(announcing_echo(called))
        .await
        .unwrap();
    let peak = PeakConnections::watch(&server);

    let mut waiting = HashMap::new();
    for _ in 0..CLIENTS {
        let client = connect(&server).await;
        waiting.insert(client.local_addr().unwrap(), client);
    }

    let mut served = Vec::new();
    for _ in 0..MAX {
        let peer = within("a handler call", calls.recv()).await.unwrap();
        served.push(waiting.remove(&peer).expect("the handler was called for one of our clients"));
    }
    assert_no_more_calls(&mut calls).await;
    until_connections(&server, MAX).await;
    server.invariant();

    // Each time a served client leaves, exactly one waiting client is served.
    let mut finished = 0;
    while let Some(mut client) = served.pop() {
        assert_echoes(&mut client, b"my turn").await;
        drop(client);
        finished += 1;
        if !waiting.is_empty() {
            let peer = within("the next handler call", calls.recv()).await.unwrap();
            served.push(waiting.remove(&peer).expect("the next call is for a waiting client"));
            assert_no_more_calls(&mut calls).await;
        }
        assert!(server.num_connections() <= MAX);
        server.invariant();
    }
    assert_eq!(finished, CLIENTS, "every client was served");
    until_connections(&server, 0).await;
    assert!(peak.stop() <= MAX, "num_connections went above max_connections");
    server.invariant();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_simultaneous_clients_is_served_with_batched_accepts() {
    const CLIENTS: usize = 50;
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_accepts_per_batch(8)
        .serve(echo::<Inet>())
        .await
        .unwrap();
    assert_eq!(server.max_accepts_per_batch(), 8);

    let mut clients = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        let server = server.clone();
        clients.spawn(async move {
            let mut client = connect(&server).await;
            assert_echoes(&mut client, format!("client {i}").as_bytes()).await;
        });
    }
    let all_served = async {
        while let Some(result) = clients.join_next().await {
            result.expect("a client failed");
        }
    };
    within("every client of the burst to get its echo", all_served).await;

    until_connections(&server, 0).await;
    server.invariant();
}

/// The order in which the service is called (`call`, in the acceptor) and handlers first
/// run (`run`, on their connections' tasks) for `clients` clients that were all waiting in
/// the backlog when the acceptor got to run.
async fn order_of_calls_and_runs(batch: usize, clients: usize) -> Vec<&'static str> {
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&events);
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_accepts_per_batch(batch)
        .serve(tcp_serve::service_fn(move |(_peer, mut stream): Connection<Inet>| {
            record.lock().unwrap().push("call");
            let record = Arc::clone(&record);
            async move {
                record.lock().unwrap().push("run");
                let (mut reader, mut writer) = stream.split();
                tokio::io::copy(&mut reader, &mut writer).await.map(drop)
            }
        }))
        .await
        .unwrap();

    // Blocking connects: on this current-thread runtime the acceptor cannot run meanwhile,
    // so every client is waiting in the backlog when it next does.
    let mut connected = Vec::new();
    for _ in 0..clients {
        let client = std::net::TcpStream::connect(("127.0.0.1", server.listening_on())).unwrap();
        client.set_nonblocking(true).unwrap();
        connected.push(TcpStream::from_std(client).unwrap());
    }
    for client in &mut connected {
        assert_echoes(client, b"served").await;
    }
    drop(connected);
    until_connections(&server, 0).await;
    server.invariant();
    let order = events.lock().unwrap().clone();
    order
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_of_waiting_clients_is_accepted_before_any_of_their_handlers_runs() {
    // A batch of one: each accept ends the acceptor's turn, so each handler runs before the
    // next client is accepted.
    let one_at_a_time = order_of_calls_and_runs(1, 4).await;
    assert_eq!(one_at_a_time, ["call", "run", "call", "run", "call", "run", "call", "run"]);
    // A batch of four takes all four waiting clients in one turn; then their handlers run.
    let batched = order_of_calls_and_runs(4, 4).await;
    assert_eq!(batched, ["call", "call", "call", "call", "run", "run", "run", "run"]);
    // A batch larger than the clients waiting takes them all, and stops at the empty backlog.
    let short_batch = order_of_calls_and_runs(16, 3).await;
    assert_eq!(short_batch, ["call", "call", "call", "run", "run", "run"]);
}
