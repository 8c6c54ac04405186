//! HAProxy in front of a server under test, as a load balancer would be: a config written
//! to a temporary directory (a frontend on a free loopback port, the backend servers the
//! test gives with their `send-proxy`, `check` and other options), run in the foreground
//! (`haproxy -f CFG -db`, no root-only paths), killed when dropped.
//!
//! ```ignore
//! let Some(haproxy) = Config::new().server(backend, "send-proxy-v2").start().await else {
//!     return; // haproxy is not installed, outside CI (a recorded skip)
//! };
//! let client = haproxy.connect().await; // through HAProxy to `backend`
//! ```

use std::fmt::Display;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::example::{forward_lines, free_port, tool};
use super::within;

/// What goes in the config: the backend's servers and extra lines.
#[derive(Clone, Debug, Default)]
pub struct Config {
    defaults: Vec<String>,
    backend: Vec<String>,
    servers: Vec<String>,
}

impl Config {
    /// A TCP-mode (`mode tcp`) balancer with no backend servers yet.
    pub fn new() -> Self {
        Config::default()
    }

    /// Adds a server at `address` to the backend (round robin), with HAProxy's server
    /// options: `send-proxy`, `send-proxy-v2`, `check inter 100ms`, `source 127.0.0.2`...
    /// An address starting with `/` is a Unix socket.
    pub fn server(mut self, address: impl Display, options: &str) -> Self {
        let name = format!("s{}", self.servers.len() + 1);
        self.servers.push(format!("server {name} {address} {options}"));
        self
    }

    /// Adds a line to the backend section: a health check (`option tcp-check`,
    /// `tcp-check send ping\n`, `option httpchk GET /health`) or anything else.
    pub fn backend(mut self, line: &str) -> Self {
        self.backend.push(line.to_owned());
        self
    }

    /// Adds a line to the defaults section (`mode http`, `timeout server 1m`...), after
    /// the harness's own, so it overrides them.
    pub fn defaults(mut self, line: &str) -> Self {
        self.defaults.push(line.to_owned());
        self
    }

    /// The config text, for a frontend on `port` and a readiness probe on `probe`.
    fn text(&self, port: u16, probe: u16) -> String {
        let indent =
            |lines: &[String]| lines.iter().map(|l| format!("    {l}\n")).collect::<String>();
        format!(
            "global\n\
             \x20   log stdout format raw local0 info\n\
             \x20   hard-stop-after 5s\n\
             \x20   # No SO_REUSEPORT: a port another test took after free_port() fails\n\
             \x20   # the bind (and is tried again), never shares that test's listener.\n\
             \x20   noreuseport\n\
             defaults\n\
             \x20   mode tcp\n\
             \x20   log global\n\
             \x20   option tcplog\n\
             \x20   timeout connect 2s\n\
             \x20   timeout client 60s\n\
             \x20   timeout server 60s\n\
             \x20   timeout check 1s\n\
             {defaults}\
             # Accepts and closes at once: the harness connects here to know HAProxy is up,\n\
             # without sending a connection to the backend.\n\
             frontend probe\n\
             \x20   bind 127.0.0.1:{probe}\n\
             \x20   tcp-request connection reject\n\
             frontend fe\n\
             \x20   bind 127.0.0.1:{port}\n\
             \x20   default_backend be\n\
             backend be\n\
             \x20   balance roundrobin\n\
             {backend}{servers}",
            defaults = indent(&self.defaults),
            backend = indent(&self.backend),
            servers = indent(&self.servers),
        )
    }

    /// Starts HAProxy and waits until its frontend accepts. `None` when haproxy is not
    /// installed, outside CI (a recorded skip; under CI the test fails).
    pub async fn start(self) -> Option<Haproxy> {
        if !tool("haproxy", "haproxy") {
            return None;
        }
        // A port picked here may be taken before HAProxy binds it (`noreuseport` makes that
        // a failed start, never a shared port): try again with others.
        for _ in 0..3 {
            if let Some(haproxy) = self.try_start().await {
                return Some(haproxy);
            }
        }
        panic!("haproxy did not start with ports of its own in 3 tries (see its output above)");
    }

    async fn try_start(&self) -> Option<Haproxy> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (port, probe) = (free_port(), free_port());
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(&config, self.text(port, probe)).expect("write haproxy.cfg");
        let mut child = Command::new("haproxy")
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start haproxy");
        let (sender, output) = mpsc::unbounded_channel();
        forward_lines("haproxy".into(), child.stdout.take().expect("piped stdout"), sender.clone());
        forward_lines("haproxy".into(), child.stderr.take().expect("piped stderr"), sender);
        let up = within("haproxy to accept on its frontend", async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    eprintln!("[haproxy] exited with {status} before it was up");
                    return false;
                }
                if TcpStream::connect(("127.0.0.1", probe)).await.is_ok() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        up.then(|| Haproxy {
            child,
            frontend: SocketAddr::from(([127, 0, 0, 1], port)),
            output,
            _dir: dir,
        })
    }
}

/// A running HAProxy; killed when dropped.
pub struct Haproxy {
    child: Child,
    frontend: SocketAddr,
    output: mpsc::UnboundedReceiver<String>,
    // Holds the config until HAProxy is gone.
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// Where clients connect: the frontend.
    pub fn address(&self) -> SocketAddr {
        self.frontend
    }

    /// A client connected through HAProxy to the backend.
    pub async fn connect(&self) -> TcpStream {
        within("connect to haproxy", TcpStream::connect(self.frontend))
            .await
            .expect("connect to haproxy's frontend")
    }

    /// Waits for the next line HAProxy logs (its stdout and stderr) containing `needle`.
    pub async fn output_line(&mut self, needle: &str) -> String {
        within(&format!("haproxy to log {needle:?}"), async {
            loop {
                match self.output.recv().await {
                    Some(line) if line.contains(needle) => return line,
                    Some(_) => continue,
                    None => panic!("haproxy closed its output before logging {needle:?}"),
                }
            }
        })
        .await
    }

    /// The process, to signal or wait for.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}
