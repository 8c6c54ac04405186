//! Tests that must own the whole process (counting its descriptors, lowering its open-file
//! limit, dropping a capability) re-run their own test binary for one child test.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::process::Command;

use super::example::tool;
use super::skip;

/// Set in a child's environment to the name of the one child test it is to run; every
/// child test returns at once without it.
pub const CHILD_ENV: &str = "TCP_SERVE_RELIABILITY_CHILD";
/// The bound on a child test, which may run many bounded steps.
pub const CHILD_WAIT: Duration = Duration::from_secs(90);

/// Whether this process was started by [`run_child`] to run the child test `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|running| running == name)
}

/// Re-runs this test binary for the child test `name` only (its full path, as
/// `module::test`), through `wrapper` (a shell command that ends by running `"$0" "$@"`),
/// waits for it (bounded), asserts it passed, prints its output and returns its stdout.
pub async fn run_child(name: &str, wrapper: &[&str]) -> String {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(&exe);
            command
        }
        None => Command::new(&exe),
    };
    // A process group of its own, which the examples the child test starts stay in (see
    // `example::spawn`): killed when this returns or fails, whatever the child left running.
    let child = command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("start the child test");
    let pid = child.id().and_then(|pid| Pid::from_raw(pid.try_into().ok()?));
    let _group = KillGroupOnDrop(pid.expect("the child test's pid"));
    let output = match tokio::time::timeout(CHILD_WAIT, child.wait_with_output()).await {
        Ok(output) => output.expect("wait for the child test"),
        Err(_) => panic!("the child test {name} did not finish within {CHILD_WAIT:?}"),
    };
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let report = format!("child {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}", output.status);
    assert!(output.status.success(), "the child test {name} failed: {report}");
    let ran = stdout.contains(&format!("test {name} ..."));
    assert!(ran && stdout.contains("test result: ok. 1 passed"), "the child ran no test: {report}");
    // The harness prints `test name ... ` with no newline before the test's own output.
    for line in stdout.lines().filter_map(|line| line.find("[child]").map(|at| &line[at..])) {
        println!("{line}");
    }
    stdout.into_owned()
}

/// Kills the process group it names when dropped.
struct KillGroupOnDrop(Pid);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        // Gone already (every member has exited) is fine.
        let _ = rustix::process::kill_process_group(self.0, Signal::KILL);
    }
}

/// Descriptors this process may still open under an open-file limit of `limit`: the
/// numbers below the limit not in use. (Descriptors inherited above the limit stay open but
/// take no number below it.)
pub fn free_fds(limit: usize) -> usize {
    let below_limit = std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<usize>().ok())
        .filter(|&fd| fd < limit)
        .count();
    // The listing counted `read_dir`'s own descriptor, closed again by now.
    limit + 1 - below_limit
}

/// Run by `sh` inside a new network namespace: makes ports below 1024 privileged there
/// (whatever the host's `net.ipv4.ip_unprivileged_port_start`), then runs the child with
/// `CAP_NET_BIND_SERVICE` gone from its bounding and inheritable sets, so that even root
/// does not get it back on `exec`.
const DROP_BIND_SERVICE: &str = "echo 1024 > /proc/sys/net/ipv4/ip_unprivileged_port_start \
    && exec setpriv --bounding-set=-net_bind_service --inh-caps=-net_bind_service -- \"$0\" \"$@\"";

/// The wrapper for [`run_child`] under which binding 127.0.0.1:1 is refused with
/// `PermissionDenied`, so that the refusal can be checked on any machine:
///
/// - if this process is refused already, none;
/// - otherwise (root, `CAP_NET_BIND_SERVICE`, or a host that lowered
///   `ip_unprivileged_port_start`), `unshare --net` (with `--user --map-root-user` when not
///   root) and `setpriv`, both from util-linux: a network namespace of its own in which
///   ports below 1024 are privileged, and a process without the capability.
///
/// `None` when this machine allows neither (util-linux missing, namespaces forbidden): a
/// [`skip`], so a failure under CI.
pub fn without_privileged_ports() -> Option<Vec<&'static str>> {
    match std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 1)) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Some(Vec::new()),
        // Bound (or refused for another reason, such as a test of the other binary holding
        // it for a moment): take the privilege away in a namespace of the child's own.
        _ => {}
    }
    if !tool("unshare", "util-linux") || !tool("setpriv", "util-linux") {
        return None;
    }
    let mut wrapper = vec!["unshare"];
    if !rustix::process::geteuid().is_root() {
        wrapper.extend(["--user", "--map-root-user"]);
    }
    wrapper.extend(["--net", "--", "sh", "-c", DROP_BIND_SERVICE]);
    // The wrapper must be able to start a program here: namespaces may be forbidden.
    let probe = std::process::Command::new(wrapper[0]).args(&wrapper[1..]).arg("true").output();
    let failure = match probe {
        Ok(output) if output.status.success() => return Some(wrapper),
        Ok(output) => format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr)),
        Err(e) => e.to_string(),
    };
    skip(
        "a privileged port refused to a process without CAP_NET_BIND_SERVICE",
        &format!("this process may bind port 1, and `{}` failed: {failure}", wrapper.join(" ")),
    );
    None
}
