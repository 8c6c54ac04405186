//! `curl` as the HTTP client: a request's exit code, status, HTTP version and body.

use std::process::Stdio;

use tokio::process::Command;

use super::within;

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
