//! The HTTP race (`BENCH_HTTP=1`): tcp-serve's `Http` adapter against `axum::serve` and
//! hyper-util's plain accept loop, all three serving the same axum Router
//! ([`crate::servers::router`]) with their defaults, each in its own child process on one
//! current-thread runtime.
//!
//! The server child is pinned to the first CPU and the load generator to the last, so on
//! 2 cores each has one. Timed workloads (wrk and h2load with one thread each, see
//! [`generators`]), then the policy workloads (the parent as client, see [`policies`]),
//! each in interleaved rounds on fresh children; figures are medians (the recovery's:
//! means over its phases) and ratios to `axum::serve`'s.

mod generators;
mod policies;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::chart;
use crate::child::ServerProc;
use crate::contestants::{self, Contestant, AXUM_SERVE};
use crate::load::connect;
use crate::measure::{self, allowed_cpus, pin_to, Machine};
use crate::protocol::{http_get, GET, GET_PEER};
use crate::report::{self, Output};
use crate::results::{m, Summary, Workload};
use crate::servers::router::HELLO;
use crate::settings::{selected, HttpCfg};
use crate::workloads::{run_rounds, Table};

/// The command that publishes the HTTP race.
const COMMAND: &str = "BENCH_HTTP=1 cargo bench -p tcp-serve-bench";

/// Each round waits for half a second in which the machine was at least this idle...
const QUIET: f64 = 0.9;
/// ... for at most this long.
const QUIET_LIMIT: Duration = Duration::from_secs(30);

/// The timed workloads' columns, as [`generators`] returns them.
const TIMED_METRICS: &[crate::results::Metric] = &[
    m("requests_per_s", "requests/s", true, true),
    m("p50_us", "p50 µs", false, true),
    m("p99_us", "p99 µs", false, true),
    m("server_cpu_us_per_request", "server CPU µs/req", false, true),
    m("errors", "errors", false, false),
];

const KEEP_ALIVE: Table = Table {
    key: "keep-alive",
    title: "H1. HTTP/1.1 keep-alive: `wrk -t1 -c64 --latency`, GET /",
    metrics: TIMED_METRICS,
    columns: &[0, 1, 2, 3, 4],
};

const CLOSE: Table = Table {
    key: "close",
    title: "H2. HTTP/1.1, a connection per request: `wrk -t1 -c64 -H 'Connection: close'`",
    metrics: TIMED_METRICS,
    columns: &[0, 1, 2, 3, 4],
};

const H2: Table = Table {
    key: "h2",
    title: "H3. HTTP/2 (h2c, prior knowledge): `h2load -t1 -c64 -m10`",
    metrics: TIMED_METRICS,
    columns: &[0, 1, 2, 3, 4],
};

const BURST: Table = Table {
    key: "burst",
    title: "H4. Burst: clients connecting at once, one GET each (`Connection: close`)",
    metrics: &[
        m("all_answered_ms", "all answered ms", false, true),
        m("median_client_ms", "median client ms", false, true),
        m("syn_retried", "clients ≥ 0.9 s (SYN retried)", false, false),
        m("server_cpu_us_per_conn", "server CPU µs/conn", false, true),
    ],
    columns: &[0, 1, 2, 3],
};

const RECOVERY_METRICS: &[crate::results::Metric] = &[
    m("recovery_ms", "until served, mean ms", false, true).by(Summary::Mean),
    m("recovery_ms_max", "max ms", false, true).by(Summary::Max),
    m("server_cpu_ms_per_s", "server CPU ms/s exhausted", false, false),
    m("connections_held", "connections held", true, false),
];

/// Recovery after a short exhaustion, and after a long one.
const RECOVERY: [(Table, (f64, f64)); 2] = [
    (
        Table {
            key: "recovery-short",
            title: "H5. Recovery: RLIMIT_NOFILE 256, exhausted by idle connections, all freed \
                    0.15–0.55 s after the first refused accept; then a new GET",
            metrics: RECOVERY_METRICS,
            columns: &[0, 0, 1, 2],
        },
        (0.15, 0.55),
    ),
    (
        Table {
            key: "recovery-long",
            title: "H6. Recovery as H5, freed 2–3 s after the first refused accept",
            metrics: RECOVERY_METRICS,
            columns: &[0, 0, 1, 2],
        },
        (2.0, 3.0),
    ),
];

/// Runs the HTTP race, prints its tables and writes them (see [`report::save`]).
pub fn run(rt: &tokio::runtime::Runtime) {
    let started = Instant::now();
    let (cfg, publish) = HttpCfg::from_env();
    measure::raise_nofile();
    let mut machine = Machine::now();
    let cpus = allowed_cpus();
    let (server_cpu, load_cpu) = (cpus[0], *cpus.last().expect("some CPU is allowed"));
    pin_to(load_cpu);
    eprintln!(
        "HTTP race: servers on CPU {server_cpu}, load on CPU {load_cpu}; {} rounds × {} s",
        cfg.rounds, cfg.seconds
    );
    // Every round's child starts after a quiet moment (see `QUIET`).
    let waited = std::cell::Cell::new(Duration::ZERO);
    let spawn = |c: &Contestant| {
        waited.set(waited.get() + measure::wait_for_quiet(QUIET, QUIET_LIMIT));
        ServerProc::spawn_on(c, server_cpu, load_cpu)
    };
    let contestants = contestants::http_race();
    check(rt, &contestants, &spawn);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("a parent").to_owned();
    let out_dir = root.join("target").join("bench").join("http");
    std::fs::create_dir_all(&out_dir).expect("create target/bench/http");

    let mut workloads: Vec<Workload> = Vec::new();
    for table in [KEEP_ALIVE, CLOSE, H2] {
        if !selected("BENCH_ONLY", table.key) {
            continue;
        }
        let results = run_rounds(table.key, &contestants, cfg.rounds, &spawn, |server, _| {
            let out = out_dir.join(format!("{}.{}.txt", table.key, slug(&server.label)));
            match table.key {
                "h2" => generators::h2load(server, &cfg, &out),
                key => generators::wrk(server, &cfg, key == "close", &out),
            }
        });
        workloads.push(table.fill(&results, AXUM_SERVE));
    }
    if selected("BENCH_ONLY", BURST.key) {
        let results = run_rounds(BURST.key, &contestants, cfg.burst_rounds, &spawn, |s, _| {
            rt.block_on(policies::burst(s, cfg.burst))
        });
        workloads.push(BURST.fill(&results, AXUM_SERVE));
    }
    let limited: Vec<Contestant> =
        contestants.iter().map(|c| Contestant { nofile: Some(cfg.nofile), ..c.clone() }).collect();
    for (table, (from, to)) in RECOVERY {
        if !selected("BENCH_ONLY", "recovery") {
            continue;
        }
        let rounds = cfg.recovery_rounds;
        let results = run_rounds(table.key, &limited, rounds, &spawn, |s, round| {
            // Each round frees at another moment, evenly spread over the range, so that
            // the mean is over the phases of the servers' retry timers.
            let at = from + (to - from) * (round as f64 + 0.5) / rounds as f64;
            rt.block_on(policies::recovery(s, cfg.nofile, Duration::from_secs_f64(at)))
        });
        workloads.push(table.fill(&results, AXUM_SERVE));
    }

    machine.load_end = measure::loadavg();
    let elapsed = started.elapsed().as_secs_f64();
    report::print(&workloads);
    let output = Output {
        name: "http",
        block: "http",
        command: COMMAND,
        cfg: &cfg,
        settings: settings_in_words(&cfg, server_cpu, load_cpu, waited.get()),
        chart: &chart::HTTP,
    };
    report::save(&output, &workloads, &machine, elapsed, publish);
    println!("whole run: {elapsed:.0} s");
}

fn settings_in_words(
    cfg: &HttpCfg,
    server_cpu: usize,
    load_cpu: usize,
    waited: Duration,
) -> String {
    format!(
        "{} rounds × {} s per timed workload, {} connections, HTTP/2 with {} streams each; \
         servers pinned to CPU {server_cpu}, wrk, h2load and the parent's clients to CPU \
         {load_cpu}; a burst of {} × {} rounds; recovery at RLIMIT_NOFILE {}, {} rounds \
         each; each round started after half a second of the machine ≥ {:.0}% idle (waited \
         {:.0} s more in all)",
        cfg.rounds,
        cfg.seconds,
        cfg.connections,
        cfg.streams,
        cfg.burst,
        cfg.burst_rounds,
        cfg.nofile,
        cfg.recovery_rounds,
        QUIET * 100.0,
        waited.as_secs_f64()
    )
}

/// Checks that every contestant serves the router: `/` and `/peer` (which must name this
/// client). Stops the run if one does not, as its figures would mean nothing.
fn check(
    rt: &tokio::runtime::Runtime,
    contestants: &[Contestant],
    spawn: &dyn Fn(&Contestant) -> std::io::Result<ServerProc>,
) {
    for c in contestants.iter().filter(|c| selected("BENCH_CONTESTANTS", &c.label)) {
        let server = spawn(c).unwrap_or_else(|e| panic!("{}: could not start: {e}", c.label));
        let addr = server.addr;
        let checked = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), async {
                let mut stream = connect(addr).await?;
                let me = stream.local_addr()?;
                let hello = http_get(&mut stream, GET).await?;
                let peer = http_get(&mut stream, GET_PEER).await?;
                Ok::<_, std::io::Error>((hello, peer, me))
            })
            .await
        });
        server.exit();
        match checked {
            Ok(Ok(((200, hello), (200, peer), me)))
                if hello == HELLO.as_bytes() && peer == format!("{me}\n").as_bytes() => {}
            other => panic!("{} does not serve the router as expected: {other:?}", c.label),
        }
    }
}

/// A label as a file name.
fn slug(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}
