//! Several instances behind a real HAProxy, one drained under load (issue 11.3): the
//! drained instance first fails its health check while still serving, HAProxy takes it
//! out, then it drains and exits 0; no client request fails.

use crate::common;

use common::example::*;
use common::haproxy::Config;
use common::*;

use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Requests sent through HAProxy, by this many clients at once.
const REQUESTS: usize = 10_000;
const CLIENTS: usize = 4;
/// HAProxy checks each instance's `/health` this often, and takes it out after this many
/// failures: the drained instance must fail for longer than their product before it stops
/// accepting.
const CHECK_INTER_MS: u64 = 200;
const CHECK_FALL: u64 = 2;
const NOT_READY_FOR_MS: u64 = 1_500;

/// One request through the balancer, on a connection of its own; what went wrong, if anything.
async fn one_request(address: std::net::SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect(address).await.map_err(|e| format!("connect: {e}"))?;
    let request = b"GET / HTTP/1.1\r\nHost: balanced\r\nConnection: close\r\n\r\n";
    stream.write_all(request).await.map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut response)).await;
    match read {
        Err(_) => Err("unanswered".into()),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Ok(Ok(_)) if response.starts_with(b"HTTP/1.1 200") => Ok(()),
        Ok(Ok(_)) => Err(String::from_utf8_lossy(&response[..response.len().min(80)]).into()),
    }
}

#[tokio::test]
async fn one_of_three_instances_drained_behind_haproxy_under_load_fails_no_request() {
    let env = [
        ("NOT_READY_FOR_MS", NOT_READY_FOR_MS.to_string()),
        ("DRAIN_DEADLINE_MS", "10000".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let env: Vec<_> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut instances = Vec::new();
    for _ in 0..3 {
        let args = ["--listen", "127.0.0.1:0", "--proxy-protocol", "required"];
        instances.push(start("axum", &args, &env).await);
    }
    let check = format!("send-proxy-v2 check inter {CHECK_INTER_MS}ms fall {CHECK_FALL} rise 2");
    let mut config = Config::new()
        .defaults("mode http")
        .defaults("option httplog")
        // No retries: the order alone (fail the check, then drain) must keep every request
        // whole. Without `not_ready_for`, a few requests in 10,000 get HAProxy's 503.
        .backend("option httpchk GET /health")
        .backend("http-check expect status 200");
    for instance in &instances {
        config = config.server(&instance.address, &check);
    }
    let Some(haproxy) = config.start().await else { return };
    let balancer = haproxy.address();

    let (progress, mut made) = tokio::sync::watch::channel(0_usize);
    let progress = Arc::new(progress);
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let progress = Arc::clone(&progress);
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for _ in (client..REQUESTS).step_by(CLIENTS) {
                    if let Err(failure) = one_request(balancer).await {
                        failures.push(failure);
                    }
                    progress.send_modify(|made| *made += 1);
                }
                failures
            })
        })
        .collect();

    // A third of the way through, the middle instance is told to stop.
    within("the clients to make progress", made.wait_for(|made| *made >= REQUESTS / 3))
        .await
        .expect("the clients run");
    let mut drained = instances.remove(1);
    drained.signal("TERM");
    drained.stderr_line("not ready").await;
    drained.stderr_line("draining").await;
    let line = drained.stdout_line("axum: stopped").await;
    assert_eq!(line, "axum: stopped (Gracefully)");
    let status = drained.exited().await;
    assert!(status.success(), "the drained instance exited with {status}");

    let mut failures = Vec::new();
    for client in clients {
        failures.append(&mut within("a client loop", client).await.expect("join"));
    }
    println!(
        "{REQUESTS} requests through HAProxy in {:.1?}, one of 3 instances drained: {} failed",
        started.elapsed(),
        failures.len()
    );
    assert!(failures.is_empty(), "requests failed: {:?}", &failures[..failures.len().min(10)]);
    for instance in instances {
        instance.stop_with("TERM").await;
    }
}

/// The HTTP example behind HAProxy (`send-proxy` and `send-proxy-v2`, TCP mode): `/peer`
/// names the client, not the balancer.
#[tokio::test]
async fn the_axum_example_behind_haproxy_reports_the_clients_address() {
    let example =
        start("axum", &["--listen", "127.0.0.1:0", "--proxy-protocol", "required"], &[]).await;
    for send_proxy in ["send-proxy", "send-proxy-v2"] {
        let config = Config::new().server(&example.address, send_proxy);
        let Some(haproxy) = config.start().await else { return };
        let mut client = haproxy.connect().await;
        let me = client.local_addr().expect("the client's address");
        let request = b"GET /peer HTTP/1.1\r\nHost: balanced\r\nConnection: close\r\n\r\n";
        client.write_all(request).await.expect("send the request");
        let mut response = String::new();
        within("the response", client.read_to_string(&mut response)).await.expect("read");
        assert!(response.starts_with("HTTP/1.1 200"), "{send_proxy}: {response}");
        assert!(response.ends_with(&format!("\r\n\r\n{me}\n")), "{send_proxy}: {response}");
    }
    example.stop_with("TERM").await;
}
