//! The handler's lifecycle, and `on_handler_error`: what a client sees when its handler
//! ends, fails or panics, and what the policy does to the server.

use crate::common;

use common::log::CapturedLog;
use common::*;

use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tcp_serve::tower::ServiceBuilder;
use tcp_serve::{
    service_fn, BoxError, Connection, HandlerPanicked, Inet, InetServer, OnHandlerError, Serve,
    ServerError, WhereToListen,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const ERROR_MESSAGE: &str = "the client asked for an error";
const PANIC_MESSAGE: &str = "the client asked for a panic";

/// What a client asks the [`obedient`] handler to do with its first byte.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// Return `Ok` and end.
    Return,
    /// Return an error.
    Fail,
    /// Panic.
    Panic,
}

impl Ending {
    const ALL: [Ending; 3] = [Ending::Return, Ending::Fail, Ending::Panic];

    fn byte(self) -> u8 {
        match self {
            Ending::Return => b'R',
            Ending::Fail => b'E',
            Ending::Panic => b'P',
        }
    }
}

/// A handler that reads one byte: `R` ends it, `E` fails it, `P` panics it; any other byte
/// is echoed, and so is everything after it.
fn obedient() -> impl TestService<Inet> {
    service_fn(|(_peer, mut stream): Connection<Inet>| async move {
        let mut first = [0];
        if stream.read(&mut first).await? == 0 {
            return Ok(());
        }
        match first[0] {
            b'R' => Ok(()),
            b'E' => Err(io::Error::other(ERROR_MESSAGE)),
            b'P' => panic!("{PANIC_MESSAGE}"),
            _ => {
                stream.write_all(&first).await?;
                let (mut reader, mut writer) = stream.split();
                tokio::io::copy(&mut reader, &mut writer).await.map(drop)
            }
        }
    })
}

async fn serve_obedient(policy: Option<OnHandlerError<SocketAddr>>) -> InetServer {
    let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os());
    let serve = match policy {
        Some(policy) => serve.on_handler_error(policy),
        None => serve,
    };
    serve.serve(obedient()).await.unwrap()
}

/// Connects, makes the handler end as asked, and asserts the server closes the connection.
/// Returns the client's address, the peer its handler saw.
async fn end_a_connection(server: &InetServer, how: Ending) -> SocketAddr {
    let mut client = connect(server).await;
    client.write_all(&[how.byte()]).await.expect("write to the server");
    assert_closed_by_server(&mut client).await;
    client.local_addr().unwrap()
}

/// A new client is served: its bytes come back.
async fn assert_serves_a_new_client(server: &InetServer) {
    let mut client = connect(server).await;
    assert_echoes(&mut client, b"still serving").await;
}

/// Awaits the server's stop and asserts it was a handler failure for `client`.
async fn assert_stopped_by_handler_of(server: &InetServer, client: SocketAddr) -> String {
    match within("the server to stop", server.clone().into_future()).await {
        Err(ServerError::Handler { peer, source }) => {
            assert_eq!(peer, client, "the error names the failed connection's peer");
            source.to_string()
        }
        other => panic!("expected the server to stop with a handler error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_handler_is_called_with_the_clients_address_as_peer() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(service_fn(|(peer, mut stream): Connection<Inet>| async move {
            stream.write_all(peer.to_string().as_bytes()).await?;
            stream.shutdown().await
        }))
        .await
        .unwrap();
    let mut client = connect(&server).await;
    let mut reply = String::new();
    within("the peer address", client.read_to_string(&mut reply)).await.unwrap();
    let peer: SocketAddr = reply.parse().expect("the handler sent an address");
    assert_eq!(peer, client.local_addr().unwrap());
    until_connections(&server, 0).await;
    server.invariant();
}

#[tokio::test]
async fn a_handler_that_returns_fails_or_panics_closes_its_connection() {
    let server = serve_obedient(None).await;
    for how in Ending::ALL {
        let mut client = connect(&server).await;
        assert_echoes(&mut client, b"alive").await;
        drop(client);
        until_connections(&server, 0).await;

        end_a_connection(&server, how).await;
        until_connections(&server, 0).await;
        server.invariant();
    }
    assert!(!server.is_closed());
}

#[tokio::test]
async fn a_panic_in_the_services_call_closes_that_connection_only() {
    let panicked = Arc::new(AtomicBool::new(false));
    let panic_once = ServiceBuilder::new()
        .map_request(move |connection: Connection<Inet>| {
            if !panicked.swap(true, Ordering::SeqCst) {
                panic!("{PANIC_MESSAGE}");
            }
            connection
        })
        .service(echo::<Inet>());
    let server =
        Serve::new(WhereToListen::localhost_port_chosen_by_os()).serve(panic_once).await.unwrap();

    let mut first = connect(&server).await;
    assert_closed_by_server(&mut first).await;
    assert_serves_a_new_client(&server).await;
    until_connections(&server, 0).await;
    assert!(!server.is_closed());
    server.invariant();
}

#[tokio::test]
async fn ignore_closes_the_failed_connection_and_keeps_serving() {
    let server = serve_obedient(Some(OnHandlerError::Ignore)).await;
    let mut other = connect(&server).await;
    assert_echoes(&mut other, b"before").await;

    end_a_connection(&server, Ending::Fail).await;
    assert_echoes(&mut other, b"after").await;
    assert_serves_a_new_client(&server).await;
    assert!(!server.is_closed());
    server.invariant();
}

#[tokio::test]
async fn call_is_given_the_peer_and_the_error_including_a_panic() {
    let (report, mut reports) = mpsc::unbounded_channel();
    let server =
        serve_obedient(Some(OnHandlerError::call(move |peer: &SocketAddr, error: &BoxError| {
            let panic = error.downcast_ref::<HandlerPanicked>().map(|p| p.message().to_owned());
            report.send((*peer, error.to_string(), panic)).unwrap();
        })))
        .await;

    let failed = end_a_connection(&server, Ending::Fail).await;
    let (peer, message, panic) = within("the callback", reports.recv()).await.unwrap();
    assert_eq!((peer, message.as_str(), panic), (failed, ERROR_MESSAGE, None));

    let panicked = end_a_connection(&server, Ending::Panic).await;
    let (peer, message, panic) = within("the callback", reports.recv()).await.unwrap();
    assert_eq!(peer, panicked);
    assert!(message.contains(PANIC_MESSAGE), "the error says what the panic said: {message}");
    assert_eq!(panic.as_deref(), Some(PANIC_MESSAGE), "the error is a HandlerPanicked");

    assert_serves_a_new_client(&server).await;
    assert!(!server.is_closed());
    server.invariant();
}

#[tokio::test]
async fn raise_stops_accepting_and_reports_the_error_while_live_connections_carry_on() {
    let server = serve_obedient(Some(OnHandlerError::Raise)).await;
    let mut other = connect(&server).await;
    assert_echoes(&mut other, b"before").await;

    let failed = end_a_connection(&server, Ending::Fail).await;
    let message = assert_stopped_by_handler_of(&server, failed).await;
    assert_eq!(message, ERROR_MESSAGE);
    assert!(server.is_closed());
    assert_refused(server.listening_on()).await;

    assert_echoes(&mut other, b"after").await;
    assert_eq!(server.num_connections(), 1);
    server.invariant();
}

#[tokio::test]
async fn raise_stops_the_server_on_a_handlers_panic_naming_it() {
    let server = serve_obedient(Some(OnHandlerError::Raise)).await;
    let mut other = connect(&server).await;
    assert_echoes(&mut other, b"before").await;

    let panicked = end_a_connection(&server, Ending::Panic).await;
    let stopped = within("the server to stop", server.clone().into_future()).await;
    match stopped {
        Err(ServerError::Handler { peer, source }) => {
            assert_eq!(peer, panicked, "the error names the panicked connection's peer");
            let panic = source.downcast_ref::<HandlerPanicked>().map(HandlerPanicked::message);
            assert_eq!(panic, Some(PANIC_MESSAGE), "the error is the HandlerPanicked: {source}");
        }
        other => panic!("expected the server to stop with the handler's panic, got {other:?}"),
    }
    assert!(server.is_closed());
    assert_refused(server.listening_on()).await;
    assert_echoes(&mut other, b"after").await;
    server.invariant();
}

/// Two handlers fail under `Raise`, the second only once the first has stopped the server:
/// the server reports the first, then and after the second has failed too.
#[tokio::test]
async fn under_raise_the_first_error_wins_over_a_later_one() {
    let server_slot = Arc::new(std::sync::OnceLock::<InetServer>::new());
    let slot = Arc::clone(&server_slot);
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .on_handler_error(OnHandlerError::Raise)
        .serve(service_fn(move |(_peer, mut stream): Connection<Inet>| {
            let server = slot.get().expect("the test stores the server before connecting").clone();
            async move {
                let mut which = [0];
                stream.read_exact(&mut which).await?;
                if which[0] == b'2' {
                    // The second waits until the first has stopped the server (bounded).
                    let stopped = server.into_future();
                    let _ = within("the first failure to stop the server", stopped).await;
                }
                Err::<(), _>(io::Error::other(format!("failure number {}", which[0] as char)))
            }
        }))
        .await
        .unwrap();
    server_slot.set(server.clone()).expect("set once");

    let mut second = connect(&server).await;
    second.write_all(b"2").await.unwrap();
    until_connections(&server, 1).await;
    let mut first = connect(&server).await;
    first.write_all(b"1").await.unwrap();
    let first_peer = first.local_addr().unwrap();

    let message = assert_stopped_by_handler_of(&server, first_peer).await;
    assert_eq!(message, "failure number 1");
    assert_closed_by_server(&mut second).await;
    assert_closed_by_server(&mut first).await;
    until_connections(&server, 0).await;
    assert_eq!(server.metrics().failed, 2, "both handlers failed");
    let message = assert_stopped_by_handler_of(&server, first_peer).await;
    assert_eq!(message, "failure number 1", "the later error did not replace the first");
}

#[tokio::test]
async fn a_panicking_call_callback_stops_the_server_as_raise_does() {
    let server = serve_obedient(Some(OnHandlerError::call(|_: &SocketAddr, _: &BoxError| {
        panic!("the callback itself panicked")
    })))
    .await;

    let failed = end_a_connection(&server, Ending::Fail).await;
    let message = assert_stopped_by_handler_of(&server, failed).await;
    assert_eq!(message, ERROR_MESSAGE);
    assert!(server.is_closed());
    assert_refused(server.listening_on()).await;
    server.invariant();
}

#[tokio::test]
async fn the_default_policy_logs_and_keeps_serving() {
    let log = CapturedLog::default();
    let _guard = log.capture();
    let server = serve_obedient(None).await;

    let failed = end_a_connection(&server, Ending::Fail).await;
    end_a_connection(&server, Ending::Panic).await;
    assert_serves_a_new_client(&server).await;
    let log = log.text();
    for logged in [ERROR_MESSAGE, PANIC_MESSAGE, &failed.to_string()] {
        assert!(log.contains(logged), "the log mentions {logged:?}:\n{log}");
    }
    assert!(!server.is_closed());
    server.invariant();
}

#[tokio::test]
async fn a_raised_failure_is_logged_at_error_once_naming_its_peer() {
    let log = CapturedLog::default();
    let _guard = log.capture();
    let server = serve_obedient(Some(OnHandlerError::Raise)).await;

    let failed = end_a_connection(&server, Ending::Fail).await;
    assert_stopped_by_handler_of(&server, failed).await;
    let log = log.text();
    let lines: Vec<_> = log.lines().filter(|line| line.contains(ERROR_MESSAGE)).collect();
    assert_eq!(lines.len(), 1, "the failure is logged once:\n{log}");
    assert!(lines[0].contains("ERROR"), "at ERROR: {lines:?}");
    assert!(lines[0].contains(&failed.to_string()), "naming the peer: {lines:?}");
}
