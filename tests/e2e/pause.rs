//! Pausing by not listening: a paused server refuses new clients at once, keeps its port or
//! path and its live connections, and listens again on the same address.

use crate::common;

use common::*;

use std::future::IntoFuture;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tcp_serve::tower::Service;
use tcp_serve::{service_fn, Connection, Error, Inet, InetServer, Serve, Unix, WhereToListen};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixStream};

/// The longest a refusal may take to count as "at once": no SYN retransmission (the first
/// comes after a second) can have happened.
const AT_ONCE: Duration = Duration::from_millis(500);

async fn serve_echo() -> InetServer {
    Serve::new(WhereToListen::localhost_port_chosen_by_os()).serve(echo::<Inet>()).await.unwrap()
}

/// Connects to `port` and asserts the connect is refused, at once.
async fn assert_refused_at_once(port: u16) -> Duration {
    let took = assert_refused(port).await;
    assert!(took < AT_ONCE, "the refusal took {took:?}");
    took
}

#[tokio::test]
async fn a_paused_server_refuses_at_once_keeps_live_connections_and_resumes_on_its_port() {
    let server = serve_echo().await;
    let port = server.listening_on();
    let mut live = connect(&server).await;
    assert_echoes(&mut live, b"before the pause").await;

    within("the pause", server.pause()).await.expect("pause");
    assert!(server.is_paused());
    let took = assert_refused_at_once(port).await;
    println!("a connect to the paused server was refused in {took:?}");
    assert_echoes(&mut live, b"a live connection carries on while paused").await;
    within("a second pause", server.pause()).await.expect("pausing a paused server is harmless");

    within("the resume", server.resume()).await.expect("resume");
    assert!(!server.is_paused());
    assert_eq!(server.listening_on(), port);
    assert_echoes(&mut connect(&server).await, b"served again on the same port").await;
    assert_echoes(&mut live, b"and the live one still").await;
    server.invariant();
    within("close", server.close()).await;
    match within("a resume after close", server.resume()).await {
        Err(Error::ServerClosed) => {}
        other => panic!("expected ServerClosed, got {other:?}"),
    }
}

#[tokio::test]
async fn while_paused_no_other_socket_can_take_the_port() {
    let server = serve_echo().await;
    let port = server.listening_on();
    within("the pause", server.pause()).await.unwrap();
    // The server is paused indeed: the port is held by a socket that does not listen.
    assert_refused_at_once(port).await;
    for reuseaddr in [false, true] {
        let other =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        other.set_reuse_address(reuseaddr).unwrap();
        let bound = other.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into());
        let error = bound.expect_err("another socket bound the paused server's port");
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "SO_REUSEADDR {reuseaddr}: {error}");
    }
    within("the resume", server.resume()).await.unwrap();
    assert_echoes(&mut connect(&server).await, b"still ours").await;
}

#[tokio::test]
async fn tcp_connections_queued_when_the_pause_comes_are_reset_unserved() {
    let called = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&called);
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_connections(1)
        .serve(service_fn(move |connection: Connection<Inet>| {
            counted.fetch_add(1, Ordering::SeqCst);
            echo::<Inet>().call(connection)
        }))
        .await
        .unwrap();
    let mut holder = connect(&server).await;
    assert_echoes(&mut holder, b"holds the one slot").await;
    // These two complete their handshakes and wait in the backlog: the server is at its limit.
    let mut queued = [connect(&server).await, connect(&server).await];
    for client in &mut queued {
        client.write_all(b"never read").await.unwrap();
    }

    within("the pause", server.pause()).await.unwrap();
    for client in &mut queued {
        assert_closed_by_server(client).await;
    }
    drop(holder);
    until_connections(&server, 0).await;
    within("the resume", server.resume()).await.unwrap();
    assert_echoes(&mut connect(&server).await, b"a new client").await;
    assert_eq!(called.load(Ordering::SeqCst), 2, "the queued clients never reached the handler");
}

async fn unix_server(path: &Path) -> tcp_serve::UnixServer {
    Serve::new(WhereToListen::unix(path)).max_connections(1).serve(echo::<Unix>()).await.unwrap()
}

#[tokio::test]
async fn a_paused_unix_server_refuses_closes_its_queue_and_resumes_on_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paused.sock");
    let server = unix_server(&path).await;
    let mut holder = within("connect", UnixStream::connect(&path)).await.unwrap();
    assert_echoes(&mut holder, b"holds the one slot").await;
    let mut queued = within("connect", UnixStream::connect(&path)).await.unwrap();

    within("the pause", server.pause()).await.unwrap();
    let refused = within("a connect while paused", UnixStream::connect(&path)).await;
    assert_eq!(
        refused.expect_err("connected while paused").kind(),
        io::ErrorKind::ConnectionRefused
    );
    assert_closed_by_server(&mut queued).await;
    assert_echoes(&mut holder, b"a live connection carries on").await;
    assert!(path.exists(), "the path stays taken while paused");
    let taken = std::os::unix::net::UnixListener::bind(&path);
    assert_eq!(taken.expect_err("bound the paused path").kind(), io::ErrorKind::AddrInUse);

    within("the resume", server.resume()).await.unwrap();
    drop(holder);
    until_connections(&server, 0).await;
    let mut again = within("connect", UnixStream::connect(&path)).await.unwrap();
    assert_echoes(&mut again, b"served again at the same path").await;
    assert_eq!(server.listening_on(), path);
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
}

#[tokio::test]
async fn a_hundred_pause_resume_cycles_under_load_call_no_handler_while_paused() {
    let paused = Arc::new(AtomicBool::new(false));
    let called_while_paused = Arc::new(AtomicUsize::new(0));
    let (watched, counted) = (Arc::clone(&paused), Arc::clone(&called_while_paused));
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(service_fn(move |connection: Connection<Inet>| {
            if watched.load(Ordering::SeqCst) {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            echo::<Inet>().call(connection)
        }))
        .await
        .unwrap();
    let port = server.listening_on();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            let (mut served, mut refused) = (0_u64, 0_u64);
            // Bounded: stops when told, or after 100,000 attempts.
            for _ in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                match within("a connect", TcpStream::connect(("127.0.0.1", port))).await {
                    Ok(mut client) => match echo_once(&mut client).await {
                        Ok(()) => served += 1,
                        // Queued when a pause came: reset, never served.
                        Err(e) if is_reset(&e) => refused += 1,
                        Err(e) => panic!("a client failed oddly: {e}"),
                    },
                    // Refused while paused, or reset in the backlog by a pause.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused || is_reset(&e) => {
                        refused += 1
                    }
                    Err(e) => panic!("a connect failed oddly: {e}"),
                }
            }
            (served, refused)
        }
    });
    for _ in 0..100 {
        within("a pause", server.pause()).await.unwrap();
        paused.store(true, Ordering::SeqCst);
        tokio::task::yield_now().await;
        paused.store(false, Ordering::SeqCst);
        within("a resume", server.resume()).await.unwrap();
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::SeqCst);
    let (served, refused) = within("the client loop", load).await.unwrap();
    println!("100 pause/resume cycles: {served} clients served, {refused} refused or reset");
    assert_eq!(called_while_paused.load(Ordering::SeqCst), 0, "a handler ran while paused");
    assert!(served > 0, "no client was served between pauses");
    assert_echoes(&mut connect(&server).await, b"served after the cycles").await;
    within("close", server.close()).await;
    within("the server", server.into_future()).await.unwrap();
}

/// One echo of a short message; an error if the connection was reset or closed early.
async fn echo_once(client: &mut TcpStream) -> io::Result<()> {
    use tokio::io::AsyncReadExt;
    client.write_all(b"ping").await?;
    let mut reply = [0; 4];
    within("the echo", client.read_exact(&mut reply)).await?;
    assert_eq!(&reply, b"ping");
    Ok(())
}

fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe
    )
}

#[tokio::test]
async fn a_pause_and_a_resume_asked_at_once_both_resolve_and_the_last_one_wins() {
    let server = serve_echo().await;
    let (paused, resumed) = (server.pause(), server.resume());
    within("the pause", paused).await.expect("superseded by the resume, not failed");
    within("the resume", resumed).await.expect("resumed");
    assert!(!server.is_paused());
    assert_echoes(&mut connect(&server).await, b"listening, as last asked").await;
    let (resumed, paused) = (server.resume(), server.pause());
    within("the resume", resumed).await.expect("superseded by the pause, not failed");
    within("the pause", paused).await.expect("paused");
    assert!(server.is_paused());
    assert_refused_at_once(server.listening_on()).await;
}

#[tokio::test]
async fn a_pause_asked_as_the_server_closes_resolves_while_a_view_of_its_socket_is_held() {
    let server = serve_echo().await;
    // Keeps the listening fd open after the close: the pause must not wait for the fd.
    let view = server.listening_socket().expect("a view of the listening socket");
    let pausing = server.pause();
    let _closing = server.close();
    within("the pause, the server closed", pausing).await.expect("pausing a closed server is Ok");
    match within("a resume after close", server.resume()).await {
        Err(Error::ServerClosed) => {}
        other => panic!("expected ServerClosed, got {other:?}"),
    }
    assert!(server.listening_socket().is_some(), "the view still holds the fd open");
    drop(view);
    within("the close, the view dropped", server.close_finished()).await;
}

#[tokio::test]
async fn a_unix_pause_that_resume_could_not_undo_is_refused_and_the_server_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    // As long as a Unix socket path may be (107 bytes): no room for the temporary name that
    // listening again binds beside it.
    let name_len = 107 - dir.path().as_os_str().len() - 1;
    let path = dir.path().join("p".repeat(name_len));
    assert_eq!(path.as_os_str().len(), 107);
    let server = unix_server(&path).await;

    let refused = within("the pause", server.pause()).await;
    let error = refused.expect_err("a pause that could never be undone");
    assert!(matches!(error, Error::Io { action: "pause listening", .. }), "{error:?}");
    let cause = std::error::Error::source(&error).expect("the OS-level cause").to_string();
    assert!(cause.contains("107"), "the cause names the limit: {cause}");
    assert!(!server.is_paused());
    let mut client = within("connect", UnixStream::connect(&path)).await.expect("still listening");
    assert_echoes(&mut client, b"served, not paused").await;
    drop(client);
    within("close", server.close()).await;
}
