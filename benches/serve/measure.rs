//! What the benchmark reads from the system: a process's RSS and CPU time, the open-file
//! limit, the machine; and the order statistics it summarises samples with.

/// This process's resident set (`VmRSS`), in bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time of every thread of this process, in ns (the scheduler's own accounting,
/// `CLOCK_PROCESS_CPUTIME_ID`): a syscall that needs no descriptor, so it answers even
/// when the recovery workload has exhausted them.
pub fn cpu_ns() -> u64 {
    use rustix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::ProcessCPUTime);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// Raises the soft open-file limit to the hard one; returns the soft limit now in force.
pub fn raise_nofile() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let _ = setrlimit(Resource::Nofile, Rlimit { current: limit.maximum, ..limit });
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Lowers the soft open-file limit to `limit` (the hard one stays).
pub fn lower_nofile(limit: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let current = getrlimit(Resource::Nofile);
    setrlimit(Resource::Nofile, Rlimit { current: Some(limit), ..current })
        .expect("lower the open-file limit");
}

/// The CPUs this thread may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    use rustix::thread::{sched_getaffinity, CpuSet};
    let allowed = sched_getaffinity(None).expect("sched_getaffinity");
    (0..CpuSet::MAX_CPU).filter(|&c| allowed.is_set(c)).collect()
}

/// Pins this thread to `cpu`; the processes it starts from now on inherit the pin.
pub fn pin_to(cpu: usize) {
    use rustix::thread::{sched_setaffinity, CpuSet};
    let mut one = CpuSet::new();
    one.set(cpu);
    sched_setaffinity(None, &one).expect("sched_setaffinity");
}

/// Waits until the whole machine has been at least `idle` idle (a fraction) over half a
/// second, for at most `limit`; returns how long it waited beyond that half second. Other
/// sessions share this machine in bursts; a round that starts in a quiet moment is seldom
/// disturbed.
pub fn wait_for_quiet(idle: f64, limit: std::time::Duration) -> std::time::Duration {
    const WINDOW: std::time::Duration = std::time::Duration::from_millis(500);
    let start = std::time::Instant::now();
    let mut before = cpu_times();
    loop {
        std::thread::sleep(WINDOW);
        let now = cpu_times();
        let (busy, total) = (now.0 - before.0, now.1 - before.1);
        if total == 0 || 1.0 - busy as f64 / total as f64 >= idle || start.elapsed() >= limit {
            return start.elapsed().saturating_sub(WINDOW);
        }
        before = now;
    }
}

/// All CPUs' busy and total time so far, in ticks (the first line of `/proc/stat`: user,
/// nice, system, idle, iowait, irq, softirq, steal).
fn cpu_times() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The `p` quantile (nearest rank) of sorted samples; NaN for none.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64
}

/// The median of the values that are not NaN; NaN for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The machine the run is on, for the report.
#[derive(serde::Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
    #[serde(rename = "loadavg_start")]
    pub load_start: String,
    /// Filled in at the end of the run.
    #[serde(rename = "loadavg_end")]
    pub load_end: String,
}

impl Machine {
    /// The machine now, with the load average at the start.
    pub fn now() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']))
            })
            .unwrap_or("unknown")
            .to_string();
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            load_start: loadavg(),
            load_end: String::new(),
        }
    }
}

/// The 1-, 5- and 15-minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
