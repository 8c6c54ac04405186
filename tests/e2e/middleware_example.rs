//! Runs `examples/middleware.rs` as a real process: tower's MapRequest, RateLimit and
//! Timeout layers and the example's own banner layer, composed on the connection service.

use crate::common;

use std::time::{Duration, Instant};

use common::example::*;
use common::{assert_closed_by_server, assert_echoes, within};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

/// The connection timeout the test gives the example. It must fire for the idle client, and
/// must not before a client has read its banner and had an echo: milliseconds on loopback,
/// so 2 s holds on a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(2);

const BANNER: &str = "welcome to the middleware example; type to be echoed\n";

/// Connects, and asserts the banner is the first thing the server sends.
async fn connect_and_read_banner(address: &str) -> BufReader<TcpStream> {
    let stream = within("connect", TcpStream::connect(address)).await.expect("connect");
    let mut client = BufReader::new(stream);
    let mut banner = String::new();
    within("the banner", client.read_line(&mut banner)).await.expect("read the banner");
    assert_eq!(banner, BANNER);
    client
}

#[tokio::test]
async fn middleware_example_greets_echoes_and_shows_the_order_of_its_layers() {
    let mut example = start("middleware", &["--listen", "127.0.0.1:0"], &[]).await;

    let mut client = connect_and_read_banner(&example.address).await;
    assert_echoes(&mut client, b"hello through five layers\n").await;
    let peer = client.get_ref().local_addr().expect("the client's address").to_string();

    // Each layer printed when its `call` ran: outermost first, the handler last.
    let order = ["1 map_request", "2 rate_limit", "3 timeout", "4 banner", "5 handler"];
    for step in order {
        let line = example.stdout_line(&format!("middleware: {peer} ")).await;
        assert_eq!(line, format!("middleware: {peer} {step}"), "the layers ran out of order");
    }
    drop(client);
    example.stop_with("TERM").await;
}

#[tokio::test]
async fn middleware_example_disconnects_a_client_idle_past_the_timeout() {
    let timeout_ms = TIMEOUT.as_millis().to_string();
    let env = [("MIDDLEWARE_TIMEOUT_MS", timeout_ms.as_str())];
    let mut example = start("middleware", &["--listen", "127.0.0.1:0"], &env).await;

    let started = Instant::now();
    let mut idle = connect_and_read_banner(&example.address).await;
    let peer = idle.get_ref().local_addr().expect("the client's address").to_string();
    assert_closed_by_server(&mut idle).await;
    assert!(
        started.elapsed() >= TIMEOUT,
        "the idle client was closed after {:?}, before the timeout",
        started.elapsed()
    );
    // The timeout is reported as the connection's error.
    let ended = example.stdout_line(&format!("middleware: {peer} ended")).await;
    assert_eq!(ended, format!("middleware: {peer} ended: request timed out"));

    // Other clients are still served.
    let mut next = connect_and_read_banner(&example.address).await;
    assert_echoes(&mut next, b"still here\n").await;
    drop(next);
    example.stop_with("TERM").await;
}
