//! The six workloads: what each measures, in interleaved rounds on fresh server children.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use crate::child::ServerProc;
use crate::contestants::{self, Contestant, TOKIO_RAW};
use crate::load;
use crate::results::{fmt_value, m, Metric, Rounds, Workload};
use crate::settings::{selected, Cfg};

/// One round of a load generator against one server child.
type Load = for<'a> fn(&'a mut ServerProc, Cfg) -> Pin<Box<dyn Future<Output = Vec<f64>> + 'a>>;

/// A workload's table: which of its load generator's values it shows, as which metrics.
pub struct Table {
    pub key: &'static str,
    pub title: &'static str,
    pub metrics: &'static [Metric],
    /// The index of each metric in what the load generator returns.
    pub columns: &'static [usize],
}

/// One load generator in rounds; it fills one table, or two for idle + close.
struct Run {
    /// Its key in `BENCH_ONLY`.
    only: &'static str,
    /// Its name in the progress lines.
    name: &'static str,
    /// The accept storm has its own contestants and number of rounds.
    storm: bool,
    load: Load,
    tables: &'static [Table],
}

const CONN_RATE: &[Table] = &[Table {
    key: "conn-rate",
    title: "1. Connection rate: 32 clients, connect → 32 B → echo → close",
    metrics: &[
        m("conns_per_s", "conn/s", true, true),
        m("p99_us", "p99 µs", false, true),
        m("server_cpu_us_per_conn", "server CPU µs/conn", false, true),
        m("errors", "errors", false, false),
    ],
    columns: &[0, 1, 2, 3],
}];

const PING_PONG: &[Table] = &[Table {
    key: "ping-pong",
    title: "2. Ping-pong: 64 connections, 32-byte round trips",
    metrics: &[
        m("round_trips_per_s", "round trips/s", true, true),
        m("p50_us", "p50 µs", false, true),
        m("p99_us", "p99 µs", false, true),
        m("server_cpu_us_per_rt", "server CPU µs/rt", false, true),
    ],
    columns: &[0, 1, 2, 3],
}];

const STREAMING: &[Table] = &[Table {
    key: "streaming",
    title: "3. Streaming: 8 connections, 64 KiB chunks both ways",
    metrics: &[
        m("mb_per_s", "MB/s echoed", true, true),
        m("server_cpu_us_per_mb", "server CPU µs/MB", false, true),
    ],
    columns: &[0, 1],
}];

/// One round of idle + close answers both: bytes/conn, close ms, all-EOF ms, connections.
const IDLE_AND_CLOSE: &[Table] = &[
    Table {
        key: "idle-memory",
        title: "4. Idle memory: server RSS growth per idle connection",
        metrics: &[
            m("bytes_per_conn", "bytes/conn", false, true),
            m("connections", "connections", true, false),
        ],
        columns: &[0, 3],
    },
    Table {
        key: "close",
        title: "5. Close with live connections (tcp-serve: close_with(Close); actix: \
                stop(false); tokio-raw has no close: dropping its runtime is the floor)",
        metrics: &[
            m("close_future_ms", "close future ms", false, false),
            m("all_eof_ms", "all clients EOF ms", false, false),
        ],
        columns: &[1, 2],
    },
];

const STORM: &[Table] = &[Table {
    key: "storm",
    title: "6. Accept storm: clients connecting at once, one echo each",
    metrics: &[
        m("all_served_ms", "all served ms", false, true),
        m("median_client_ms", "median client ms", false, true),
        m("server_cpu_us_per_conn", "server CPU µs/conn", false, true),
    ],
    columns: &[0, 1, 2],
}];

/// The workloads in the order of the report.
fn runs() -> [Run; 5] {
    let run = |only, name, load: Load, tables| Run { only, name, storm: false, load, tables };
    [
        run("conn-rate", "conn-rate", |s, cfg| Box::pin(load::conn_rate(s, cfg)), CONN_RATE),
        run("ping-pong", "ping-pong", |s, cfg| Box::pin(load::ping_pong(s, cfg)), PING_PONG),
        run("streaming", "streaming", |s, cfg| Box::pin(load::streaming(s, cfg)), STREAMING),
        run("idle", "idle+close", |s, cfg| Box::pin(load::idle_and_close(s, cfg)), IDLE_AND_CLOSE),
        Run {
            storm: true,
            ..run("storm", "storm", |s, cfg| Box::pin(load::accept_storm(s, cfg)), STORM)
        },
    ]
}

/// Runs every workload `BENCH_ONLY` selects, in the order of the report.
pub fn run_all(rt: &tokio::runtime::Runtime, cfg: Cfg) -> Vec<Workload> {
    let (main, storm) = (contestants::main_race(), contestants::storm_race());
    let mut workloads = Vec::new();
    for run in runs().into_iter().filter(|run| selected("BENCH_ONLY", run.only)) {
        let (contestants, rounds) =
            if run.storm { (&storm, cfg.storm_rounds) } else { (&main, cfg.rounds) };
        let load = run.load;
        let results = run_rounds(run.name, contestants, rounds, &ServerProc::spawn, |s, _| {
            rt.block_on(load(s, cfg))
        });
        workloads.extend(run.tables.iter().map(|table| table.fill(&results, TOKIO_RAW)));
    }
    workloads
}

impl Table {
    /// The table's workload from a load generator's rounds, with ratios to `baseline`.
    pub fn fill(&self, results: &Rounds, baseline: &'static str) -> Workload {
        let picked = pick(results, self.columns);
        Workload::new(self.key, self.title, self.metrics, &picked, baseline)
    }
}

/// Of every round's values, those in `columns`; NaN where a round has too few.
fn pick(results: &Rounds, columns: &[usize]) -> Rounds {
    let cell = |round: &[f64], c: usize| round.get(c).copied().unwrap_or(f64::NAN);
    results
        .iter()
        .map(|(label, per_round)| {
            let rows =
                per_round.iter().map(|round| columns.iter().map(|&c| cell(round, c)).collect());
            (label.clone(), rows.collect())
        })
        .collect()
}

/// Runs `f` (given the round's index) for each contestant `BENCH_CONTESTANTS` selects in
/// each round, interleaved (A B C A B C …), each round on a fresh server child that
/// `spawn` starts.
pub fn run_rounds<F>(
    name: &str,
    contestants: &[Contestant],
    rounds: usize,
    spawn: &dyn Fn(&Contestant) -> io::Result<ServerProc>,
    mut f: F,
) -> Rounds
where
    F: FnMut(&mut ServerProc, usize) -> Vec<f64>,
{
    let contestants: Vec<&Contestant> =
        contestants.iter().filter(|c| selected("BENCH_CONTESTANTS", &c.label)).collect();
    let mut results: Rounds = contestants.iter().map(|c| (c.label.clone(), Vec::new())).collect();
    for round in 0..rounds {
        for (ci, c) in contestants.iter().enumerate() {
            let values = match spawn(c) {
                Ok(mut server) => {
                    let values = f(&mut server, round);
                    server.exit();
                    values
                }
                Err(e) => {
                    eprintln!("{name}: {}: could not start the server: {e}", c.label);
                    Vec::new()
                }
            };
            eprintln!(
                "  {name} round {}/{rounds} {:<22} {}",
                round + 1,
                c.label,
                values.iter().map(|v| fmt_value(*v)).collect::<Vec<_>>().join("  ")
            );
            results[ci].1.push(values);
        }
        // Let TIME_WAIT and the last children's teardown settle a moment between rounds.
        std::thread::sleep(Duration::from_millis(100));
    }
    results
}
