//! Runs `examples/echo.rs` as a real process and talks to it with `socat`, as a user would.

mod common;

use std::path::PathBuf;
use std::process::Stdio;

use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Builds the example (a no-op when `cargo test` already has) and returns its path.
fn echo_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--quiet", "--example", "echo"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    assert!(build.status().expect("run cargo build").success(), "building the echo example failed");
    let deps = std::env::current_exe().expect("the test binary's path");
    deps.parent().and_then(|d| d.parent()).expect("target/<profile>/deps").join("examples/echo")
}

/// Starts the example and reads the address it prints.
async fn start_echo(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(echo_binary())
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the echo example");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let line = within("the example to print its address", stdout.next_line())
        .await
        .expect("read the example's stdout")
        .expect("the example printed a line");
    let address = line.strip_prefix("echo: listening on ").expect("the line names the address");
    let address = address.to_owned();
    // Keep draining stdout so the example never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (child, address)
}

/// Sends `input` through `socat - <target>` and returns what came back. `None` when socat is
/// not installed outside CI (`.ci/run` installs it, and CI must not skip).
async fn socat(target: &str, input: &[u8]) -> Option<Vec<u8>> {
    let spawned = Command::new("socat")
        .args(["-", target])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            eprintln!("socat is not installed (apt-get install socat); skipping its part");
            return None;
        }
        Err(e) => panic!("socat is needed for this test: {e}"),
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input).await.expect("write to socat");
    drop(stdin);
    let output = within("socat to finish", child.wait_with_output()).await.expect("socat output");
    assert!(output.status.success(), "socat failed: {output:?}");
    Some(output.stdout)
}

/// Sends SIGTERM and asserts the example drains and exits 0.
async fn terminate(mut child: Child) {
    let pid = child.id().expect("the example is running").to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.expect("run kill").success());
    let status = within("the example to exit after SIGTERM", child.wait()).await.expect("wait");
    assert!(status.success(), "the example exited with {status}");
}

#[tokio::test]
async fn echo_example_serves_socat_over_tcp_and_drains_on_sigterm() {
    let (child, address) = start_echo(&["--listen", "127.0.0.1:0", "--max-connections", "8"]).await;
    if let Some(echoed) = socat(&format!("TCP:{address}"), b"hello over tcp\n").await {
        assert_eq!(echoed, b"hello over tcp\n");
    }

    // A client connected during the drain is told to finish: it sees EOF, then the exit.
    let mut client = within("connect", TcpStream::connect(&address)).await.expect("connect");
    assert_echoes(&mut client, b"before the signal").await;
    terminate(child).await;
    assert_closed_by_server(&mut client).await;
}

#[tokio::test]
async fn echo_example_serves_socat_over_a_unix_socket() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("echo.sock");
    let (child, address) = start_echo(&["--unix", path.to_str().expect("utf-8 path")]).await;
    assert_eq!(address, path.display().to_string());
    if let Some(echoed) = socat(&format!("UNIX-CONNECT:{address}"), b"hello over unix\n").await {
        assert_eq!(echoed, b"hello over unix\n");
    }
    terminate(child).await;
}

#[tokio::test]
async fn echo_example_reports_a_port_in_use_and_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let address = taken.local_addr().expect("its address").to_string();
    let output = within(
        "the example to fail",
        Command::new(echo_binary()).args(["--listen", &address]).output(),
    )
    .await
    .expect("run the example");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already in use"), "stderr was: {stderr}");
}
