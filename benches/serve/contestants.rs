//! Who races: tokio-raw, tcp-serve and actix-server, the variants of them that the
//! diagnostic (`BENCH_EXTRA=1`) and accept-storm runs add; who races in HTTP
//! (`BENCH_HTTP=1`: `axum::serve`, tcp-serve's adapter, hyper-util); and who is counted
//! (`BENCH_COUNT=1`: the echo servers, tcp-serve with each layer, the HTTP servers).
//!
//! A contestant crosses into its server child as a short spec string in `BENCH_CHILD`.

use crate::settings;

/// Which server a contestant runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `TcpListener::accept` + `tokio::spawn` + [`echo`](crate::servers::echo).
    TokioRaw,
    /// tcp-serve serving the plain [`echo`](crate::servers::echo) (`tcp-serve` in the
    /// main race, `tcp-serve-plain` in the count).
    TcpServe,
    /// tcp-serve serving the echo `examples/echo.rs` ships: its reads end at a drain
    /// (`ShutdownSignal::until_drain`).
    TcpServeDrainAware,
    /// [`TcpServeDrainAware`](Kind::TcpServeDrainAware) under a tracing-subscriber `fmt`
    /// subscriber at INFO writing to `io::sink`.
    TcpServeTraced,
    /// [`TcpServeDrainAware`](Kind::TcpServeDrainAware) with one layer of the production
    /// stack added (the count's layer contestants).
    TcpServeWith(Layer),
    /// actix-server, one worker, serving [`echo`](crate::servers::echo).
    Actix,
    /// The HTTP contestants, each serving [`router`](crate::servers::router): `axum::serve`.
    AxumServe,
    /// tcp-serve's `Serve::new(..).serve(Http::new(router))`, default settings.
    TcpServeHttp,
    /// [`TcpServeHttp`](Kind::TcpServeHttp) with `header_read_timeout(None)`: a diagnostic,
    /// to tell the header timeout's timers from the rest of the adapter.
    TcpServeHttpUntimed,
    /// hyper-util's auto connection builder in a plain accept loop: the floor.
    HyperUtil,
}

/// The layer a [`Kind::TcpServeWith`] contestant adds, with the settings a production
/// server might use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// `TlsLayer` (rustls, ring; a self-signed ECDSA P-256 certificate).
    Tls,
    /// `ProxyProtocolLayer::new()`: a header required from loopback; the client sends v2.
    Proxy,
    /// `IdleTimeoutLayer::new(60 s)`.
    Idle,
    /// `MinRateLayer::new(1024, 10 s)`.
    MinRate,
    /// `MaxLifetimeLayer::new(1 h)`.
    Lifetime,
    /// `ReadTimeoutLayer::new(60 s)`.
    Read,
    /// `FirstByteTimeoutLayer::new(10 s)`.
    FirstByte,
}

/// What the client speaks to a contestant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// 32 bytes, echoed.
    Echo,
    /// The echo inside TLS.
    TlsEcho,
    /// A PROXY v2 header first, then the echo.
    ProxyEcho,
    /// HTTP/1.1 `GET /` and its response.
    Http,
}

impl Layer {
    /// The layer and its settings, for the tables.
    pub fn describe(self) -> &'static str {
        match self {
            Layer::Tls => "`TlsLayer` (rustls defaults; a full handshake per connection)",
            Layer::Proxy => "`ProxyProtocolLayer::new()` (a v2 header per connection)",
            Layer::Idle => "`IdleTimeoutLayer::new(60 s)`",
            Layer::MinRate => "`MinRateLayer::new(1024, 10 s)`",
            Layer::Lifetime => "`MaxLifetimeLayer::new(1 h)`",
            Layer::Read => "`ReadTimeoutLayer::new(60 s)`",
            Layer::FirstByte => "`FirstByteTimeoutLayer::new(10 s)`",
        }
    }
}

impl Kind {
    const NAMES: [(Kind, &'static str); 16] = [
        (Kind::TokioRaw, "raw"),
        (Kind::TcpServe, "tcp-serve"),
        (Kind::TcpServeDrainAware, "tcp-serve-drain-aware"),
        (Kind::TcpServeTraced, "tcp-serve-traced"),
        (Kind::TcpServeWith(Layer::Tls), "tcp-serve-tls"),
        (Kind::TcpServeWith(Layer::Proxy), "tcp-serve-proxy"),
        (Kind::TcpServeWith(Layer::Idle), "tcp-serve-idle"),
        (Kind::TcpServeWith(Layer::MinRate), "tcp-serve-min-rate"),
        (Kind::TcpServeWith(Layer::Lifetime), "tcp-serve-lifetime"),
        (Kind::TcpServeWith(Layer::Read), "tcp-serve-read"),
        (Kind::TcpServeWith(Layer::FirstByte), "tcp-serve-first-byte"),
        (Kind::Actix, "actix"),
        (Kind::AxumServe, "axum-serve"),
        (Kind::TcpServeHttp, "tcp-serve-http"),
        (Kind::TcpServeHttpUntimed, "tcp-serve-http-untimed"),
        (Kind::HyperUtil, "hyper-util"),
    ];

    /// What a client of this server speaks.
    pub fn protocol(self) -> Protocol {
        match self {
            Kind::TcpServeWith(Layer::Tls) => Protocol::TlsEcho,
            Kind::TcpServeWith(Layer::Proxy) => Protocol::ProxyEcho,
            Kind::AxumServe | Kind::TcpServeHttp | Kind::TcpServeHttpUntimed | Kind::HyperUtil => {
                Protocol::Http
            }
            _ => Protocol::Echo,
        }
    }
}

/// The main race's echo buffer, as in the published tables.
pub const MAIN_BUF: usize = 8 * 1024;
/// The count's echo buffer: `examples/common`'s echo uses 16 KiB, so every contestant does.
pub const COUNT_BUF: usize = 16 * 1024;

/// One server configuration in the race; its label names it in every table.
#[derive(Clone, Debug)]
pub struct Contestant {
    pub label: String,
    pub kind: Kind,
    /// The echo's read buffer in bytes.
    pub buf: usize,
    /// tcp-serve's `max_accepts_per_batch`; `None` keeps tcp-serve's default (1).
    pub batch: Option<usize>,
    /// The listen backlog; `None` keeps the server's own (tcp-serve 64, tokio's `bind` 128;
    /// actix always gets 2048, its default).
    pub backlog: Option<usize>,
    /// `TCP_NODELAY` on accepted sockets; `None` keeps the server's own default (on for
    /// tcp-serve, off for tokio-raw and actix-server).
    pub nodelay: Option<bool>,
    /// The child's soft open-file limit; `None` raises it to the hard limit. The HTTP
    /// race's recovery workload lowers it to exhaust the server's descriptors.
    pub nofile: Option<u64>,
}

impl Contestant {
    /// A contestant with its server's defaults and the main race's buffer.
    pub fn new(label: &str, kind: Kind) -> Self {
        Contestant {
            label: label.to_string(),
            kind,
            buf: MAIN_BUF,
            batch: None,
            backlog: None,
            nodelay: None,
            nofile: None,
        }
    }

    /// `kind:buf:batch:backlog:nodelay:nofile`, for the child; 0 and `-` stand for "the
    /// default".
    pub fn spec(&self) -> String {
        let kind = Kind::NAMES.iter().find(|(k, _)| *k == self.kind).map_or("?", |(_, n)| n);
        let nodelay = match self.nodelay {
            None => "-",
            Some(true) => "1",
            Some(false) => "0",
        };
        let (batch, backlog) = (self.batch.unwrap_or(0), self.backlog.unwrap_or(0));
        let nofile = self.nofile.unwrap_or(0);
        format!("{kind}:{}:{batch}:{backlog}:{nodelay}:{nofile}", self.buf)
    }

    /// Reads a [`spec`](Self::spec); the label becomes the spec itself.
    pub fn from_spec(spec: &str) -> Self {
        let mut parts = spec.split(':');
        let name = parts.next();
        let kind = Kind::NAMES
            .iter()
            .find(|(_, n)| Some(*n) == name)
            .map_or_else(|| panic!("unknown contestant {name:?}"), |(k, _)| *k);
        let mut number = || parts.next().and_then(|s| s.parse().ok()).filter(|&n: &usize| n > 0);
        let (buf, batch, backlog) = (number().unwrap_or(MAIN_BUF), number(), number());
        let nodelay = match parts.next() {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        };
        let nofile = parts.next().and_then(|s| s.parse().ok()).filter(|&n: &u64| n > 0);
        Contestant { label: spec.to_string(), kind, buf, batch, backlog, nodelay, nofile }
    }
}

/// The contestants of workloads 1–5.
///
/// With `BENCH_EXTRA=1` three diagnostic ones join, each differing from a main one in one
/// setting, to separate that setting's cost from the layers': tokio-raw with `TCP_NODELAY`
/// (as tcp-serve sets it by default), tcp-serve with `max_accepts_per_batch(64)`, and
/// tcp-serve with `tcp_nodelay(false)` (as tokio-raw and actix leave it).
pub fn main_race() -> Vec<Contestant> {
    let mut all = vec![
        Contestant::new("tokio-raw", Kind::TokioRaw),
        Contestant::new("tcp-serve", Kind::TcpServe),
        Contestant::new("actix-server", Kind::Actix),
    ];
    if settings::extra() {
        all.push(Contestant {
            nodelay: Some(true),
            ..Contestant::new("tokio-raw+nodelay", Kind::TokioRaw)
        });
        all.push(Contestant {
            batch: Some(64),
            ..Contestant::new("tcp-serve batch=64", Kind::TcpServe)
        });
        all.push(Contestant {
            nodelay: Some(false),
            ..Contestant::new("tcp-serve nodelay-off", Kind::TcpServe)
        });
    }
    all
}

/// The contestants of the accept storm: tcp-serve's batch sizes 1, 8 and 64, each with a
/// backlog of 1,024 and with its default (Async's 64 until the default became 4,096),
/// between tokio-raw and actix at theirs.
pub fn storm_race() -> Vec<Contestant> {
    let mut storm =
        vec![Contestant { backlog: Some(1024), ..Contestant::new("tokio-raw", Kind::TokioRaw) }];
    for backlog in [Some(1024), None] {
        for batch in [1, 8, 64] {
            let b = backlog.map_or("default".to_string(), |b| b.to_string());
            storm.push(Contestant {
                batch: Some(batch),
                backlog,
                ..Contestant::new(&format!("tcp-serve batch={batch} backlog={b}"), Kind::TcpServe)
            });
        }
    }
    storm.push(Contestant::new("tokio-raw backlog=128 (TcpListener::bind)", Kind::TokioRaw));
    storm.push(Contestant::new("actix-server backlog=2048", Kind::Actix));
    storm
}

/// The contestants of the count (`BENCH_COUNT=1`), each echo with the 16 KiB buffer of
/// `examples/common`: tcp-serve as its echo example ships, tcp-serve with the plain echo
/// (no drain watch), and tcp-serve traced, between tokio-raw and actix; then tcp-serve
/// with each layer of the production stack, one at a time; then the HTTP contestants of
/// the HTTP race, serving the same axum Router, and tcp-serve's without its header read
/// timeout (the diagnostic that tells the timeout's cost from the adapter's).
pub fn count_race() -> Vec<Contestant> {
    let counted = |label, kind| Contestant { buf: COUNT_BUF, ..Contestant::new(label, kind) };
    let mut all = vec![
        counted("tokio-raw", Kind::TokioRaw),
        counted("tcp-serve", Kind::TcpServeDrainAware),
        counted("tcp-serve-plain", Kind::TcpServe),
        counted("actix-server", Kind::Actix),
        counted("tcp-serve-tracing", Kind::TcpServeTraced),
    ];
    for (layer, label) in [
        (Layer::Tls, "tcp-serve-tls"),
        (Layer::Proxy, "tcp-serve-proxy"),
        (Layer::Idle, "tcp-serve-idle"),
        (Layer::MinRate, "tcp-serve-min-rate"),
        (Layer::Lifetime, "tcp-serve-lifetime"),
        (Layer::Read, "tcp-serve-read"),
        (Layer::FirstByte, "tcp-serve-first-byte"),
    ] {
        all.push(counted(label, Kind::TcpServeWith(layer)));
    }
    all.extend(http_race().into_iter().map(|c| match c.kind {
        Kind::TcpServeHttp => Contestant { label: "tcp-serve-http".into(), ..c },
        _ => c,
    }));
    all.push(Contestant::new("tcp-serve-http-untimed", Kind::TcpServeHttpUntimed));
    all
}

/// The HTTP race's contestants (`BENCH_HTTP=1`), each serving the same axum Router with
/// its defaults: `axum::serve` (the reference), tcp-serve's `Http` adapter, and
/// hyper-util's connection builder in a plain accept loop (the floor).
///
/// With `BENCH_EXTRA=1` a diagnostic joins: tcp-serve with `header_read_timeout(None)`.
pub fn http_race() -> Vec<Contestant> {
    let mut all = vec![
        Contestant::new(AXUM_SERVE, Kind::AxumServe),
        Contestant::new("tcp-serve", Kind::TcpServeHttp),
        Contestant::new("hyper-util", Kind::HyperUtil),
    ];
    if settings::extra() {
        let untimed = "tcp-serve header_read_timeout(None)";
        all.push(Contestant::new(untimed, Kind::TcpServeHttpUntimed));
    }
    all
}

/// The HTTP race's reference, whose medians the others are divided by.
pub const AXUM_SERVE: &str = "axum::serve";
/// The main race's reference.
pub const TOKIO_RAW: &str = "tokio-raw";
