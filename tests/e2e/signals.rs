//! Deployment signals: SIGINT, like SIGTERM, starts a graceful drain with a deadline, and
//! the example exits 0 when it is done, as under systemd or Kubernetes.

use crate::common;

use std::time::{Duration, Instant};

use common::curl::*;
use common::example::*;
use common::*;
use tokio::net::TcpStream;

/// The drain deadline the forced-drain test gives the hyper example.
const DRAIN_DEADLINE: Duration = Duration::from_millis(300);

#[tokio::test]
async fn echo_example_drains_on_sigint_ending_a_conversation_and_exits_0() {
    let mut example = start("echo", &["--listen", "127.0.0.1:0"], &[]).await;
    let mut client =
        within("connect", TcpStream::connect(&example.address)).await.expect("connect");
    assert_echoes(&mut client, b"mid-conversation").await;

    let signalled = Instant::now();
    example.signal("INT");
    // The handler watches the shutdown signal: it ends the conversation, the client sees EOF.
    assert_closed_by_server(&mut client).await;
    assert_eq!(example.stdout_line("echo: stopped").await, "echo: stopped (Gracefully)");
    let status = example.exited().await;
    assert!(status.success(), "the example exited with {status} after SIGINT");
    // The example's drain deadline is 10 s: a graceful drain ends well before it.
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "the drain took {:?}, as long as its deadline",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn hyper_example_force_closes_a_request_outliving_the_drain_deadline_and_exits_0() {
    if !tool("curl", "curl") {
        return;
    }
    let deadline_ms = DRAIN_DEADLINE.as_millis().to_string();
    let env = [("DRAIN_DEADLINE_MS", deadline_ms.as_str())];
    let mut example = start("hyper", &["--listen", "127.0.0.1:0"], &env).await;
    let slow = curl_command(&format!("http://{}/slow?ms=30000", example.address), &["--http1.1"])
        .spawn()
        .expect("start curl");
    example.stdout_line("GET /slow?ms=30000").await;

    let signalled = Instant::now();
    example.signal("INT");
    // The request cannot finish in time: at the deadline its connection is closed, and curl
    // gets no response.
    let reply = curl_result(within("curl to fail", slow.wait_with_output()).await.expect("curl"));
    assert_ne!(reply.code, Some(0), "the slow request was answered: {reply:?}");
    assert_eq!(reply.status, 0, "{reply:?}");
    assert_eq!(
        example.stdout_line("hyper: stopped").await,
        "hyper: stopped (Forced { connections: 1 })"
    );
    let status = example.exited().await;
    assert!(status.success(), "the example exited with {status} after a forced drain");
    let took = signalled.elapsed();
    assert!(took >= DRAIN_DEADLINE, "the drain ended after {took:?}, before its deadline");
    assert!(took < common::WAIT, "the drain took {took:?}, far past its deadline");
}
