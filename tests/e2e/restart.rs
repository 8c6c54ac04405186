//! Restarting with no refused connection (`examples/restart.rs`, `Server::hand_over`): under
//! a client loop, the server is restarted three times on SIGHUP; every client is echoed and
//! each old process exits 0 after its drain. A new process that cannot start, or dies
//! midway, leaves the old one serving. A Unix socket is handed over as a TCP one is.

use crate::common;

use common::child::{is_child, run_child};
use common::example::*;
use common::*;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

/// The most connections the client loop makes, and the longest it runs.
const CONNECTIONS: usize = 20_000;
const LOOP_TIME: Duration = Duration::from_secs(30);
/// Clients connecting at once.
const CLIENTS: usize = 4;
const RESTARTS: usize = 3;

fn pid(line: &str) -> i32 {
    let word = line.split_whitespace().skip_while(|w| *w != "pid").nth(1);
    word.and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("no pid in {line:?}"))
}

fn signal(pid: i32, signal: Signal) {
    let pid = Pid::from_raw(pid).expect("a pid");
    rustix::process::kill_process(pid, signal).expect("signal the server");
}

/// Waits for `pid`, a process this one reaps (as its subreaper), and returns its exit code.
/// Polled: a blocking `waitpid` could not be abandoned at the bound, and there is no event
/// for the exit of a process that is not our child.
async fn exit_code_of(pid: i32) -> Option<i32> {
    let pid = Pid::from_raw(pid).expect("a pid");
    let status = within("an old server to exit", async {
        loop {
            match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG).expect("waitpid") {
                Some((_, status)) => return status,
                None => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await;
    status.exit_status()
}

/// One client: connect, send, read the echo, close. What went wrong, if anything.
async fn one_client(address: &str, n: usize) -> Result<(), String> {
    let message = format!("client {n:06} says hello, 32 B.");
    let mut stream = TcpStream::connect(address).await.map_err(|e| format!("connect: {e}"))?;
    stream.write_all(message.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    let mut echoed = vec![0; message.len()];
    match tokio::time::timeout(WAIT, stream.read_exact(&mut echoed)).await {
        Ok(Ok(_)) if echoed == message.as_bytes() => Ok(()),
        Ok(Ok(_)) => Err("echoed other bytes".into()),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Err(_) => Err("unanswered".into()),
    }
}

const THREE_RESTARTS: &str = "restart::child_three_restarts_under_a_client_loop_refuse_no_client";

#[tokio::test]
async fn three_restarts_under_a_client_loop_refuse_no_client() {
    // In a child process, which becomes the reaper of the servers its server starts.
    run_child(THREE_RESTARTS, &[]).await;
}

#[tokio::test]
async fn child_three_restarts_under_a_client_loop_refuse_no_client() {
    if !is_child(THREE_RESTARTS) {
        return;
    }
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).expect("subreaper");
    let mut example = start("restart", &["--listen", "127.0.0.1:0"], &[]).await;
    let address = example.address.clone();
    let mut serving = pid(&example.stdout_line("serving").await);

    // The clients report how many connections they have made, so the restarts can be spread
    // over the loop: after a quarter, a half, three quarters.
    let (progress, mut made) = tokio::sync::watch::channel(0_usize);
    let progress = Arc::new(progress);
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (address, progress) = (address.clone(), Arc::clone(&progress));
            tokio::spawn(async move {
                let (mut served, mut failures) = (0, Vec::new());
                for n in (client..CONNECTIONS).step_by(CLIENTS) {
                    if started.elapsed() > LOOP_TIME {
                        break;
                    }
                    match one_client(&address, n).await {
                        Ok(()) => served += 1,
                        Err(failure) => failures.push(failure),
                    }
                    progress.send_modify(|made| *made += 1);
                }
                (served, failures)
            })
        })
        .collect();

    for restart in 1..=RESTARTS {
        let target = CONNECTIONS * restart / (RESTARTS + 1);
        let waited = within("the clients to make progress", made.wait_for(|made| *made >= target));
        waited.await.expect("the clients run");
        let old = serving;
        signal(old, Signal::HUP);
        let handed = example.stdout_line(&format!("pid {old} handed over")).await;
        serving = pid(handed.rsplit_once("to ").expect("to pid").1);
        example.stdout_line(&format!("pid {old} stopped (Gracefully)")).await;
        let code =
            if restart == 1 { example.exited().await.code() } else { exit_code_of(old).await };
        assert_eq!(code, Some(0), "the old server {old} exited with {code:?}");
        println!("[child] restart {restart}: pid {old} handed over to pid {serving} and exited 0");
    }
    let (mut served, mut failures) = (0, Vec::new());
    for client in clients {
        let (n, mut failed) = within("a client loop", client).await.expect("join");
        served += n;
        failures.append(&mut failed);
    }
    let took = started.elapsed();
    println!(
        "[child] {served} connections served in {took:.1?} across {RESTARTS} restarts, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "clients failed: {:?}", &failures[..failures.len().min(10)]);
    assert!(served == CONNECTIONS || took > LOOP_TIME, "only {served} connections were made");

    signal(serving, Signal::TERM);
    example.stdout_line(&format!("pid {serving} stopped")).await;
    assert_eq!(exit_code_of(serving).await, Some(0));
}

#[tokio::test]
async fn a_unix_socket_is_handed_over_and_the_new_process_serves_it() {
    if !tool("socat", "socat") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("restart.sock");
    let path = path.to_str().expect("a UTF-8 path");
    let target = format!("UNIX-CONNECT:{path}");
    let mut example = start("restart", &["--unix", path], &[]).await;
    assert!(example.address.contains(path), "listening on {}", example.address);
    let old = pid(&example.stdout_line("serving").await);
    assert_eq!(socat(&target, b"before").await.as_deref(), Some(&b"before"[..]));

    signal(old, Signal::HUP);
    let handed = example.stdout_line(&format!("pid {old} handed over")).await;
    let new = pid(handed.rsplit_once("to ").expect("to pid").1);
    example.stdout_line(&format!("pid {old} stopped (Gracefully)")).await;
    assert_eq!(example.exited().await.code(), Some(0));
    // The old process is gone; the same path is served by the new one.
    assert_eq!(socat(&target, b"after").await.as_deref(), Some(&b"after"[..]));

    signal(new, Signal::TERM);
    example.stdout_line(&format!("pid {new} stopped")).await;
}

/// A copy of the restart example's binary in `dir`, to be replaced as a deploy would.
fn copy_of_the_example(dir: &Path) -> PathBuf {
    let copy = dir.join("restart");
    std::fs::copy(example_binary("restart"), &copy).expect("copy the example");
    copy
}

/// Puts an executable shell script at `path` in place of what is there.
fn replace_with_script(path: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::remove_file(path).expect("remove the binary");
    std::fs::write(path, format!("#!/bin/sh\n{script}\n")).expect("write the script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Starts the copy at `binary`, whose successor will be whatever is at that path then.
async fn start_copy(binary: &Path) -> Example {
    let mut command = Command::new(binary);
    command.args(["--listen", "127.0.0.1:0"]);
    spawn("restart", command).listening().await
}

#[tokio::test]
async fn a_successor_that_fails_to_start_or_dies_midway_leaves_the_old_server_serving() {
    if !tool("socat", "socat") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let binary = copy_of_the_example(dir.path());
    let original = dir.path().join("restart.original");
    std::fs::copy(&binary, &original).unwrap();
    let mut example = start_copy(&binary).await;
    let address = example.address.clone();
    let old = i32::try_from(example.child.id().expect("running")).unwrap();
    let mut client = within("connect", TcpStream::connect(&address)).await.unwrap();
    assert_echoes(&mut client, b"before").await;

    // A broken deploy: the new binary cannot start.
    replace_with_script(&binary, "exit 3");
    signal(old, Signal::HUP);
    let said = example.stdout_line("keeps serving").await;
    assert!(said.contains("exited"), "{said}");
    assert_echoes(&mut client, b"still served").await;
    assert_echoes(&mut within("connect", TcpStream::connect(&address)).await.unwrap(), b"new")
        .await;

    // A new process that takes the socket and dies before it accepts.
    replace_with_script(
        &binary,
        r#"exec socat -u /dev/null "ABSTRACT-CONNECT:${TCP_SERVE_HANDOVER#@}""#,
    );
    signal(old, Signal::HUP);
    // It dies before or after the socket reaches it: either way the old one serves on, the
    // connections it has and new ones.
    example.stdout_line("keeps serving").await;
    assert_echoes(&mut client, b"still served again").await;
    assert_echoes(
        &mut within("connect", TcpStream::connect(&address)).await.unwrap(),
        b"new again",
    )
    .await;

    // A deploy that left no binary: the old one says why, with the cause.
    std::fs::remove_file(&binary).unwrap();
    signal(old, Signal::HUP);
    let said = example.stdout_line("keeps serving").await;
    assert!(said.contains("No such file or directory"), "{said}");
    assert_echoes(&mut client, b"still served a third time").await;

    // The fixed deploy goes through.
    std::fs::copy(&original, &binary).unwrap();
    signal(old, Signal::HUP);
    let handed = example.stdout_line("handed over").await;
    let new = pid(handed.rsplit_once("to ").unwrap().1);
    assert_echoes(
        &mut within("connect", TcpStream::connect(&address)).await.unwrap(),
        b"by the new",
    )
    .await;
    drop(client);
    example.stdout_line(&format!("pid {old} stopped")).await;
    signal(new, Signal::TERM);
    example.stdout_line(&format!("pid {new} stopped")).await;
}
