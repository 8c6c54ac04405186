//! The reliability suite: the server under load, faults and bad input (issue 4).
//!
//! Each module checks one guarantee of `RELIABILITY.md`, as clients see it. Every loop is
//! bounded in count and every wait in time; the figures each test prints (run with
//! `--nocapture`) are the ones `RELIABILITY.md` quotes.
//!
//! Tests that must own the whole process (counting its descriptors, lowering its open-file
//! limit, dropping a capability) re-run this test binary for one child test; see
//! `common::child::run_child`.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod close_races;
mod drop_toggling;
mod exhaustion;
mod faults;
mod leaks;
mod model;
mod storm;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncReadExt;

/// The process's open descriptors, from `/proc/self/fd` (not counting the listing's own).
fn open_fds() -> usize {
    let listed = std::fs::read_dir("/proc/self/fd").expect("list /proc/self/fd").count();
    listed - 1
}

/// The CPU time this process has used, user and system, in clock ticks (1/100 s on Linux),
/// read from `/proc/self/stat` opened beforehand (so it can be read with no descriptor free).
fn cpu_ticks(proc_stat: &std::fs::File) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; 4096];
    let len = proc_stat.read_at(&mut buf, 0).expect("read /proc/self/stat");
    let stat = String::from_utf8_lossy(&buf[..len]);
    // The command name, in parentheses, may hold spaces: count fields after its `)`.
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of proc(5), utime and stime, are the 12th and 13th after the name.
    let ticks = |i: usize| fields[i].parse::<u64>().expect("a tick count");
    ticks(11) + ticks(12)
}

/// How many handlers run at once, as the handlers themselves record it.
#[derive(Clone, Default)]
struct Running {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// Held by a running handler; dropped when the handler ends, however it ends.
struct RunningGuard(Arc<AtomicUsize>);

impl Running {
    /// Counts a handler as running until the guard is dropped.
    fn enter(&self) -> RunningGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        RunningGuard(Arc::clone(&self.now))
    }

    fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a connection ended for a client that wrote, half-closed and read to the end.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Every byte came back, then EOF.
    Echoed,
    /// Nothing came back: EOF or a reset (dropped, or reset when the listener closed).
    Closed,
    /// Part of the echo came back, then the end: half served. Never right; returned rather
    /// than failing at once so that a test can count them for its figures, then assert.
    HalfOpen {
        /// Of the bytes expected, how many came back.
        got: usize,
    },
}

/// Reads to the end of `stream`, bounded: all of `expected` then EOF is [`Ended::Echoed`],
/// EOF or a reset with no byte is [`Ended::Closed`], a prefix of it is [`Ended::HalfOpen`];
/// other bytes, an odd error, or no end within the bound fail the test.
async fn read_to_end_of<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, expected: &[u8]) -> Ended {
    let mut got = Vec::new();
    let result = common::within("the end of the connection", stream.read_to_end(&mut got)).await;
    match result {
        Ok(_) if got == expected => Ended::Echoed,
        Ok(_) if got.is_empty() => Ended::Closed,
        Err(e) if got.is_empty() && is_reset(&e) => Ended::Closed,
        Ok(_) if expected.starts_with(&got) => Ended::HalfOpen { got: got.len() },
        Err(e) if expected.starts_with(&got) && is_reset(&e) => Ended::HalfOpen { got: got.len() },
        other => panic!(
            "expected the echo ({} bytes), got {} bytes of something else and {other:?}",
            expected.len(),
            got.len()
        ),
    }
}

/// The errors a client sees on a connection the server closed, or never took.
fn is_reset(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
}

/// Resets `stream`: `SO_LINGER` 0, then close, so the peer gets a RST instead of a FIN.
fn reset(stream: tokio::net::TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(std::time::Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(stream);
}
