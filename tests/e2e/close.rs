//! Closing and draining a server, as clients see it: refused connects, live connections
//! carrying on or closed, and the futures that say when it is over.

use crate::common;

use common::*;

use std::future::{Future, IntoFuture};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tcp_serve::tower::Service;
use tcp_serve::{
    service_fn, Connection, Drained, ExistingConnections, Inet, InetServer, Serve, Unix,
    WhereToListen,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

async fn serve_echo() -> InetServer {
    Serve::new(WhereToListen::localhost_port_chosen_by_os()).serve(echo::<Inet>()).await.unwrap()
}

/// Connects a client and checks it is served.
async fn served_client(server: &InetServer) -> TcpStream {
    let mut client = connect(server).await;
    assert_echoes(&mut client, b"served").await;
    client
}

/// Asserts `future` has not resolved after [`QUIET`]; it can be awaited again later.
async fn assert_pending<F: Future + Unpin>(what: &str, future: &mut F) {
    if tokio::time::timeout(QUIET, future).await.is_ok() {
        panic!("{what} resolved too early");
    }
}

#[tokio::test]
async fn close_stops_accepting_lets_live_connections_carry_on_and_is_idempotent() {
    let server = serve_echo().await;
    let mut client = served_client(&server).await;

    within("close", server.close()).await;
    assert!(server.is_closed());
    assert_refused(server.listening_on()).await;
    assert_echoes(&mut client, b"still served").await;

    within("a second close", server.close()).await;
    within("close_finished", server.close_finished()).await;
    assert!(server.is_closed());
    assert_eq!(server.num_connections(), 1);
    server.invariant();
}

#[tokio::test]
async fn close_finished_alone_does_not_close_the_server() {
    let server = serve_echo().await;
    let mut finished = server.close_finished();

    assert_pending("close_finished before any close", &mut finished).await;
    assert!(!server.is_closed());
    let mut client = served_client(&server).await;
    assert_pending("close_finished before any close", &mut finished).await;

    let closing = server.close();
    within("the earlier close_finished", finished).await;
    within("close", closing).await;
    assert_echoes(&mut client, b"still served").await;
    server.invariant();
}

#[tokio::test]
async fn close_with_close_ends_every_live_connection() {
    let server = serve_echo().await;
    let mut clients = [served_client(&server).await, served_client(&server).await];

    within("close_with(Close)", server.close_with(ExistingConnections::Close)).await;
    assert_eq!(server.num_connections(), 0);
    for client in &mut clients {
        assert_closed_by_server(client).await;
    }
    assert_refused(server.listening_on()).await;
    server.invariant();
}

#[tokio::test]
async fn close_with_close_after_close_ends_the_connections_left_running() {
    let server = serve_echo().await;
    let mut client = served_client(&server).await;

    within("close", server.close()).await;
    assert_echoes(&mut client, b"still served").await;

    within("close_with(Close)", server.close_with(ExistingConnections::Close)).await;
    assert_eq!(server.num_connections(), 0);
    assert_closed_by_server(&mut client).await;
    server.invariant();
}

/// A client that connects again and again (at most `rounds` times) until the server stops
/// taking connections. Each connection is closed by the handler at once, or reset.
async fn connect_repeatedly(port: u16, rounds: usize) {
    for _ in 0..rounds {
        let Ok(mut client) = within("connect", TcpStream::connect(("127.0.0.1", port))).await
        else {
            return; // refused: the server has closed
        };
        // A connection the kernel completed just as the listener closed has no server side
        // left, yet is only reset once the client sends something.
        if let Err(e) = client.write_all(b"?").await {
            let reset = [io::ErrorKind::ConnectionReset, io::ErrorKind::BrokenPipe];
            assert!(reset.contains(&e.kind()), "writing failed oddly: {e}");
        }
        assert_closed_by_server(&mut client).await;
    }
}

/// One race of 32 clients against a `close` made once the handler was called `close_after`
/// times; returns the handler calls counted when close returned, and in the end.
async fn race_clients_against_close(close_after: usize) -> (usize, usize) {
    const CLIENTS: usize = 32;
    let calls = Arc::new(AtomicUsize::new(0));
    let (announce, mut announced) = watch::channel(0);
    let counted = Arc::clone(&calls);
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(service_fn(move |(_peer, stream): Connection<Inet>| {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            announce.send_replace(n);
            async move {
                drop(stream);
                Ok::<_, io::Error>(())
            }
        }))
        .await
        .unwrap();

    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        clients.spawn(connect_repeatedly(server.listening_on(), 20));
    }
    let closer = tokio::spawn({
        let (server, calls) = (server.clone(), Arc::clone(&calls));
        async move {
            within("clients to be served", announced.wait_for(|&n| n >= close_after))
                .await
                .unwrap();
            let finished = server.close();
            let at_close = calls.load(Ordering::SeqCst);
            within("close", finished).await;
            at_close
        }
    });

    let at_close = within("the closer", closer).await.unwrap();
    within("every client to stop", async {
        while let Some(result) = clients.join_next().await {
            result.expect("a client failed");
        }
    })
    .await;
    until_connections(&server, 0).await;
    server.invariant();
    (at_close, calls.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_is_never_called_after_close_returns() {
    for race in 0..20 {
        let (at_close, in_the_end) = race_clients_against_close(1 + race * 7).await;
        assert_eq!(in_the_end, at_close, "race {race}: the handler was called after close");
    }
}

/// A server whose handlers echo; `polite` ones end when a drain is requested.
async fn serve_drainable(polite: bool) -> InetServer {
    let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os());
    let signal = serve.shutdown_signal();
    let mut inner = echo::<Inet>();
    serve
        .serve(service_fn(move |connection: Connection<Inet>| {
            let mut signal = signal.clone();
            let echoing = inner.call(connection);
            async move {
                tokio::select! {
                    () = signal.requested(), if polite => Ok(()),
                    result = echoing => result,
                }
            }
        }))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_drain_whose_handlers_end_on_the_signal_finishes_gracefully() {
    let server = serve_drainable(true).await;
    let mut client = served_client(&server).await;

    let drained = within("the drain", server.drain(WAIT / 2)).await;
    assert_eq!(drained, Drained::Gracefully);
    assert_closed_by_server(&mut client).await;
    assert_refused(server.listening_on()).await;
    assert_eq!(server.num_connections(), 0);
    server.invariant();
}

#[tokio::test]
async fn a_drain_closes_a_handler_that_ignores_the_signal_at_the_deadline() {
    let server = serve_drainable(false).await;
    let mut client = served_client(&server).await;

    let drain = tokio::spawn(server.drain(Duration::from_millis(300)));
    within("the listener to close", server.close_finished()).await;
    assert!(server.shutdown_signal().is_requested());
    assert_refused(server.listening_on()).await;

    let drained = within("the drain", drain).await.unwrap();
    assert_eq!(drained, Drained::Forced { connections: 1 });
    assert_closed_by_server(&mut client).await;
    assert_eq!(server.num_connections(), 0);
    server.invariant();
}

#[tokio::test]
async fn handlers_finished_waits_for_the_close_and_for_every_handler() {
    let server = serve_echo().await;
    let mut finished = Box::pin(server.handlers_finished());

    drop(served_client(&server).await);
    until_connections(&server, 0).await;
    assert_pending("handlers_finished with no handler but no close", &mut finished).await;

    let mut client = served_client(&server).await;
    within("close", server.close()).await;
    assert_pending("handlers_finished with a handler still running", &mut finished).await;

    assert_echoes(&mut client, b"still served").await;
    drop(client);
    within("handlers_finished", finished).await;
    assert_eq!(server.num_connections(), 0);
    server.invariant();
}

#[tokio::test]
async fn a_unix_socket_server_closes_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.sock");
    let server = Serve::new(WhereToListen::unix(&path)).serve(echo::<Unix>()).await.unwrap();
    let mut client = within("connect", UnixStream::connect(&path)).await.unwrap();
    assert_echoes(&mut client, b"served").await;

    within("close", server.close()).await;
    assert!(server.is_closed());
    // The socket file stays (see `WhereToListen::unix`): nobody listens on it.
    let refused = within("connect after close", UnixStream::connect(&path)).await;
    let error = refused.map(drop).expect_err("a closed Unix server accepted a connection");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
    assert_echoes(&mut client, b"still served").await;
    server.invariant();
}

#[tokio::test]
async fn awaiting_a_server_after_a_plain_close_gives_ok() {
    let server = serve_echo().await;
    let mut client = served_client(&server).await;
    within("close", server.close()).await;
    let stopped = within("the server's future", server.clone().into_future()).await;
    assert!(stopped.is_ok(), "a close is not an error: {stopped:?}");
    // Awaited again, and after the connections end, it still says the same.
    assert_echoes(&mut client, b"still served").await;
    drop(client);
    until_connections(&server, 0).await;
    let again = within("the server's future, again", server.clone().into_future()).await;
    assert!(again.is_ok(), "{again:?}");
}

/// Dropping every handle does not stop a server (only `close` does): it keeps accepting
/// and serving, connection after connection.
#[tokio::test]
async fn dropping_every_server_handle_does_not_stop_the_server() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(service_fn(move |connection: Connection<Inet>| {
            counted.fetch_add(1, Ordering::SeqCst);
            echo::<Inet>().call(connection)
        }))
        .await
        .unwrap();
    let port = server.listening_on();
    let mut before = served_client(&server).await;
    drop(server);

    assert_echoes(&mut before, b"the live connection goes on").await;
    for i in 0..3 {
        let mut client =
            within("connect", TcpStream::connect(("127.0.0.1", port))).await.expect("connect");
        assert_echoes(&mut client, format!("client {i}, with no handle left").as_bytes()).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4, "every client was handed to the service");
}

#[tokio::test]
async fn a_service_may_close_its_own_server_from_call() {
    // The acceptor holds the server's lock while it calls the service; the lock is
    // reentrant, so closing from inside `call` neither deadlocks nor loses this connection.
    let server_slot = Arc::new(std::sync::OnceLock::<InetServer>::new());
    let slot = Arc::clone(&server_slot);
    let mut echo = echo::<Inet>();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(service_fn(move |connection: Connection<Inet>| {
            let server = slot.get().expect("the test stores the server before connecting");
            let _closing = server.close();
            assert!(server.is_closed());
            echo.call(connection)
        }))
        .await
        .unwrap();
    server_slot.set(server.clone()).expect("set once");

    let mut client = connect(&server).await;
    assert_echoes(&mut client, b"served by the call that closed the server").await;
    within("the close", server.close_finished()).await;
    assert_refused(server.listening_on()).await;
    server.invariant();
}
