//! The command line the examples share, so that each example's file holds only what it
//! shows: where to listen, the server's limits, and the drain deadline; and the plumbing
//! around it: logging, reporting an error, a self-signed certificate.

// Each example uses the parts it needs.
#![allow(dead_code)]

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tcp_serve::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tcp_serve::{Family, Serve};

/// Where and how an example listens.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The TCP address to listen on [default: the example's own]
    #[arg(long, conflicts_with = "unix")]
    pub listen: Option<SocketAddr>,
    /// A Unix socket path to listen on instead of TCP
    #[arg(long)]
    pub unix: Option<PathBuf>,
    /// The most clients served at once
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// The backlog passed to listen(2)
    #[arg(long)]
    pub backlog: Option<usize>,
    /// The most connections accepted per wake-up
    #[arg(long)]
    pub max_accepts_per_batch: Option<usize>,
    /// How long a drain on SIGINT or SIGTERM waits for connections, in milliseconds
    #[arg(long, env = "DRAIN_DEADLINE_MS", default_value_t = 10_000)]
    pub drain_deadline_ms: u64,
}

/// Where to listen, as the command line said.
pub enum Listen {
    /// TCP on this address.
    Inet(SocketAddr),
    /// A Unix socket at this path.
    Unix(PathBuf),
}

impl ServerArgs {
    /// `--unix PATH`, else `--listen ADDR`, else `default`.
    pub fn listen(&self, default: SocketAddr) -> Listen {
        match (&self.unix, self.listen) {
            (Some(path), _) => Listen::Unix(path.clone()),
            (None, addr) => Listen::Inet(addr.unwrap_or(default)),
        }
    }

    /// Applies the limits given on the command line.
    pub fn configure<F: Family, L>(&self, mut serve: Serve<F, L>) -> Serve<F, L> {
        if let Some(n) = self.max_connections {
            serve = serve.max_connections(n);
        }
        if let Some(n) = self.backlog {
            serve = serve.backlog(n);
        }
        if let Some(n) = self.max_accepts_per_batch {
            serve = serve.max_accepts_per_batch(n);
        }
        serve
    }

    /// How long a drain waits for connections to finish.
    pub fn drain_deadline(&self) -> Duration {
        Duration::from_millis(self.drain_deadline_ms)
    }
}

/// Putting an example behind a load balancer that sends a PROXY protocol header
/// (HAProxy's `send-proxy` or `send-proxy-v2`).
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// Read a PROXY protocol header (v1 or v2) from each trusted client, and serve it as
    /// the client the header names; `optional` also serves clients that send none
    #[arg(long, value_enum)]
    pub proxy_protocol: Option<ProxyHeader>,
    /// A source trusted to send the header (an address or CIDR; repeat for more)
    /// [default: loopback]
    #[arg(long, requires = "proxy_protocol")]
    pub proxy_trusted: Vec<tcp_serve::proxy::Cidr>,
}

/// Whether a trusted client must send a PROXY header.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ProxyHeader {
    /// Every trusted client must send one
    Required,
    /// A trusted client may send one
    Optional,
}

impl ProxyArgs {
    /// The PROXY layer the command line asks for, if any.
    pub fn layer(&self) -> Option<tcp_serve::proxy::ProxyProtocolLayer> {
        use tcp_serve::proxy::{Header, ProxyProtocolLayer};
        let header = match self.proxy_protocol? {
            ProxyHeader::Required => Header::Required,
            ProxyHeader::Optional => Header::Optional,
        };
        let layer = ProxyProtocolLayer::new().header(header);
        if self.proxy_trusted.is_empty() {
            Some(layer)
        } else {
            Some(layer.trusted(self.proxy_trusted.iter().copied()))
        }
    }
}

/// Logs the library's events (a `connection{id, peer}` span per connection, closing and
/// draining) to stderr, at the level `RUST_LOG` gives, else at `default_filter` (an
/// `EnvFilter` directive such as `info`).
pub fn log_to_stderr(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// `error` and each of its causes, joined by `: `.
pub fn report(error: &dyn Error) -> String {
    let mut report = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        report.push_str(": ");
        report.push_str(&cause.to_string());
        source = cause.source();
    }
    report
}

/// The example's exit code: 0, or 1 after printing the error and each of its causes.
pub fn exit_code(name: &str, result: Result<(), Box<dyn Error>>) -> std::process::ExitCode {
    let Err(error) = result else { return std::process::ExitCode::SUCCESS };
    eprintln!("{name}: {}", report(&*error));
    std::process::ExitCode::FAILURE
}

/// A fresh self-signed certificate for `localhost` and `127.0.0.1`, and its key, for the
/// TLS examples; written as PEM to `write_cert` too, if given, for a client's CA file.
pub fn self_signed_certificate(
    write_cert: Option<&Path>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Box<dyn Error>> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    if let Some(path) = write_cert {
        std::fs::write(path, generated.cert.pem())
            .map_err(|e| format!("--write-cert {}: {e}", path.display()))?;
    }
    let key = PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der());
    Ok((vec![generated.cert.der().clone()], key.into()))
}
