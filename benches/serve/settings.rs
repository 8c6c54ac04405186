//! The run's settings, from `BENCH_*` environment variables.

use std::time::Duration;

use crate::measure::raise_nofile;

/// How long and how big each workload is.
#[derive(Clone, Copy, serde::Serialize)]
pub struct Cfg {
    /// Seconds per timed round.
    pub seconds: f64,
    /// Rounds of each timed workload and of idle + close.
    pub rounds: usize,
    /// Idle connections held open in the idle + close workload.
    pub idle: usize,
    /// Clients in the accept storm.
    pub storm: usize,
    /// Rounds of the accept storm.
    pub storm_rounds: usize,
}

impl Cfg {
    /// One timed round.
    pub fn window(&self) -> Duration {
        Duration::from_secs_f64(self.seconds)
    }
}

/// The settings and whether this run may rewrite `BENCHMARKS.md` and the chart.
pub struct Settings {
    pub cfg: Cfg,
    /// Only a run with the default settings publishes, unless `BENCH_PUBLISH` says otherwise.
    pub publish: bool,
}

impl Settings {
    /// Reads the settings; raises this process's open-file limit and keeps `idle` under it.
    pub fn from_env() -> Self {
        let nofile = raise_nofile();
        let (seconds, o1) = env_num("BENCH_SECONDS", 2.0);
        let (rounds, o2) = env_num("BENCH_ROUNDS", 3);
        let (idle, o3) = env_num("BENCH_IDLE", 10_000usize);
        let (storm, o4) = env_num("BENCH_STORM", 1_000usize);
        let (storm_rounds, o5) = env_num("BENCH_STORM_ROUNDS", 3);
        let overridden = o1
            || o2
            || o3
            || o4
            || o5
            || ["BENCH_ONLY", "BENCH_CONTESTANTS", "BENCH_EXTRA", "BENCH_CHILD_WRAPPER"]
                .iter()
                .any(|name| std::env::var_os(name).is_some());
        let publish = env_num("BENCH_PUBLISH", u8::from(!overridden)).0 == 1;
        let mut cfg = Cfg { seconds, rounds, idle, storm, storm_rounds };
        let limit = usize::try_from(nofile).unwrap_or(usize::MAX);
        if cfg.idle + 100 > limit {
            eprintln!("open-file limit {limit}: idle connections lowered from {}", cfg.idle);
            cfg.idle = limit.saturating_sub(100);
        }
        Settings { cfg, publish }
    }
}

/// How long and how big the HTTP race (`BENCH_HTTP=1`) is.
#[derive(Clone, Copy, serde::Serialize)]
pub struct HttpCfg {
    /// Seconds per timed round (wrk and h2load take whole seconds).
    pub seconds: u64,
    /// Rounds of each timed workload.
    pub rounds: usize,
    /// Connections of wrk and h2load.
    pub connections: usize,
    /// h2load's concurrent streams per connection.
    pub streams: usize,
    /// Clients connecting at once in the burst.
    pub burst: usize,
    /// Rounds of the burst.
    pub burst_rounds: usize,
    /// Rounds of each recovery workload (each a different pause before freeing).
    pub recovery_rounds: usize,
    /// The server's open-file limit in the recovery workloads.
    pub nofile: u64,
}

impl HttpCfg {
    /// Reads `BENCH_SECONDS`, `BENCH_ROUNDS`, `BENCH_BURST`, `BENCH_BURST_ROUNDS` and
    /// `BENCH_RECOVERY_ROUNDS`; and whether the run publishes (as [`Settings`]).
    pub fn from_env() -> (Self, bool) {
        let (seconds, o1) = env_num("BENCH_SECONDS", 2);
        let (rounds, o2) = env_num("BENCH_ROUNDS", 5);
        let (burst, o3) = env_num("BENCH_BURST", 2_000);
        let (burst_rounds, o4) = env_num("BENCH_BURST_ROUNDS", 3);
        let (recovery_rounds, o5) = env_num("BENCH_RECOVERY_ROUNDS", 5);
        let overridden = o1
            || o2
            || o3
            || o4
            || o5
            || ["BENCH_ONLY", "BENCH_CONTESTANTS", "BENCH_EXTRA"]
                .iter()
                .any(|name| std::env::var_os(name).is_some());
        let publish = env_num("BENCH_PUBLISH", u8::from(!overridden)).0 == 1;
        let cfg = HttpCfg {
            seconds: seconds.max(1),
            rounds,
            connections: 64,
            streams: 10,
            burst,
            burst_rounds,
            recovery_rounds,
            nofile: 256,
        };
        (cfg, publish)
    }
}

/// The variable's value, or `default`; and whether it was set.
fn env_num<T: std::str::FromStr>(name: &str, default: T) -> (T, bool) {
    match std::env::var(name).ok().and_then(|v| v.parse().ok()) {
        Some(v) => (v, true),
        None => (default, false),
    }
}

/// Whether `key` is in the comma list `list` names; everything is when it is unset.
pub fn selected(list: &str, key: &str) -> bool {
    std::env::var(list).map_or(true, |v| v.split(',').any(|k| k.trim() == key))
}

/// `BENCH_EXTRA=1`: run the diagnostic contestants too.
pub fn extra() -> bool {
    std::env::var("BENCH_EXTRA").is_ok_and(|v| v == "1")
}
