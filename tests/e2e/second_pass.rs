//! The core's second pass (issue 9): each defect it fixed, as a client sees it (each of
//! these tests fails against the core before it), and a stack built by hand around the
//! `Acceptor`.

use crate::accept_errors::{assert_fd_limit_applies, use_all_fds_but_one, EMFILE, FD_LIMIT};
use crate::common;

use common::child::{is_child, run_child};
use common::log::CapturedLog;
use common::tls::{tls_configs, tls_connect};
use common::*;

use std::future::IntoFuture;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Duration;

use tcp_serve::io::{BufferAgeLimit, BufferedConnection, BufferingLayer};
use tcp_serve::layer::OnHandlerError;
use tcp_serve::tower::{layer::layer_fn, Layer, Service, ServiceBuilder};
use tcp_serve::{
    service_fn, Acceptor, BoxError, Connection, Drained, Error, ExistingConnections, Inet,
    InetServer, Listener, Serve, ServerError, WhereToListen,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc as tokio_mpsc;

/// A service whose `poll_ready` panics once `broken` is set.
#[derive(Clone)]
struct PanicsWhenBroken<S> {
    inner: S,
    broken: Arc<AtomicBool>,
}

impl<S: Service<R>, R> Service<R> for PanicsWhenBroken<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if self.broken.load(Ordering::SeqCst) {
            panic!("a layer's poll_ready broke");
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.inner.call(request)
    }
}

/// Defect 1: a panic in the accept loop (here, a layer's `poll_ready`) left the listener open
/// with nobody accepting, `is_closed()` false and the server's future pending forever.
#[tokio::test]
async fn a_panic_in_the_accept_loop_stops_the_server_as_raise_does() {
    let log = CapturedLog::default();
    let _subscriber = log.capture();
    let broken = Arc::new(AtomicBool::new(false));
    let layer_broken = Arc::clone(&broken);
    let server = Serve::new(localhost())
        .layer(layer_fn(move |inner| PanicsWhenBroken { inner, broken: Arc::clone(&layer_broken) }))
        .serve(echo::<Inet>())
        .await
        .unwrap();
    let mut first = connect(&server).await;
    assert_echoes(&mut first, b"served").await;
    // The accept loop asks the stack to be ready again for the next client: it panics.
    broken.store(true, Ordering::SeqCst);
    let _next = connect(&server).await;

    let stopped = within("the server to stop", server.clone().into_future()).await;
    match stopped {
        Err(ServerError::AcceptorPanicked { message }) => {
            assert!(message.contains("poll_ready broke"), "{message}")
        }
        other => panic!("expected the acceptor's panic, got {other:?}"),
    }
    assert!(server.is_closed());
    assert_refused(server.listening_on()).await;
    assert_echoes(&mut first, b"the connection accepted before carries on").await;
    let logged = log.text();
    assert!(
        logged.lines().any(|l| l.contains("ERROR") && l.contains("accept loop panicked")),
        "{logged}"
    );
}

/// Runs a server on a runtime of its own, built without the time driver, in a thread that
/// lives until the server is closed; hands back the server.
fn serve_on_a_runtime_without_timers() -> InetServer {
    let (handed, server) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a runtime with I/O and no timers");
        runtime.block_on(async move {
            let server = Serve::new(localhost()).serve(echo::<Inet>()).await.unwrap();
            handed.send(server.clone()).expect("the test waits for the server");
            let _ = server.await;
        });
    });
    server.recv_timeout(WAIT).expect("the server on the timerless runtime started")
}

const TIMERLESS_CHILD: &str =
    "second_pass::child_a_server_without_the_time_driver_backs_off_and_recovers_from_emfile";

/// Defect 2: without the time driver, the accept loop's back-off panicked at the first
/// `EMFILE`. The server now needs no timer: it backs off and recovers.
#[tokio::test]
async fn a_server_on_a_runtime_without_timers_survives_running_out_of_descriptors() {
    let ulimit = format!(r#"ulimit -n {FD_LIMIT} && exec "$0" "$@""#);
    run_child(TIMERLESS_CHILD, &["sh", "-c", &ulimit]).await;
}

#[tokio::test]
async fn child_a_server_without_the_time_driver_backs_off_and_recovers_from_emfile() {
    if !is_child(TIMERLESS_CHILD) {
        return; // run by the parent test, under a low open-file limit
    }
    assert_fd_limit_applies();
    let server = serve_on_a_runtime_without_timers();
    let (clients, filler) = use_all_fds_but_one(&server).await;
    let mut starved = connect(&server).await;
    starved.write_all(b"waiting").await.expect("write to the server");
    assert_no_reply(&mut starved).await;
    let no_fd = TcpStream::connect(("127.0.0.1", server.listening_on())).await;
    assert_eq!(no_fd.err().and_then(|e| e.raw_os_error()), Some(EMFILE));
    assert!(!server.is_closed(), "the back-off did not kill the accept loop");

    drop((clients, filler));
    let mut echoed = [0; 7];
    within("the starved client's echo", starved.read_exact(&mut echoed)).await.unwrap();
    assert_eq!(&echoed, b"waiting");
    // A drain's deadline needs no timer either.
    let mut held = connect(&server).await;
    assert_echoes(&mut held, b"held").await;
    let drained = within("the drain", server.drain(Duration::from_millis(200))).await;
    assert_eq!(drained, Drained::Gracefully, "echo handlers end at EOF... or at the deadline");
}

/// Defect 3: binding a Unix path in use made a blocking `connect` to the other server on the
/// runtime's thread, which hangs while that server's backlog is full.
#[test]
fn binding_a_unix_path_whose_server_has_a_full_backlog_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.sock");
    // Someone else's server that never accepts, its backlog filled.
    let busy = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    busy.bind(&socket2::SockAddr::unix(&path).unwrap()).unwrap();
    busy.listen(1).unwrap();
    let mut queued = Vec::new();
    while let Ok(client) = {
        let client =
            socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM.nonblocking(), None)
                .unwrap();
        client.connect(&socket2::SockAddr::unix(&path).unwrap()).map(|()| client)
    } {
        queued.push(client);
        assert!(queued.len() < 64, "the backlog never filled");
    }

    let (done, result) = mpsc::channel();
    let bind_path = path.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let served = runtime
            .block_on(Serve::new(WhereToListen::unix(bind_path)).serve(echo::<tcp_serve::Unix>()));
        let _ = done.send(served.map(drop));
    });
    match result.recv_timeout(WAIT).expect("serve returned instead of blocking") {
        Err(Error::AddrInUse { .. }) => {}
        other => panic!("expected AddrInUse, got {other:?}"),
    }
    drop((busy, queued));
}

/// What the error policy was told, in order.
fn reporting() -> (OnHandlerError<std::net::SocketAddr>, tokio_mpsc::UnboundedReceiver<BoxError>) {
    let (tx, rx) = tokio_mpsc::unbounded_channel();
    let policy = OnHandlerError::call(move |_peer, error: &BoxError| {
        let _ = tx.send(error.to_string().into());
    });
    (policy, rx)
}

/// Defect 4a: a buffered handler's own error (or panic) after its socket failed was replaced
/// by the socket's error, then by `Ok`: on_handler_error never heard of it.
#[tokio::test]
async fn a_buffered_handlers_failure_after_its_peer_left_still_reaches_the_error_policy() {
    for panics in [false, true] {
        let (policy, mut reported) = reporting();
        let server = Serve::new(localhost())
            .on_handler_error(policy)
            .layer(BufferingLayer::new())
            .serve(service_fn(
                move |(_peer, mut reader, mut writer): BufferedConnection<_, TcpStream>| async move {
                    let mut byte = [0; 1];
                    reader.read_exact(&mut byte).await?;
                    // Write until the socket fails: the client has gone.
                    while writer.write_all(&[b'x'; 16 * 1024]).await.is_ok() {
                        if writer.flush().await.is_err() {
                            break;
                        }
                    }
                    if panics {
                        panic!("the handler's own panic, after the socket failed");
                    }
                    Err::<(), _>(io::Error::other("the handler's own error, after the socket failed"))
                },
            ))
            .await
            .unwrap();
        let mut client = connect(&server).await;
        client.write_all(b"!").await.unwrap();
        // Leave with a reset: the server's writes fail.
        socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
        let error = within("the error policy to hear of the failure", reported.recv()).await;
        let error = error.expect("a report").to_string();
        let expected = if panics { "the handler's own panic" } else { "the handler's own error" };
        assert!(error.contains(expected), "on_handler_error got: {error}");
        within("close", server.close()).await;
    }
}

/// A stream whose shutdown never finishes, as TLS's close_notify to a peer that stopped
/// reading; reads and writes pass through.
#[pin_project::pin_project]
struct ShutdownStalls<S>(#[pin] S);

impl<S: tokio::io::AsyncRead> tokio::io::AsyncRead for ShutdownStalls<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().0.poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite> tokio::io::AsyncWrite for ShutdownStalls<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().0.poll_write(cx, buf)
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().0.poll_flush(cx)
    }

    fn poll_shutdown(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

/// Defect 4b: with `BufferAgeLimit::Unlimited`, a shutdown that stalled kept the connection
/// forever; the 30 s bound on the close now holds in every case.
#[tokio::test(start_paused = true)]
async fn a_stalled_shutdown_ends_the_buffered_connection_at_the_30_s_bound() {
    let (client, server_side) = tokio::io::duplex(64);
    let mut buffered =
        BufferingLayer::new().buffer_age_limit(BufferAgeLimit::Unlimited).layer(service_fn(
            |(_peer, _reader, mut writer): BufferedConnection<(), ShutdownStalls<_>>| async move {
                writer.write_all(b"bye").await?;
                Ok::<_, io::Error>(())
            },
        ));
    let started = tokio::time::Instant::now();
    let ended = buffered.call(((), ShutdownStalls(server_side))).await;
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    let error = ended.expect_err("a close that did not finish is an error");
    assert!(error.to_string().contains("30 s"), "{error}");
    drop(client);
}

/// A server whose handlers echo and ignore the drain signal.
async fn serve_stubborn_echo() -> InetServer {
    Serve::new(localhost()).serve(echo::<Inet>()).await.unwrap()
}

/// Defect 5a: the drain's deadline started only once the listener had closed; a view of the
/// listening socket, held elsewhere, kept the drain going forever.
#[tokio::test]
async fn a_drains_deadline_bounds_the_whole_drain() {
    let server = serve_stubborn_echo().await;
    let _view = server.listening_socket().expect("a view of the listener");
    let mut client = connect(&server).await;
    assert_echoes(&mut client, b"served").await;
    let drained = within("the drain", server.drain(Duration::from_millis(300))).await;
    assert_eq!(drained, Drained::Forced { connections: 1 });
    assert_closed_by_server(&mut client).await;
}

/// Defect 5b: `drain` did nothing until its future was polled. It starts at once, as
/// `close` does, and runs to its end unawaited.
#[tokio::test]
async fn a_drain_starts_when_called_and_ends_unawaited() {
    let server = serve_stubborn_echo().await;
    let mut client = connect(&server).await;
    assert_echoes(&mut client, b"served").await;
    let signal = server.shutdown_signal();
    drop(server.drain(Duration::from_millis(300)));
    assert!(signal.is_requested(), "the handlers are told at once");
    assert!(server.is_closed(), "the listener is closing at once");
    within("the listener to close", server.close_finished()).await;
    assert_refused(server.listening_on()).await;
    // The deadline passes with nobody awaiting the drain: the connection is closed.
    assert_closed_by_server(&mut client).await;
}

/// Defect 7: a server can start paused, as Async's `create ~drop_incoming_connections`.
#[tokio::test]
async fn a_server_can_start_dropping_incoming_connections() {
    let called = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&called);
    let server = Serve::new(localhost())
        .drop_incoming_connections(true)
        .serve(service_fn(move |connection: Connection<Inet>| {
            counted.fetch_add(1, Ordering::SeqCst);
            echo::<Inet>().call(connection)
        }))
        .await
        .unwrap();
    assert!(server.drop_incoming_connections());
    let mut dropped = connect(&server).await;
    assert_closed_by_server(&mut dropped).await;
    assert_eq!(called.load(Ordering::SeqCst), 0, "no handler ran while paused");
    assert_eq!(server.metrics().dropped, 1);

    server.set_drop_incoming_connections(false);
    assert_echoes(&mut connect(&server).await, b"served once resumed").await;
    assert_eq!(called.load(Ordering::SeqCst), 1);
    within("close", server.close()).await;
}

/// Defect 9, where the guarantee now reaches: a layer that calls its service later (TLS,
/// after the handshake) does not call it once `close` has returned.
#[tokio::test]
async fn a_service_behind_the_tls_layer_is_not_called_after_close() {
    let (server_config, client_config) = tls_configs();
    let called = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&called);
    let server = Serve::new(localhost())
        .layer(tcp_serve::tls::TlsLayer::new(Arc::new(server_config)))
        .serve(service_fn(
            move |_: (std::net::SocketAddr, tcp_serve::tls::TlsStream<TcpStream>)| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, io::Error>(()) }
            },
        ))
        .await
        .unwrap();
    // Connected and accepted, its handshake not yet begun...
    let tcp = connect(&server).await;
    until_connections(&server, 1).await;
    // ...when the server closes.
    within("close", server.close()).await;
    if let Ok(mut tls) = tls_connect(client_config, tcp).await {
        let mut buf = [0; 1];
        let read = within("the server to end the connection", tls.read(&mut buf)).await;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    until_connections(&server, 0).await;
    assert_eq!(called.load(Ordering::SeqCst), 0, "the service was called after close");
}

/// Defect 9, where it cannot reach: a stream the handler moved into a task of its own is
/// beyond `close_with(Close)`.
#[tokio::test]
async fn close_with_close_cannot_close_a_stream_moved_into_another_task() {
    let server = Serve::new(localhost())
        .serve(service_fn(|connection: Connection<Inet>| async move {
            tokio::spawn(echo::<Inet>().call(connection));
            Ok::<_, io::Error>(())
        }))
        .await
        .unwrap();
    let mut client = connect(&server).await;
    assert_echoes(&mut client, b"served by a task of the handler's own").await;
    within("close", server.close_with(ExistingConnections::Close)).await;
    assert_eq!(server.num_connections(), 0, "the handler itself has long returned");
    assert_echoes(&mut client, b"still served: out of the server's reach").await;
}

/// The shape: a stack built by hand, in an order `Serve` does not use, keeps the server's
/// handle and guarantees. `load_shed` outside the limit: at the limit, a client is accepted
/// and closed at once instead of waiting in the backlog.
#[tokio::test]
async fn a_hand_built_stack_sheds_load_outside_the_limit_and_keeps_the_handle() {
    let listener = Listener::bind(&localhost()).unwrap();
    let acceptor = Acceptor::new(listener).max_connections(1);
    let (policy, mut reported) = reporting();
    let stack = ServiceBuilder::new()
        .layer(acceptor.error_policy_layer(policy))
        .load_shed()
        .layer(acceptor.limit_layer())
        .layer(acceptor.graceful_layer())
        .service(echo::<Inet>());
    let server = acceptor.serve(stack).unwrap();

    let mut first = connect(&server).await;
    assert_echoes(&mut first, b"the one slot").await;
    let mut shed = connect(&server).await;
    assert_closed_by_server(&mut shed).await;
    let error = within("the shed connection's report", reported.recv()).await.unwrap();
    assert!(error.to_string().contains("overloaded"), "{error}");
    assert_eq!((server.num_connections(), server.metrics().failed), (1, 1));
    server.invariant();

    drop(first);
    until_connections(&server, 0).await;
    assert_echoes(&mut connect(&server).await, b"a slot again").await;
    let drained = within("the drain", server.drain(Duration::from_secs(5))).await;
    assert_eq!(drained, Drained::Gracefully);
    assert_refused(server.listening_on()).await;
}

/// A hand-built stack without an error policy: a connection's error stops the server.
#[tokio::test]
async fn without_an_error_policy_a_failed_connection_raises() {
    let listener = Listener::bind(&localhost()).unwrap();
    let acceptor = Acceptor::new(listener);
    let stack = ServiceBuilder::new().layer(acceptor.graceful_layer()).service(service_fn(
        |_: Connection<Inet>| async { Err::<(), _>(io::Error::other("no policy to catch me")) },
    ));
    let server = acceptor.serve(stack).unwrap();
    let _client = connect(&server).await;
    match within("the server to stop", server.clone().into_future()).await {
        Err(ServerError::Handler { source, .. }) => {
            assert!(source.to_string().contains("no policy"), "{source}")
        }
        other => panic!("expected the connection's error, got {other:?}"),
    }
    assert_refused(server.listening_on()).await;
}
