//! Running an example from `examples/` as a real process: its stdout and stderr as lines
//! the test can wait for, signals, its exit; and the real tools tests talk to it with.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;

use rustix::process::{Pid, Signal};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::curl::{curl_command, curl_result};
use super::{assert_refused, skip, within};

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

/// A running example: its process, the address it printed, and its output, line by line.
///
/// Outside a child test (see [`child`](super::child)) the example leads a process group of
/// its own, which the processes it starts (a restart's successors) join; dropping the
/// `Example` kills that whole group, so that a failing test leaves none of them running.
/// Inside a child test the example stays in the child test's group, which
/// [`run_child`](super::child::run_child) kills; dropping the `Example` kills the example
/// itself.
pub struct Example {
    pub name: String,
    pub child: Child,
    pub address: String,
    /// The process group the example leads, if it leads one: killed on drop.
    group: Option<Pid>,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: mpsc::UnboundedReceiver<String>,
}

impl Drop for Example {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            // Gone already (every member has exited) is fine.
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
    }
}

/// Forwards `output`'s lines into `lines` (and to the test's stderr as `[label] line`, so
/// a failing test shows what the process said), until EOF.
pub(super) fn forward_lines(
    label: String,
    output: impl AsyncRead + Unpin + Send + 'static,
    lines: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(output).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            eprintln!("[{label}] {line}");
            // The test may have stopped listening; keep draining so the process never blocks.
            let _ = lines.send(line);
        }
    });
}

/// A port free on 127.0.0.1 when asked, for a tool that cannot be given port 0. Another
/// process may take it before the tool binds it: callers try again with another.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// Starts the example `name` with `args` and the environment variables `env`, and waits for
/// its `NAME: listening on ADDR` line.
pub async fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Example {
    let mut command = Command::new(example_binary(name));
    command.args(args).envs(env.iter().copied());
    spawn(name, command).listening().await
}

/// Starts `command` (an example, or a tool that runs one, such as systemd-socket-activate)
/// as the process `name`, with its output forwarded line by line and killed on drop, with
/// the processes it starts (see [`Example`]); waits for nothing. The `address` is left empty.
pub fn spawn(name: &str, mut command: Command) -> Example {
    let own_group = !in_a_child_test();
    if own_group {
        command.process_group(0);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let pid = child.id().and_then(|pid| Pid::from_raw(pid.try_into().ok()?));
    let group = if own_group { Some(pid.expect("a running process's pid")) } else { None };
    let (stdout, stdout_lines) = mpsc::unbounded_channel();
    let (stderr, stderr_lines) = mpsc::unbounded_channel();
    forward_lines(format!("{name} stdout"), child.stdout.take().expect("piped stdout"), stdout);
    forward_lines(format!("{name} stderr"), child.stderr.take().expect("piped stderr"), stderr);
    Example {
        name: name.to_owned(),
        child,
        address: String::new(),
        group,
        stdout: stdout_lines,
        stderr: stderr_lines,
    }
}

/// Whether this process is a child test, started by [`run_child`](super::child::run_child)
/// in a process group that it kills when the child test is done.
fn in_a_child_test() -> bool {
    std::env::var_os(super::child::CHILD_ENV).is_some()
}

async fn next_containing(
    lines: &mut mpsc::UnboundedReceiver<String>,
    what: &str,
    needle: &str,
) -> String {
    within(&format!("the example to print {needle:?} on {what}"), async {
        loop {
            match lines.recv().await {
                Some(line) if line.contains(needle) => return line,
                Some(_) => continue,
                None => panic!("the example closed its {what} before printing {needle:?}"),
            }
        }
    })
    .await
}

impl Example {
    /// Waits for the `NAME: listening on ADDR` line and sets `address` to `ADDR`.
    pub async fn listening(mut self) -> Example {
        let prefix = format!("{}: listening on ", self.name);
        let line = self.stdout_line(&prefix).await;
        self.address = line.strip_prefix(&prefix).expect("the line names the address").to_owned();
        self
    }

    /// Waits for the next stdout line containing `needle` (skipping others) and returns it.
    pub async fn stdout_line(&mut self, needle: &str) -> String {
        next_containing(&mut self.stdout, "stdout", needle).await
    }

    /// Waits for the next stderr line containing `needle` (skipping others) and returns it.
    pub async fn stderr_line(&mut self, needle: &str) -> String {
        next_containing(&mut self.stderr, "stderr", needle).await
    }

    /// Sends the signal `signal` (`INT`, `TERM`) to the example.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the example is running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Waits for the example to exit and returns its status.
    pub async fn exited(&mut self) -> ExitStatus {
        within(&format!("{} to exit", self.name), self.child.wait()).await.expect("wait")
    }

    /// Sends `signal` and asserts the example drains and exits 0.
    pub async fn stop_with(mut self, signal: &str) {
        self.signal(signal);
        let status = self.exited().await;
        assert!(status.success(), "{} exited with {status} after SIG{signal}", self.name);
    }
}

/// Whether the command-line tool `name` is installed. A missing tool is a [`skip`] of the
/// test's part: reported outside CI, a failure under CI (`.ci/run` installs it).
pub fn tool(name: &str, debian_package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(name))));
    if !found {
        skip(
            &format!("the part that runs {name}"),
            &format!("{name} is not installed (apt-get install {debian_package})"),
        );
    }
    found
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Sends `input` through `socat - <target>` and returns what came back. `None` when socat is
/// not installed outside CI (a [`skip`]; under CI that fails the test).
pub async fn socat(target: &str, input: &[u8]) -> Option<Vec<u8>> {
    let spawned = Command::new("socat")
        .args(["-", target])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            skip(
                "the part that talks through socat",
                "socat is not installed (apt-get install socat)",
            );
            return None;
        }
        Err(e) => panic!("socat could not be started: {e}"),
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input).await.expect("write to socat");
    drop(stdin);
    let output = within("socat to finish", child.wait_with_output()).await.expect("socat output");
    assert!(output.status.success(), "socat failed: {output:?}");
    Some(output.stdout)
}

/// Runs the HTTP example `name` (axum, hyper), sends it a request to `/slow?ms=1500` with
/// curl, and once the example has printed `in_flight_line` (the request reached the
/// handler), SIGTERM: the example stops accepting (a new connect is refused), the request
/// in flight is answered in full, and the example prints `NAME: stopped (Gracefully)` and
/// exits 0. A [`skip`] without curl.
pub async fn assert_drains_a_request_in_flight(name: &str, in_flight_line: &str) {
    if !tool("curl", "curl") {
        return;
    }
    let mut example = start(name, &["--listen", "127.0.0.1:0"], &[]).await;
    let address = example.address.clone();
    let slow = curl_command(&format!("http://{address}/slow?ms=1500"), &["--http1.1"])
        .spawn()
        .expect("start curl");
    // The request has reached the handler: it is in flight.
    example.stdout_line(in_flight_line).await;

    example.signal("TERM");
    example.stderr_line("stopped accepting").await;
    let port = address.parse::<std::net::SocketAddr>().expect("an address").port();
    assert_refused(port).await;

    let reply = curl_result(within("the slow reply", slow.wait_with_output()).await.expect("curl"));
    assert_eq!((reply.code, reply.status), (Some(0), 200), "{reply:?}");
    assert_eq!(reply.body, "slept 1500 ms\n");

    let stopped = example.stdout_line(&format!("{name}: stopped")).await;
    assert_eq!(stopped, format!("{name}: stopped (Gracefully)"));
    let status = example.exited().await;
    assert!(status.success(), "the example exited with {status}");
}
