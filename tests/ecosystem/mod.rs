//! Helpers for the ecosystem examples' tests (hyper, TLS, middleware, tracing, signals,
//! metrics): an example process whose stdout and stderr the test can wait on, settings passed
//! through the environment, and real clients (`curl`, `openssl`) that are skipped with a note
//! when missing outside CI.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::common::example::example_binary;
use crate::common::within;

/// A running example: its process, the address it printed, and its output, line by line.
pub struct Example {
    pub name: String,
    pub child: Child,
    pub address: String,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: mpsc::UnboundedReceiver<String>,
}

/// Forwards `output`'s lines into a channel (and to the test's stderr, so a failing test
/// shows what the example said), until EOF.
fn forward(
    name: &str,
    stream: &'static str,
    output: impl AsyncRead + Unpin + Send + 'static,
) -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let name = name.to_owned();
    tokio::spawn(async move {
        let mut lines = BufReader::new(output).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[{name} {stream}] {line}");
            // The test may have stopped listening; keep draining so the example never blocks.
            let _ = sender.send(line);
        }
    });
    receiver
}

/// Starts the example `name` with `args` and the environment variables `env`, and waits for
/// its `NAME: listening on ADDR` line.
pub async fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Example {
    let mut child = Command::new(example_binary(name))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start example {name}: {e}"));
    let stdout = forward(name, "stdout", child.stdout.take().expect("piped stdout"));
    let stderr = forward(name, "stderr", child.stderr.take().expect("piped stderr"));
    let mut example =
        Example { name: name.to_owned(), child, address: String::new(), stdout, stderr };
    let prefix = format!("{name}: listening on ");
    let line = example.stdout_line(&prefix).await;
    example.address = line.strip_prefix(&prefix).expect("the line names the address").to_owned();
    example
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

/// Whether the command-line tool `name` is installed. Outside CI a missing tool skips the
/// test's part with a note; in CI (`CI` set) it fails, since `.ci/run` installs it.
pub fn tool(name: &str, debian_package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(name))));
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is needed for this test (apt-get install {debian_package})"
        );
        eprintln!("{name} is not installed (apt-get install {debian_package}); skipping its part");
    }
    found
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What `curl` reported for one request.
#[derive(Debug)]
pub struct CurlResult {
    /// curl's exit code: 0 on success, e.g. 7 when the connection was refused, 52 for an
    /// empty reply.
    pub code: Option<i32>,
    pub body: String,
    /// `%{http_code}`, 0 when no response came.
    pub status: u16,
    /// `%{http_version}`: `1.1`, `2`, or `0` when no response came.
    pub http_version: String,
}

/// Marks the end of the body in curl's output, before the `-w` fields.
const CURL_TRAILER: &str = "\n--curl--";

/// Builds a curl command for `url` with `extra` flags, printing the status and HTTP version
/// after the body. Proxies from the environment are ignored: loopback only.
pub fn curl_command(url: &str, extra: &[&str]) -> Command {
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--show-error", "--noproxy", "*", "--max-time", "60"])
        .args(["--write-out", &format!("{CURL_TRAILER} %{{http_code}} %{{http_version}}")])
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Parses what a command from [`curl_command`] printed.
pub fn curl_result(output: std::process::Output) -> CurlResult {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (body, trailer) = stdout
        .rsplit_once(CURL_TRAILER)
        .unwrap_or_else(|| panic!("curl printed no trailer: {output:?}"));
    let mut fields = trailer.split_whitespace();
    let status = fields.next().and_then(|s| s.parse().ok()).expect("curl's %{http_code}");
    let http_version = fields.next().expect("curl's %{http_version}").to_owned();
    CurlResult { code: output.status.code(), body: body.to_owned(), status, http_version }
}

/// Runs curl on `url` with `extra` flags to completion.
pub async fn curl(url: &str, extra: &[&str]) -> CurlResult {
    let output = within("curl to finish", curl_command(url, extra).output()).await.expect("curl");
    curl_result(output)
}
