//! Checks a test cannot make on this machine (a tool missing, no `::1`, no way to take a
//! privilege away): under CI a failure, elsewhere a skip that is said out loud.
//!
//! Every skip goes through [`skip`]. Outside CI it writes `skipped check: <test>: <what>`
//! straight to the terminal (past the test harness's capture, so `cargo test` shows it
//! even when the test passes) and appends the same line to
//! `<target dir>/skipped-checks.txt`, which `.ci/run` empties before the tests and counts
//! after them (`skipped checks: N`). Under CI (`CI` set) the same call fails the test:
//! `.ci/run` installs every tool, and a check that did not run is not evidence.

use std::io::Write;
use std::path::PathBuf;

/// The file each skip is appended to, one line each: `skipped-checks.txt` in the target
/// directory (the test binary is `<target>/<profile>/deps/<name>`).
pub fn skipped_checks_file() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?;
    Some(target.join("skipped-checks.txt"))
}

/// Whether this run is CI's: `CI` set (GitHub and most CI services set `CI=true`), other
/// than to `false` or `0`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| !matches!(ci.as_str(), "" | "false" | "0"))
}

/// Records that the check `what` did not run, and why: under CI, panics (the test fails);
/// elsewhere, tells the terminal and the skipped-checks file, and returns so the caller can
/// return. Name the check so that a reader knows what is missing from the evidence.
#[track_caller]
pub fn skip(what: &str, reason: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    if under_ci() {
        panic!("{test}: {what} cannot be checked here, and CI must not skip it: {reason}");
    }
    let line = format!("skipped check: {test}: {what}: {reason}\n");
    // Straight to the terminal: the harness captures `eprintln!`, not writes to stderr.
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = skipped_checks_file() {
        // One short append per skip: lines from tests running at once do not interleave.
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        if let Ok(mut file) = file {
            let _ = file.write_all(line.as_bytes());
        }
    }
}
