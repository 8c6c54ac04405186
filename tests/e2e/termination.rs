//! Kubernetes-style termination from the library (`Server::drain_on_signals`): the first
//! SIGTERM drains with a deadline, a second one closes what is left at once.

use crate::common;

use common::example::*;
use common::*;

use std::time::{Duration, Instant};

use tokio::net::TcpStream;

#[tokio::test]
async fn a_second_sigterm_closes_the_connections_a_drain_is_waiting_for_at_once() {
    // The restart example's echo ends only when its client leaves; the drain may wait 60 s.
    let env = [("DRAIN_DEADLINE_MS", "60000")];
    let mut example = start("restart", &["--listen", "127.0.0.1:0"], &env).await;
    let mut client = within("connect", TcpStream::connect(&example.address)).await.unwrap();
    assert_echoes(&mut client, b"a client that stays").await;

    example.signal("TERM");
    example.stderr_line("draining").await;
    // The drain waits for the client, which stays...
    assert_echoes(&mut client, b"still served during the drain").await;
    let second = Instant::now();
    example.signal("TERM");
    // ...until the second signal, which closes it at once, far before the deadline.
    assert_closed_by_server(&mut client).await;
    let line = example.stdout_line("stopped").await;
    assert!(line.ends_with("stopped (Forced { connections: 1 })"), "{line}");
    let status = example.exited().await;
    assert!(status.success(), "exited with {status}");
    assert!(
        second.elapsed() < Duration::from_secs(30),
        "the second signal took {:?}",
        second.elapsed()
    );
}
