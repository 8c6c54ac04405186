//! Restarting with no refused connection: a running server hands its listening socket to a
//! new process of the program, which starts accepting on it before the old one stops.
//!
//! The socket itself moves, not its address: the two processes hold the same listening
//! socket for a moment, with one backlog, so a client connecting at any time during the
//! restart is queued and accepted by one of them; none is refused or reset.
//!
//! ```text
//! old process                                  new process (the same program, started by the old)
//! Server::hand_over(command)
//!   listens on a one-time abstract socket
//!   starts `command` with TCP_SERVE_HANDOVER ──► handover::receive()
//!   checks the caller's pid is the child's  ◄──   connects
//!   sends the listener (SCM_RIGHTS)         ──►   gets it: Serve::from_listener(..).serve(..)
//!   waits                                   ◄──   confirm(): accepting
//! then: drain (stop accepting, finish, exit 0)    carries on as the server
//! ```
//!
//! Why passing the descriptor over a Unix socket rather than re-executing with it inherited:
//! nothing in either process needs `unsafe` (an inherited descriptor number must be turned
//! into an owned one, which Rust only allows unsafely), the new process can be another
//! binary (the one just deployed) started however the old one is told, and the old one keeps
//! serving whatever goes wrong: the new process fails to start, dies midway, or never says
//! it accepts. The rendezvous is an abstract socket (no file to clean up), and the old
//! process hands the socket only to the process it started (checked with `SO_PEERCRED`).

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr as StdUnixAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Interest};
use tokio::net::{UnixListener, UnixStream};

use crate::error::Error;
use crate::family::Family;
use crate::listener::Listener;
use crate::server::Server;

/// The environment variable that tells a new process where to take its socket from.
pub const HANDOVER_ENV: &str = "TCP_SERVE_HANDOVER";
/// What the old process sends with the socket: a version, and the socket's family.
const GREETING: &str = "tcp-serve hand-over 1";
/// What the new process answers once it accepts on the socket.
const ACCEPTING: &str = "accepting";
/// How long the old process waits for the new one to connect and then to accept. A new
/// process that takes longer to start is given up on (and killed); the old one serves on.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(30);

impl<F: Family> Server<F> {
    /// Starts `successor` (this program again, usually, or a new version of it) and hands
    /// it the listening socket. Resolves with the new process's id once it accepts on the
    /// socket and this server has stopped accepting: then [`drain`](Self::drain) this server
    /// (its connections finish), and exit. Until then this server goes on accepting; if
    /// anything fails (the new process cannot start, dies, or does not confirm within 30 s)
    /// it is killed and this server keeps serving. Once the hand-over has succeeded,
    /// [`pause`](Self::pause) and [`resume`](Self::resume) answer [`Error::HandedOver`].
    ///
    /// The successor takes the socket with [`receive`], which finds where to connect in the
    /// environment variable [`HANDOVER_ENV`] set on `successor` here.
    ///
    /// ```no_run
    /// # #[allow(dead_code)]
    /// # async fn restart(server: tcp_serve::InetServer) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut successor = tokio::process::Command::new(std::env::current_exe()?);
    /// successor.args(std::env::args_os().skip(1));
    /// let pid = server.hand_over(successor).await?;
    /// println!("handed over to {pid}; draining");
    /// server.drain(std::time::Duration::from_secs(30)).await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn hand_over(&self, successor: tokio::process::Command) -> HandOver {
        let server = self.clone();
        HandOver::new(async move {
            let result = hand_over(&server, successor).await;
            match &result {
                Ok(pid) => tracing::info!(pid, "handed the listening socket over"),
                Err(error) => tracing::warn!(
                    error = error as &dyn std::error::Error,
                    "hand-over failed; still serving"
                ),
            }
            result
        })
    }
}

wait_future! {
    /// The future of [`Server::hand_over`]: the new process's id, or why the hand-over failed.
    HandOver, Result<u32, Error>
}

/// A [`Error::HandOver`] for `what` went wrong.
fn failed(what: &'static str, source: Option<io::Error>) -> Error {
    Error::HandOver { what, source }
}

async fn hand_over<F: Family>(
    server: &Server<F>,
    mut successor: tokio::process::Command,
) -> Result<u32, Error> {
    let name = rendezvous_name();
    let addr = StdUnixAddr::from_abstract_name(name.as_bytes())
        .map_err(|e| failed("name the hand-over socket", Some(e)))?;
    let rendezvous = std::os::unix::net::UnixListener::bind_addr(&addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(UnixListener::from_std)
        .map_err(|e| failed("listen for the new process", Some(e)))?;
    let mut child = successor
        .env(HANDOVER_ENV, format!("@{name}"))
        .spawn()
        .map_err(|e| failed("start the new process", Some(e)))?;
    let pid = child.id().ok_or_else(|| failed("start the new process", None))?;
    let handed = tokio::select! {
        handed = send_and_confirm(server, &rendezvous, pid) => handed,
        exited = child.wait() => Err(failed("keep the new process alive: it exited", exited.err())),
        () = server.timer().sleep(HANDOVER_TIMEOUT) => {
            Err(failed("hear from the new process within 30 s", None))
        }
    };
    if handed.is_err() {
        // Whatever state it is in, it is not serving: it must not linger half-started.
        let _ = child.start_kill();
        let _ = child.wait().await;
        return handed.map(|()| pid);
    }
    // Accept no more here: a connection taken from the shared backlog now would be dropped
    // by the drain that follows, where the new process would have served it.
    server.retire().await;
    Ok(pid)
}

/// Accepts the new process's connection, hands it the socket, and waits for it to accept.
async fn send_and_confirm<F: Family>(
    server: &Server<F>,
    rendezvous: &UnixListener,
    pid: u32,
) -> Result<(), Error> {
    let stream = loop {
        let (stream, _) =
            rendezvous.accept().await.map_err(|e| failed("accept the new process", Some(e)))?;
        let caller = rustix::net::sockopt::socket_peercred(&stream)
            .map_err(|e| failed("check who connected", Some(e.into())))?;
        if u32::try_from(caller.pid.as_raw_nonzero().get()) == Ok(pid) {
            break stream;
        }
        let caller = caller.pid.as_raw_nonzero().get();
        tracing::warn!(caller, "a process other than the new one asked for the socket; ignored");
    };
    let listener = server
        .listening_socket()
        .ok_or_else(|| failed("find the listening socket: the server is closed", None))?;
    let greeting = format!("{GREETING} {}\n", F::DESCRIPTION);
    stream
        .async_io(Interest::WRITABLE, || {
            let fds = [listener.as_fd()];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            control.push(SendAncillaryMessage::ScmRights(&fds));
            let sent = rustix::net::sendmsg(
                &stream,
                &[IoSlice::new(greeting.as_bytes())],
                &mut control,
                SendFlags::empty(),
            )?;
            if sent == greeting.len() {
                Ok(())
            } else {
                Err(io::Error::new(io::ErrorKind::WriteZero, "the greeting was cut short"))
            }
        })
        .await
        .map_err(|e| failed("send the listening socket", Some(e)))?;
    drop(listener);
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .await
        .map_err(|e| failed("hear that the new process accepts", Some(e)))?;
    if answer.trim_end() == ACCEPTING {
        Ok(())
    } else {
        Err(failed("hear that the new process accepts: it hung up", None))
    }
}

/// A name no other hand-over uses: this process's id and a count.
fn rendezvous_name() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("tcp-serve-handover-{}-{n}", std::process::id())
}

/// The listening socket handed over by the process this one replaces, if this process was
/// started by [`Server::hand_over`]; `None` otherwise.
///
/// [`HANDOVER_ENV`] stays set (changing the environment while the runtime's threads run is
/// unsound): the one-time socket it names is gone once the hand-over is over, and
/// [`Server::hand_over`] sets it afresh on the process it starts.
///
/// Serve the listener with [`Serve::from_listener`](crate::Serve::from_listener), then call
/// [`Confirm::accepting`]: the old process stops accepting only then.
///
/// # Errors
///
/// The old process could not be reached, sent no socket, or one of another family.
pub async fn receive<F: Family>() -> Result<Option<(Listener<F>, Confirm)>, Error> {
    let Some(name) = std::env::var_os(HANDOVER_ENV) else { return Ok(None) };
    let name = name.to_string_lossy().into_owned();
    let abstract_name = name.strip_prefix('@').unwrap_or(&name);
    let addr = StdUnixAddr::from_abstract_name(abstract_name.as_bytes())
        .map_err(|e| failed("name the hand-over socket", Some(e)))?;
    let stream = std::os::unix::net::UnixStream::connect_addr(&addr)
        .and_then(|s| s.set_nonblocking(true).map(|()| s))
        .and_then(UnixStream::from_std)
        .map_err(|e| failed("reach the old process", Some(e)))?;
    let (greeting, fd) = stream
        .async_io(Interest::READABLE, || {
            let mut buf = [0; 256];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let received = rustix::net::recvmsg(
                &stream,
                &mut [IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            )?;
            let fd = control.drain().find_map(|message| match message {
                RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
                _ => None,
            });
            Ok((String::from_utf8_lossy(&buf[..received.bytes]).into_owned(), fd))
        })
        .await
        .map_err(|e| failed("take the listening socket from the old process", Some(e)))?;
    let expected = format!("{GREETING} {}", F::DESCRIPTION);
    if greeting.trim_end() != expected {
        return Err(failed("take the listening socket: the old process sent another kind", None));
    }
    let fd = fd.ok_or_else(|| failed("take the listening socket: none came", None))?;
    Ok(Some((Listener::from_fd(fd)?, Confirm { stream })))
}

/// Tells the old process this one accepts on the socket it handed over; see [`receive`].
#[derive(Debug)]
pub struct Confirm {
    stream: UnixStream,
}

impl Confirm {
    /// Says so, once the server serves the socket: the old process then stops accepting.
    ///
    /// # Errors
    ///
    /// The old process is gone (it gave up waiting); the socket is still this process's.
    pub async fn accepting(mut self) -> io::Result<()> {
        self.stream.write_all(format!("{ACCEPTING}\n").as_bytes()).await?;
        self.stream.shutdown().await
    }
}
