//! The count (`BENCH_COUNT=1`): what each server child spends per connection and per round
//! trip in user-space instructions (callgrind) and syscalls (strace), and in memory per
//! idle connection. Unlike the timed workloads these hardly move with the machine's load.
//!
//! Each figure is a difference of two runs on fresh children, a short one and a long one,
//! so that start-up and exit cancel out: (long − short) ÷ (operations in long − in short).
//! The client does one thing at a time (one connection, or one round trip, then the next),
//! so the server sees the same sequence of events in every run. A connection is connect →
//! one exchange → close, then the client waits for the server's close; a round trip is one
//! exchange on one open connection. An exchange is 32 B and its echo, or for the HTTP
//! contestants a keep-alive `GET /` and its response ([`crate::protocol`]); the TLS
//! contestant's client handshakes first (a full handshake every time), the PROXY one's
//! sends a v2 header first.
//! Idle memory is the server's RSS growth from `idle.0` to `idle.1` open connections, each
//! after one exchange, without a wrapper.
//!
//! The count pins itself, and so every child, to one CPU. The client then runs only while
//! the server waits and the server only while the client waits, so each run interleaves
//! the two the same way. Unpinned, the client's 32 bytes sometimes reached the server
//! before it looked and sometimes after, and instructions per connection moved by ±10%
//! between runs; pinned, by under 0.5%.

mod report;
mod tables;
mod tools;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::child::ServerProc;
use crate::contestants::{self, Contestant, Protocol};
use crate::measure;
use crate::protocol::{self, Stream};
use crate::settings::selected;
use report::Counted;
use tools::{Report, Tool};

/// Each operation's limit: callgrind slows the server about fifty times.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Each run's limit, whatever its size.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a child may take to exit and have its tool write the report.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server is given to settle before its RSS is read.
const SETTLE: Duration = Duration::from_millis(200);

/// The sizes of the short and long runs.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Sizes {
    /// Connections in the short and the long connection run.
    pub conns: (usize, usize),
    /// Round trips in the short and the long round-trip run.
    pub round_trips: (usize, usize),
    /// Idle connections at the two RSS readings.
    pub idle: (usize, usize),
}

impl Sizes {
    /// The defaults, or `BENCH_COUNT_CONNS=N1,N2`, `BENCH_COUNT_ROUND_TRIPS=R1,R2` and
    /// `BENCH_COUNT_IDLE=I1,I2`; and whether any was set.
    pub fn from_env() -> (Self, bool) {
        let (conns, o1) = pair("BENCH_COUNT_CONNS", (2_000, 6_000));
        let (round_trips, o2) = pair("BENCH_COUNT_ROUND_TRIPS", (5_000, 20_000));
        let (idle, o3) = pair("BENCH_COUNT_IDLE", (2_000, 6_000));
        (Sizes { conns, round_trips, idle }, o1 || o2 || o3)
    }
}

fn pair(name: &str, default: (usize, usize)) -> ((usize, usize), bool) {
    let parsed = std::env::var(name).ok().and_then(|v| {
        let (a, b) = v.split_once(',')?;
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    });
    match parsed {
        Some((a, b)) if a < b => ((a, b), true),
        Some(_) => panic!("{name}: give two sizes, the smaller first"),
        None => (default, false),
    }
}

/// What a counted run does against the server.
#[derive(Clone, Copy, Debug)]
enum Work {
    /// `n` connections, one after another: connect → one exchange → close.
    Conns(usize),
    /// `n` exchanges on one connection.
    RoundTrips(usize),
}

impl Work {
    fn name(self) -> String {
        match self {
            Work::Conns(n) => format!("conns-{n}"),
            Work::RoundTrips(n) => format!("round-trips-{n}"),
        }
    }

    /// Drives the server at `addr` in `protocol`; every step is bounded by [`OP_TIMEOUT`].
    async fn drive(self, addr: std::net::SocketAddr, protocol: Protocol) -> std::io::Result<()> {
        let bounded = |what| std::io::Error::other(format!("{what} took over {OP_TIMEOUT:?}"));
        match self {
            Work::Conns(n) => {
                for _ in 0..n {
                    tokio::time::timeout(OP_TIMEOUT, one_connection(addr, protocol))
                        .await
                        .map_err(|_| bounded("a connection"))??;
                }
            }
            Work::RoundTrips(n) => {
                let mut stream = tokio::time::timeout(OP_TIMEOUT, protocol::open(protocol, addr))
                    .await
                    .map_err(|_| bounded("connect"))??;
                for _ in 0..n {
                    tokio::time::timeout(OP_TIMEOUT, protocol::exchange(&mut stream, protocol))
                        .await
                        .map_err(|_| bounded("a round trip"))??;
                }
            }
        }
        Ok(())
    }
}

/// Connect → one exchange → close, and wait for the server's close (EOF) before the
/// next: the server has then finished with this connection, so the next one finds it idle
/// whatever the tool's slowdown, and each run sees the same sequence of wake-ups.
async fn one_connection(addr: std::net::SocketAddr, protocol: Protocol) -> std::io::Result<()> {
    protocol::close_and_wait(protocol::open_exchanged(protocol, addr).await?).await
}

/// How many times fewer connections a contestant's connection runs make: a full TLS
/// handshake costs the server about a hundred times an echo's instructions, and
/// callgrind runs them at a fiftieth of the speed.
fn conns_divisor(c: &Contestant) -> usize {
    match c.kind.protocol() {
        Protocol::TlsEcho => 20,
        _ => 1,
    }
}

/// Runs the count for every contestant `BENCH_CONTESTANTS` selects, prints the tables,
/// writes `target/bench/count.json`, and with the default sizes rewrites the generated
/// block of `BENCHMARKS.md`'s section on it.
pub fn run(rt: &tokio::runtime::Runtime) {
    let started = Instant::now();
    let (sizes, overridden) = Sizes::from_env();
    let machine = measure::Machine::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("benches/ has a parent");
    let out_dir = root.join("target").join("bench").join("count");
    std::fs::create_dir_all(&out_dir).expect("create target/bench/count");
    for tool in [Tool::Callgrind, Tool::Strace] {
        if !tool.available() {
            eprintln!("count: {tool:?} is not installed (apt-get install valgrind strace)");
            std::process::exit(1);
        }
    }
    let cpu = pin_to_one_cpu();
    eprintln!("count: {sizes:?} on CPU {cpu}; reports in {}", out_dir.display());
    let contestants: Vec<Contestant> = contestants::count_race()
        .into_iter()
        .filter(|c| selected("BENCH_CONTESTANTS", &c.label))
        .collect();
    let counted: Vec<Counted> =
        contestants.iter().map(|c| count_one(rt, c, sizes, &out_dir)).collect();
    let elapsed = started.elapsed().as_secs_f64();
    let publish = !overridden && std::env::var_os("BENCH_CONTESTANTS").is_none();
    report::print(&counted);
    report::save(root, &counted, &machine, sizes, elapsed, publish);
    println!("whole count: {elapsed:.0} s");
}

/// Pins this thread, which starts every child and runs the client, to the last CPU it may
/// use (children inherit it); returns that CPU.
fn pin_to_one_cpu() -> usize {
    let cpu = *measure::allowed_cpus().last().expect("some CPU is allowed");
    measure::pin_to(cpu);
    cpu
}

/// Every figure for one contestant.
fn count_one(
    rt: &tokio::runtime::Runtime,
    c: &Contestant,
    sizes: Sizes,
    out_dir: &Path,
) -> Counted {
    let mut counted = Counted::new(c);
    let divisor = conns_divisor(c);
    let (n1, n2) = (sizes.conns.0 / divisor, sizes.conns.1 / divisor);
    counted.conns = (n1, n2);
    let (r1, r2) = sizes.round_trips;
    for tool in [Tool::Callgrind, Tool::Strace] {
        let per_conn = difference(rt, c, tool, Work::Conns(n1), Work::Conns(n2), out_dir);
        let per_rt = difference(rt, c, tool, Work::RoundTrips(r1), Work::RoundTrips(r2), out_dir);
        counted.add(tool, per_conn.map(|d| d.per_op(n2 - n1)), per_rt.map(|d| d.per_op(r2 - r1)));
    }
    counted.idle_bytes_per_conn = idle_growth(rt, c, sizes.idle);
    eprintln!("  {}: {}", c.label, counted.summary());
    counted
}

/// The long run's report less the short run's.
struct Difference(Report, Report);

impl Difference {
    /// The difference per operation.
    fn per_op(&self, ops: usize) -> Report {
        let ops = ops as f64;
        match (&self.0, &self.1) {
            (Report::Instructions(short), Report::Instructions(long)) => {
                Report::Instructions((long - short) / ops)
            }
            (Report::Syscalls(short), Report::Syscalls(long)) => {
                let names: BTreeSet<&String> = short.keys().chain(long.keys()).collect();
                let calls = |r: &BTreeMap<String, f64>, name| r.get(name).copied().unwrap_or(0.0);
                Report::Syscalls(
                    names
                        .into_iter()
                        .map(|name| (name.clone(), (calls(long, name) - calls(short, name)) / ops))
                        .collect(),
                )
            }
            _ => unreachable!("one tool reports one kind"),
        }
    }
}

/// Runs `short` and `long` under `tool` on fresh children; `None` (and a message) if
/// either fails.
fn difference(
    rt: &tokio::runtime::Runtime,
    c: &Contestant,
    tool: Tool,
    short: Work,
    long: Work,
    out_dir: &Path,
) -> Option<Difference> {
    let one = |work: Work| {
        let out = out_dir.join(tool.file_name(&format!("{}.{}", c.label, work.name())));
        let t = Instant::now();
        let result = counted_run(rt, c, tool, work, &out);
        eprintln!(
            "  {:<18} {tool:?} {:<18} {:.1} s",
            c.label,
            work.name(),
            t.elapsed().as_secs_f64()
        );
        result.map_err(|e| eprintln!("count: {} {tool:?} {}: {e}", c.label, work.name())).ok()
    };
    Some(Difference(one(short)?, one(long)?))
}

/// One run: a fresh child under `tool`, driven through `work`, then asked to exit.
fn counted_run(
    rt: &tokio::runtime::Runtime,
    c: &Contestant,
    tool: Tool,
    work: Work,
    out: &PathBuf,
) -> std::io::Result<Report> {
    let _ = std::fs::remove_file(out);
    let server = ServerProc::spawn_under(c, &tool.wrapper(out))?;
    let addr = server.addr;
    let driven = rt.block_on(async {
        tokio::time::timeout(RUN_TIMEOUT, work.drive(addr, c.kind.protocol()))
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("the run took too long")))
    });
    // Ask for the exit even after a failure, so no child is left behind.
    let exited = server.finish(EXIT_TIMEOUT);
    driven?;
    exited?;
    tool.read(out)
}

/// RSS growth per idle connection between `idle.0` and `idle.1` open connections, each
/// after one exchange, on a child without a wrapper. NaN if a connection fails.
fn idle_growth(rt: &tokio::runtime::Runtime, c: &Contestant, idle: (usize, usize)) -> f64 {
    let Ok(mut server) = ServerProc::spawn(c) else { return f64::NAN };
    let addr = server.addr;
    let growth = rt.block_on(async {
        let mut open: Vec<Stream> = Vec::with_capacity(idle.1);
        let mut rss = Vec::new();
        for target in [idle.0, idle.1] {
            while open.len() < target {
                let opened = protocol::open_exchanged(c.kind.protocol(), addr);
                match tokio::time::timeout(OP_TIMEOUT, opened).await {
                    Ok(Ok(stream)) => open.push(stream),
                    _ => return f64::NAN,
                }
            }
            tokio::time::sleep(SETTLE).await;
            rss.push(server.rss());
        }
        (rss[1] - rss[0]) / (idle.1 - idle.0) as f64
    });
    server.exit();
    growth
}
