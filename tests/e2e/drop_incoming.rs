//! `set_drop_incoming_connections`: a paused server accepts each new connection and closes
//! it at once, without calling the handler, while connections it already serves go on.

use crate::common;

use common::*;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tcp_serve::{Family, Inet, Serve, Server, Unix, WhereToListen};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tower::ServiceExt;

/// An echo service that counts how many times the handler is called.
fn counting_echo<F: Family>(calls: &Arc<AtomicUsize>) -> impl TestService<F> {
    let calls = Arc::clone(calls);
    echo::<F>().map_request(move |connection| {
        calls.fetch_add(1, Ordering::SeqCst);
        connection
    })
}

fn calls_so_far(calls: &AtomicUsize) -> usize {
    calls.load(Ordering::SeqCst)
}

/// The whole story, for any family: serve one client, pause, see new clients dropped while
/// the first is still served, resume, serve a new client.
async fn pause_and_resume<F, S, C, Fut>(server: Server<F>, calls: Arc<AtomicUsize>, connect: C)
where
    F: Family,
    S: AsyncRead + AsyncWrite + Unpin,
    C: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    assert!(!server.drop_incoming_connections(), "connections are served by default");
    let mut served = connect().await;
    assert_echoes(&mut served, b"before the pause").await;
    assert_eq!(calls_so_far(&calls), 1);

    server.set_drop_incoming_connections(true);
    assert!(server.drop_incoming_connections());
    for _ in 0..3 {
        let mut dropped = connect().await;
        assert_closed_by_server(&mut dropped).await;
    }
    assert_eq!(calls_so_far(&calls), 1, "the handler was called for a dropped connection");
    assert_echoes(&mut served, b"still served during the pause").await;
    assert_eq!(server.num_connections(), 1, "dropped connections are not counted");
    server.invariant();

    server.set_drop_incoming_connections(false);
    assert!(!server.drop_incoming_connections());
    let mut resumed = connect().await;
    assert_echoes(&mut resumed, b"after the pause").await;
    assert_eq!(calls_so_far(&calls), 2);
    until_connections(&server, 2).await;
    server.invariant();

    drop((served, resumed));
    until_connections(&server, 0).await;
    within("close", server.close()).await;
    server.invariant();
}

#[tokio::test]
async fn a_paused_tcp_server_drops_new_clients_and_serves_again_when_resumed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(counting_echo::<Inet>(&calls))
        .await
        .unwrap();
    let handle = server.clone();
    pause_and_resume(server, calls, || connect(&handle)).await;
}

#[tokio::test]
async fn a_paused_unix_server_drops_new_clients_and_serves_again_when_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paused.sock");
    let calls = Arc::new(AtomicUsize::new(0));
    let server =
        Serve::new(WhereToListen::unix(&path)).serve(counting_echo::<Unix>(&calls)).await.unwrap();
    let connect =
        || async { within("connect", UnixStream::connect(&path)).await.expect("connect") };
    pause_and_resume(server, calls, connect).await;
}

/// A client that writes before it is dropped still sees its connection end (EOF or reset),
/// and a burst of them with a larger batch is dropped just the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_clients_is_dropped_even_when_they_speak_first() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_accepts_per_batch(8)
        .serve(counting_echo::<Inet>(&calls))
        .await
        .unwrap();
    server.set_drop_incoming_connections(true);
    let mut clients = Vec::new();
    for _ in 0..16 {
        let mut client = connect(&server).await;
        tokio::io::AsyncWriteExt::write_all(&mut client, b"anyone there?").await.unwrap();
        clients.push(client);
    }
    for client in &mut clients {
        assert_closed_by_server(client).await;
    }
    assert_eq!(calls_so_far(&calls), 0, "the handler was called for a dropped connection");
    assert_eq!(server.num_connections(), 0);
    server.invariant();
    within("close", server.close()).await;
    server.invariant();
}

/// Pausing a server that holds no connection does not close it: it still listens, and is
/// not reported closed.
#[tokio::test]
async fn a_paused_server_is_still_open_and_listening() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(echo::<Inet>())
        .await
        .unwrap();
    server.set_drop_incoming_connections(true);
    assert!(!server.is_closed());
    assert!(server.listening_socket().is_some());
    let mut dropped = connect(&server).await;
    assert_closed_by_server(&mut dropped).await;
    assert!(format!("{server:?}").contains("drop_incoming_connections: true"));
    server.invariant();
    within("close", server.close()).await;
}
