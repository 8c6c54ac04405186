//! What pausing, resuming and retiring answer once the server is closed or handed over: the
//! states a client alone cannot bring about (`retire` is the hand-over's last step); what a
//! failed hand-over logs; and which `Readiness` handle the server reports through.

use std::time::Duration;

use tokio::net::TcpStream;
use tower::Layer;

use crate::error::Error;
use crate::test_log::CapturedLog;
use crate::{service_fn, Connection, Inet, InetServer, Serve, WhereToListen};

/// The longest any single event may take before a test fails instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

async fn serve() -> InetServer {
    Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(service_fn(|(_peer, _stream): Connection<Inet>| async { Ok::<_, Error>(()) }))
        .await
        .expect("serve")
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

#[tokio::test]
async fn after_a_hand_over_pause_and_resume_are_refused_and_nothing_changes() {
    let server = serve().await;
    within("the retire", server.retire()).await;
    within("a second retire", server.retire()).await;
    for (what, asked) in [("resume", server.resume()), ("pause", server.pause())] {
        match within(what, asked).await {
            Err(Error::HandedOver) => {}
            other => panic!("expected HandedOver from {what}, got {other:?}"),
        }
    }
    assert!(!server.is_paused());
    assert!(!server.is_closed());
    // Still listening (the socket is the successor's to accept on): a connect completes.
    let port = server.listening_on();
    within("a connect", TcpStream::connect(("127.0.0.1", port))).await.expect("listening");
    within("close", server.close()).await;
}

#[tokio::test]
async fn a_retire_asked_as_the_server_closes_resolves_while_a_view_of_its_socket_is_held() {
    let server = serve().await;
    let view = server.listening_socket().expect("a view of the listening socket");
    let mut retiring = std::pin::pin!(server.retire());
    // Asked, not yet followed: the accept loop runs only once this task waits.
    assert!(futures::poll!(retiring.as_mut()).is_pending());
    let _closing = server.close();
    within("the retire, the server closed", retiring).await;
    drop(view);
    within("the close, the view dropped", server.close_finished()).await;
}

#[tokio::test]
async fn a_failed_hand_over_logs_the_cause_and_the_server_serves_on() {
    let log = CapturedLog::default();
    let _guard = log.capture();
    let server = serve().await;

    let missing = tokio::process::Command::new("/nonexistent/tcp-serve-successor");
    let failed = within("the hand-over", server.hand_over(missing)).await;
    let error = failed.expect_err("no such program");
    assert!(matches!(error, Error::HandOver { .. }), "{error:?}");
    let text = log.text();
    let line = text.lines().find(|line| line.contains("hand-over failed")).expect(&text);
    assert!(line.contains("WARN"), "{line}");
    // The cause (ENOENT), which the error's own message leaves to `source()`.
    let os_words = std::error::Error::source(&error).expect("the spawn's error").to_string();
    assert!(line.contains(&os_words), "the line carries the cause {os_words:?}: {line}");
    assert!(!error.to_string().contains(&os_words), "the message alone lacks it: {error}");
    assert!(!server.is_closed());
    let port = server.listening_on();
    within("a connect", TcpStream::connect(("127.0.0.1", port))).await.expect("listening");
    within("close", server.close()).await;
}

#[tokio::test]
async fn a_readiness_taken_before_the_server_starts_is_the_one_it_reports() {
    let listener = crate::Listener::bind(&WhereToListen::localhost_port_chosen_by_os()).unwrap();
    let acceptor = crate::Acceptor::new(listener);
    let before = acceptor.readiness();
    // Taken before a new `Graceful` replaces the acceptor's: readiness is not its to carry.
    let acceptor = acceptor.graceful(crate::layer::Graceful::new());
    let stack = acceptor
        .graceful_layer()
        .layer(service_fn(|(_peer, _stream): Connection<Inet>| async { Ok::<_, Error>(()) }));
    let acceptor_server = acceptor.serve(stack).expect("serve");
    acceptor_server.set_ready(false);
    assert!(!before.is_ready(), "the acceptor's handle hears the server");

    let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os());
    let before = serve.readiness();
    let serve_server = serve
        .serve(service_fn(|(_peer, _stream): Connection<Inet>| async { Ok::<_, Error>(()) }))
        .await
        .expect("serve");
    serve_server.set_ready(false);
    assert!(!before.is_ready(), "the builder's handle hears the server");
    assert!(!serve_server.readiness().is_ready());

    within("close", acceptor_server.close()).await;
    within("close", serve_server.close()).await;
}
