//! Running an example from `examples/` as a real process, and talking to it with `socat`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::within;

/// The path of the example `name`, building it first only if it is missing.
///
/// `cargo test` builds every example before it runs a test, so normally this builds
/// nothing. It must not rebuild one that exists: another test may be running that binary,
/// and cargo relinks it whenever its own view of the features differs from the test run's.
/// After editing an example, run the whole `cargo test` (or `cargo build --examples`).
pub fn example_binary(name: &str) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let deps = std::env::current_exe().expect("the test binary's path");
    let path = deps
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps")
        .join("examples")
        .join(name);
    let _one_build_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "--quiet", "--example", name]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        assert!(
            build.status().expect("run cargo build").success(),
            "building example {name} failed"
        );
    }
    path
}

/// Starts the example `name` and returns it with the address it says it listens on.
pub async fn start_example(name: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(example_binary(name))
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start example {name}: {e}"));
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let line = within("the example to print its address", stdout.next_line())
        .await
        .expect("read the example's stdout")
        .expect("the example printed a line");
    let prefix = format!("{name}: listening on ");
    let address = line.strip_prefix(&prefix).expect("the first line names the address").to_owned();
    // Keep draining stdout so the example never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (child, address)
}

/// Sends `input` through `socat - <target>` and returns what came back. `None` when socat is
/// not installed outside CI (`.ci/run` installs it, and CI must not skip).
pub async fn socat(target: &str, input: &[u8]) -> Option<Vec<u8>> {
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
pub async fn terminate(mut child: Child) {
    let pid = child.id().expect("the example is running").to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.expect("run kill").success());
    let status = within("the example to exit after SIGTERM", child.wait()).await.expect("wait");
    assert!(status.success(), "the example exited with {status}");
}
