//! The server child and the parent's handle on it.
//!
//! The parent re-executes this binary with `BENCH_CHILD=<spec>` (under
//! `BENCH_CHILD_WRAPPER` if set). The child prints `addr <address>`, then answers one line
//! per command on stdin: `rss`, `cpu` (ns of CPU over all its threads) and `close` (ns the
//! close took); anything else, or EOF, ends it.

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::contestants::{Contestant, Protocol};
use crate::measure::{cpu_ns, lower_nofile, pin_to, raise_nofile, rss_bytes};
use crate::{certs, servers};

/// The child: serve, and answer the parent's commands on stdin, one line each.
pub fn serve(spec: &str) -> ! {
    raise_nofile();
    let contestant = Contestant::from_spec(spec);
    if let Some(limit) = contestant.nofile {
        lower_nofile(limit);
    }
    let (addr, mut control) = servers::start(&contestant);
    let mut out = io::stdout().lock();
    writeln!(out, "addr {addr}").and_then(|()| out.flush()).expect("stdout");
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let reply = match line.trim() {
            "rss" => format!("rss {}", rss_bytes()),
            "cpu" => format!("cpu {}", cpu_ns()),
            "close" => format!("closed {}", control.close().as_nanos()),
            _ => break,
        };
        writeln!(out, "{reply}").and_then(|()| out.flush()).expect("stdout");
    }
    std::process::exit(0);
}

/// The parent's view of a server child.
pub struct ServerProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Where the child's server listens.
    pub addr: SocketAddr,
    /// The contestant it serves as.
    pub label: String,
}

impl ServerProc {
    /// Starts a child serving as `c` (under `BENCH_CHILD_WRAPPER` if set), and waits for
    /// its address.
    pub fn spawn(c: &Contestant) -> io::Result<Self> {
        let wrapper = std::env::var("BENCH_CHILD_WRAPPER").unwrap_or_default();
        let words: Vec<String> = wrapper.split_whitespace().map(String::from).collect();
        Self::spawn_under(c, &words)
    }

    /// Starts a child serving as `c` on CPU `cpu` only (this thread is pinned there while
    /// the child starts, then to `then`), and waits for its address.
    pub fn spawn_on(c: &Contestant, cpu: usize, then: usize) -> io::Result<Self> {
        pin_to(cpu);
        let spawned = Self::spawn(c);
        pin_to(then);
        spawned
    }

    /// Starts a child serving as `c` under the command `wrapper` (none if empty), and waits
    /// for its address.
    pub fn spawn_under(c: &Contestant, wrapper: &[String]) -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut words = wrapper.iter();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(&exe);
                command
            }
            None => Command::new(&exe),
        };
        if c.kind.protocol() == Protocol::TlsEcho {
            command.envs(certs::env());
        }
        let mut child = command
            .env("BENCH_CHILD", c.spec())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let addr = ([127, 0, 0, 1], 0).into();
        let mut proc = ServerProc { child, stdin, stdout, addr, label: c.label.clone() };
        let line = proc.recv()?;
        proc.addr = line
            .strip_prefix("addr ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("child said {line:?}")))?;
        Ok(proc)
    }

    /// Sends one command without waiting for the answer.
    pub fn send(&mut self, command: &str) -> io::Result<()> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()
    }

    /// The child's next line.
    pub fn recv(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(io::Error::other("the server child exited"));
        }
        Ok(line.trim().to_string())
    }

    /// Sends `command` and reads the number in its answer (`<command> <number>`).
    pub fn ask(&mut self, command: &str) -> io::Result<f64> {
        self.send(command)?;
        let line = self.recv()?;
        line.strip_prefix(command)
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("child said {line:?} to {command}")))
    }

    /// The child's CPU time so far in ns; NaN if it cannot say.
    pub fn cpu(&mut self) -> f64 {
        self.ask("cpu").unwrap_or(f64::NAN)
    }

    /// The child's resident set in bytes; NaN if it cannot say.
    pub fn rss(&mut self) -> f64 {
        self.ask("rss").unwrap_or(f64::NAN)
    }

    /// Asks the child to exit; kills it if it has not after 30 s (callgrind is slow).
    pub fn exit(self) {
        let _ = self.finish(Duration::from_secs(30));
    }

    /// Asks the child to exit (a line it does not know, then EOF) and waits up to `limit`
    /// for it to exit by itself, as a wrapper needs to write its report; kills it after.
    pub fn finish(mut self, limit: Duration) -> io::Result<()> {
        let _ = self.send("exit");
        drop(self.stdin);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.child.try_wait()? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => return Err(io::Error::other(format!("the child {status}"))),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(io::Error::other(format!("the child did not exit within {limit:?}; killed")))
    }
}
