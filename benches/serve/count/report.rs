//! The count's results: one [`Counted`] per contestant, its tables on the terminal and in
//! `BENCHMARKS.md`, and `target/bench/count.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::tables::{self, total, HEADINGS};
use super::tools::{Report, Tool};
use super::Sizes;
use crate::contestants::{Contestant, Kind};
use crate::measure::Machine;
use crate::report::{rewrite_block, table};
use crate::results::fmt_value;

/// The command that publishes the count.
pub const COMMAND: &str = "BENCH_COUNT=1 cargo bench -p tcp-serve-bench";

/// One contestant's figures; NaN (`null` in the JSON) where a run failed.
#[derive(Serialize)]
pub struct Counted {
    pub contestant: String,
    #[serde(skip)]
    pub kind: Kind,
    /// How its child was started (`BENCH_CHILD`).
    pub spec: String,
    /// Connections in its short and long connection runs (fewer for TLS).
    pub conns: (usize, usize),
    pub instructions_per_conn: f64,
    pub instructions_per_round_trip: f64,
    /// Calls per connection, by syscall; empty if the strace runs failed.
    pub syscalls_per_conn: BTreeMap<String, f64>,
    pub syscalls_per_round_trip: BTreeMap<String, f64>,
    pub idle_bytes_per_conn: f64,
}

impl Counted {
    pub fn new(c: &Contestant) -> Self {
        Counted {
            contestant: c.label.clone(),
            kind: c.kind,
            spec: c.spec(),
            conns: (0, 0),
            instructions_per_conn: f64::NAN,
            instructions_per_round_trip: f64::NAN,
            syscalls_per_conn: BTreeMap::new(),
            syscalls_per_round_trip: BTreeMap::new(),
            idle_bytes_per_conn: f64::NAN,
        }
    }

    /// Records `tool`'s figures per connection and per round trip.
    pub(super) fn add(&mut self, tool: Tool, per_conn: Option<Report>, per_rt: Option<Report>) {
        for (report, is_conn) in [(per_conn, true), (per_rt, false)] {
            match (tool, report) {
                (_, None) => {}
                (Tool::Callgrind, Some(Report::Instructions(ir))) if is_conn => {
                    self.instructions_per_conn = ir;
                }
                (Tool::Callgrind, Some(Report::Instructions(ir))) => {
                    self.instructions_per_round_trip = ir;
                }
                (Tool::Strace, Some(Report::Syscalls(calls))) if is_conn => {
                    self.syscalls_per_conn = calls;
                }
                (Tool::Strace, Some(Report::Syscalls(calls))) => {
                    self.syscalls_per_round_trip = calls
                }
                (tool, Some(report)) => unreachable!("{tool:?} reported {report:?}"),
            }
        }
    }

    /// Every syscall per connection; NaN if not counted.
    fn syscalls_conn_total(&self) -> f64 {
        total(&self.syscalls_per_conn)
    }

    fn syscalls_rt_total(&self) -> f64 {
        total(&self.syscalls_per_round_trip)
    }

    /// The headline figures in order of [`HEADINGS`].
    pub fn headline(&self) -> [f64; 5] {
        [
            self.instructions_per_conn,
            self.instructions_per_round_trip,
            self.syscalls_conn_total(),
            self.syscalls_rt_total(),
            self.idle_bytes_per_conn,
        ]
    }

    /// One line for the progress log.
    pub fn summary(&self) -> String {
        HEADINGS
            .iter()
            .zip(self.headline())
            .map(|(h, v)| format!("{h} {}", fmt_value(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Prints the tables on stdout.
pub fn print(counted: &[Counted]) {
    println!();
    for (title, lines) in tables::all(counted) {
        println!("{title}");
        print!("{}", table(&lines, false));
        println!();
    }
}

/// Writes `target/bench/count.json`, and with `publish` the generated block of
/// `BENCHMARKS.md`'s section on the count.
pub fn save(
    root: &Path,
    counted: &[Counted],
    machine: &Machine,
    sizes: Sizes,
    elapsed: f64,
    publish: bool,
) {
    #[derive(Serialize)]
    struct Count<'a> {
        command: &'a str,
        library: String,
        machine: &'a Machine,
        sizes: Sizes,
        elapsed_s: f64,
        contestants: &'a [Counted],
    }
    let library = library_commit(root);
    let json = Count {
        command: COMMAND,
        library: library.clone(),
        machine,
        sizes,
        elapsed_s: elapsed,
        contestants: counted,
    };
    let path = root.join("target").join("bench").join("count.json");
    let json = serde_json::to_string_pretty(&json).expect("plain data serialises");
    match std::fs::write(&path, json) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
    if !publish {
        println!("sizes or contestants overridden: BENCHMARKS.md left alone");
        return;
    }
    let mut md = String::new();
    let both =
        |(a, b): (usize, usize)| format!("{} and {}", fmt_value(a as f64), fmt_value(b as f64));
    let fewer: Vec<String> = counted
        .iter()
        .filter(|c| c.conns != sizes.conns)
        .map(|c| format!("{}: {}", c.contestant, both(c.conns)))
        .collect();
    let fewer = if fewer.is_empty() { String::new() } else { format!(" ({})", fewer.join("; ")) };
    let _ = writeln!(
        md,
        "Command: `{COMMAND}` (connections {}{fewer}, round trips {}, idle connections {}; \
         whole count {elapsed:.0} s, on one CPU).\n",
        both(sizes.conns),
        both(sizes.round_trips),
        both(sizes.idle)
    );
    let _ = writeln!(md, "Library: tcp-serve at {library}.\n");
    let _ = writeln!(
        md,
        "Machine: {} CPUs ({}), Linux {}.\n",
        machine.nproc, machine.cpu, machine.kernel
    );
    for (title, lines) in tables::all(counted) {
        let _ = writeln!(md, "#### {title}\n");
        md.push_str(&table(&lines, true));
        md.push('\n');
    }
    match rewrite_block(root, "count", COMMAND, &md) {
        Ok(()) => println!("wrote BENCHMARKS.md"),
        Err(e) => eprintln!("could not publish: {e}"),
    }
}

/// The last commit that changed the library's `src/`, and whether `src/`
/// has changes not yet committed.
fn library_commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["log", "-1", "--format=%h (%s)", "--", "src"]);
    let dirty = git(&["status", "--porcelain", "--", "src"]).is_some_and(|s| !s.is_empty());
    match commit {
        Some(commit) if dirty => format!("commit {commit} with uncommitted changes to src/"),
        Some(commit) => format!("commit {commit}"),
        None => "an unknown commit".into(),
    }
}
