//! Tests that must own the whole process (counting its descriptors, lowering its open-file
//! limit, dropping a capability) re-run their own test binary for one child test.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

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
    let child = command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the child test");
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
