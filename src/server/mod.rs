//! The handle of a running server: close it, drain it, look inside it.

pub(crate) mod core;
mod signals;
#[cfg(test)]
mod tests;
mod wait;

use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use self::core::{Core, Followed, Listening, Wish, CLOSED};
pub use self::signals::DrainOnSignals;
pub use self::wait::{CloseFinished, Drain, HandlersFinished, PauseChanged, Stopped, Terminated};
use crate::error::{Endpoint, Error, ServerError};
use crate::family::Family;
use crate::layer::graceful::ShutdownSignal;
use crate::listener::ListeningSocket;
use crate::shutdown::{Drained, ExistingConnections, Readiness};
use crate::timer::Timer;

/// A running server: a cheap, cloneable handle, as Async's `Tcp.Server.t`.
///
/// Dropping every handle does not stop the server; [`close`](Self::close) does. Awaiting a
/// handle waits until the server has stopped accepting and closed its listening socket, and
/// yields the error if it stopped itself (a handler's failure under
/// [`OnHandlerError::Raise`](crate::OnHandlerError::Raise), or a panic in the accept loop).
pub struct Server<F: Family> {
    core: Arc<Core<F>>,
}

/// A server listening on TCP.
pub type InetServer = Server<crate::Inet>;
/// A server listening on a Unix-domain socket.
pub type UnixServer = Server<crate::Unix>;

impl<F: Family> Server<F> {
    pub(crate) fn new(core: Arc<Core<F>>) -> Self {
        Server { core }
    }

    /// The port (TCP) or path (Unix) the server listens on.
    pub fn listening_on(&self) -> F::ListeningOn {
        self.core.place().listening_on.clone()
    }

    /// The address the listening socket is bound to.
    pub fn listening_on_address(&self) -> F::Addr {
        self.core.place().addr.clone()
    }

    /// Where the server listens, printable: the bound address (TCP) or the path (Unix).
    pub fn endpoint(&self) -> &Endpoint {
        &self.core.place().endpoint
    }

    /// A view of the listening socket, or `None` once the socket is closed.
    pub fn listening_socket(&self) -> Option<ListeningSocket<F>> {
        self.core.listening_socket()
    }

    /// How many connections are being served now.
    pub fn num_connections(&self) -> usize {
        self.core.graceful().count()
    }

    /// The server's counters, read together.
    pub fn metrics(&self) -> Metrics {
        let accepted = self.core.accepted();
        let dropped = self.core.drop_incoming().dropped();
        let open = self.num_connections();
        Metrics {
            accepted,
            dropped,
            failed: self.core.failures(),
            rejected: self.core.rejected(),
            open,
            closed: accepted.saturating_sub(dropped).saturating_sub(open as u64),
        }
    }

    /// The most connections served at once.
    pub fn max_connections(&self) -> usize {
        self.core.limits().max_connections
    }

    /// The most connections accepted per wake-up of the acceptor.
    pub fn max_accepts_per_batch(&self) -> usize {
        self.core.limits().max_accepts_per_batch
    }

    /// The backlog passed to `listen(2)`, when the server made the socket listen itself.
    pub fn backlog(&self) -> Option<usize> {
        self.core.limits().backlog
    }

    /// While `true`, each new connection is accepted and closed at once, without calling
    /// the handler: a way to pause the server that clients see as EOF rather than as a
    /// silent connection in the backlog. `false` (the default) serves again.
    pub fn set_drop_incoming_connections(&self, drop: bool) {
        self.core.drop_incoming().set(drop);
    }

    /// Whether new connections are being dropped.
    pub fn drop_incoming_connections(&self) -> bool {
        self.core.drop_incoming().is_on()
    }

    /// Stops listening, keeping the socket: new clients are refused at once (`ECONNREFUSED`)
    /// rather than left in the backlog or accepted and dropped, so a load balancer or a
    /// client library moves on at once. This is the "more principled" pause the seed hopes
    /// for under `set_drop_incoming_connections`. Live connections carry on.
    ///
    /// Connections already queued in the backlog when the pause takes effect are closed
    /// without being served: over TCP the kernel resets them; over a Unix socket they are
    /// accepted and closed, and their clients read EOF. The socket keeps its address all
    /// along (see [`resume`](Self::resume)).
    ///
    /// The pause is made by the accept loop, at once; the returned future says when it is
    /// done. Pausing a paused server does nothing, nor does pausing a closed one.
    ///
    /// # Errors
    ///
    /// Through the future: the socket could not stop listening; or it could not listen again
    /// afterwards, so it was left listening (a Unix socket pauses only if it has a path, one
    /// short enough for the temporary name [`resume`](Self::resume) binds beside it); or the
    /// socket was handed over ([`Error::HandedOver`]).
    pub fn pause(&self) -> PauseChanged {
        self.want(Wish::Pause)
    }

    /// Listens again on the same port or path after [`pause`](Self::pause), with no moment
    /// in which another process could take it: a TCP socket listens again (`SO_REUSEADDR` is
    /// off while paused, so no other socket binds the port meanwhile); a Unix socket is
    /// replaced by a new one renamed over the path in one step. A socket handed in
    /// listens again with a backlog of 4096.
    ///
    /// # Errors
    ///
    /// Through the future: the socket could not listen again (it stays paused), the server
    /// is closed ([`Error::ServerClosed`]), or the socket was handed over
    /// ([`Error::HandedOver`]).
    pub fn resume(&self) -> PauseChanged {
        self.want(Wish::Listen)
    }

    /// Whether the server is paused (not listening).
    pub fn is_paused(&self) -> bool {
        self.core.listening() == Listening::Paused
    }

    /// Asks the accept loop for `wish`, and waits until it has followed it, or a later one.
    fn want(&self, wish: Wish) -> PauseChanged {
        let core = Arc::clone(&self.core);
        let closed_answer = match wish {
            Wish::Listen => Err(Error::ServerClosed),
            Wish::Pause | Wish::Retire => Ok(()),
        };
        if core.is_closed() {
            return PauseChanged::new(async move { closed_answer });
        }
        let Some((seq, mut followed)) = core.want(wish) else {
            // Handed over: the socket is another process's to pause.
            let answer = match wish {
                Wish::Retire => Ok(()),
                Wish::Listen | Wish::Pause => Err(Error::HandedOver),
            };
            return PauseChanged::new(async move { answer });
        };
        PauseChanged::new(async move {
            // The server's close, not its listening fd's: once closed, the accept loop
            // follows no wish, and a view of the socket may keep the fd open long after.
            let mut closed = core.closed_watch();
            let followed = tokio::select! {
                biased;
                followed = followed.wait_for(|followed| followed.seq >= seq) => {
                    followed.map(|followed| followed.clone())
                }
                () = closed.reached(CLOSED) => return closed_answer,
            };
            match followed {
                // This very wish failed; a later one supersedes it.
                Ok(Followed { seq: done, error: Some(error), .. }) if done == seq => {
                    Err(Error::Io {
                        action: if wish == Wish::Listen {
                            "listen again"
                        } else {
                            "pause listening"
                        },
                        endpoint: core.place().endpoint.clone(),
                        source: copy_io_error(&error),
                    })
                }
                // Followed; or the accept loop is gone, which `closed` covers.
                _ => Ok(()),
            }
        })
    }

    /// Stops accepting for good without closing the socket, which another process accepts
    /// on now: resolves once the accept loop holds no connection it took from the backlog.
    pub(crate) async fn retire(&self) {
        let _ = self.want(Wish::Retire).await;
    }

    /// How the server sleeps, for waits of its own (the hand-over's).
    pub(crate) fn timer(&self) -> Timer {
        self.core.timer()
    }

    /// Whether [`close`](Self::close) has been called (or the server stopped itself).
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Stops accepting and closes the listening socket; live connections carry on.
    ///
    /// Once `close` has returned, the service stack is never called again, from any thread.
    /// The future resolves once the listening fd is closed. Calling it again is harmless and
    /// returns a future that resolves at the same moment.
    ///
    /// What "called" covers: the stack handed to the acceptor, and every layer in it that
    /// calls its inner service within its own `call`. A layer that calls its inner service
    /// later (the TLS layer, after the handshake) checks the server first, through
    /// [`Dispatch`](crate::Dispatch), so your service behind it is not called after `close`
    /// either; a layer of your own that defers its call should do the same.
    pub fn close(&self) -> CloseFinished {
        self.close_with(ExistingConnections::Keep)
    }

    /// [`close`](Self::close), and with [`ExistingConnections::Close`] also closes every
    /// live connection's socket, by dropping its handler; the future then resolves once all
    /// of those fds and the listener's are closed.
    ///
    /// A later call with `Close` closes the connections of a server already closed with
    /// `Keep`; that is how a drain ends at its deadline. A stream the handler moved into a
    /// task of its own is beyond its reach: that task keeps it open until it drops it.
    pub fn close_with(&self, existing: ExistingConnections) -> CloseFinished {
        self.core.close(existing);
        self.close_finished()
    }

    /// The future [`close`](Self::close) returns, without starting a close.
    pub fn close_finished(&self) -> CloseFinished {
        let core = Arc::clone(&self.core);
        CloseFinished::new(async move {
            core.listener_closed().cancelled().await;
            if core.graceful().is_closing_all() {
                core.graceful().finished().await;
            }
        })
    }

    /// Resolves once the server is closed and every handler has finished (Async's
    /// `close_finished_and_handlers_determined`).
    pub fn handlers_finished(&self) -> HandlersFinished {
        let core = Arc::clone(&self.core);
        HandlersFinished::new(async move {
            core.listener_closed().cancelled().await;
            core.graceful().finished().await;
        })
    }

    /// A graceful drain, started at once: tells handlers through [`ShutdownSignal`], closes
    /// the listener, waits until `deadline` from now for the handlers to finish, then closes
    /// the connections that are left. The drain runs whether or not the returned future is
    /// awaited; awaiting it says how it ended.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the drain runs as a task of its own).
    pub fn drain(&self, deadline: Duration) -> Drain {
        let graceful = self.core.graceful().clone();
        let timer = self.core.timer();
        graceful.drain();
        self.core.close(ExistingConnections::Keep);
        let drain = tokio::spawn(async move {
            // Waits for the connections only: the listener closes on its own, and a view of
            // it held elsewhere must not hold up the drain.
            tokio::select! {
                () = graceful.finished() => Drained::Gracefully,
                () = timer.sleep(deadline) => {
                    let connections = graceful.count();
                    tracing::info!(connections, ?deadline, "drain deadline passed; closing");
                    graceful.close_all();
                    graceful.finished().await;
                    Drained::Forced { connections }
                }
            }
        });
        let server = self.clone();
        Drain::new(async move {
            // The task ends only by finishing, unless the runtime is shutting down.
            drain.await.unwrap_or(Drained::Forced { connections: server.num_connections() })
        })
    }

    /// Whether the server wants new clients: what its health check should report.
    pub fn readiness(&self) -> Readiness {
        self.core.readiness().clone()
    }

    /// Says whether the server wants new clients, for the health check to report: turn it
    /// off a few health-check intervals before draining, so that a load balancer stops
    /// sending clients before the server stops accepting them
    /// ([`DrainOnSignals::not_ready_for`] does this on a termination signal). The server
    /// serves on either way.
    pub fn set_ready(&self, ready: bool) {
        self.core.readiness().set(ready);
    }

    /// The signal handlers watch for a drain.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.core.graceful().signal()
    }

    /// Checks the server's internal consistency, as Async's `invariant`.
    ///
    /// # Panics
    ///
    /// If a limit is below 1, more connections are live than `max_connections`, or the
    /// closed state is inconsistent. Each is a bug in this crate (or, for a stack built by
    /// hand, one without the acceptor's limit layer); the message names the broken
    /// condition.
    pub fn invariant(&self) {
        let limits = self.core.limits();
        assert!(limits.max_connections >= 1, "max_connections is below 1: {limits:?}");
        assert!(limits.max_accepts_per_batch >= 1, "max_accepts_per_batch is below 1: {limits:?}");
        assert!(limits.backlog.is_none_or(|b| b >= 1), "backlog is below 1: {limits:?}");
        let live = self.num_connections();
        assert!(
            live <= limits.max_connections,
            "{live} connections live, above max_connections {}",
            limits.max_connections
        );
        if self.core.listener_closed().is_cancelled() || self.core.stopped_by().is_some() {
            assert!(self.is_closed(), "the listener is closed, but the server is not");
        }
    }
}

// By hand: a derived `Clone` would demand `F: Clone`.
impl<F: Family> Clone for Server<F> {
    fn clone(&self) -> Self {
        Server { core: Arc::clone(&self.core) }
    }
}

impl<F: Family> fmt::Debug for Server<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limits = self.core.limits();
        f.debug_struct("Server")
            .field("endpoint", self.endpoint())
            .field("listening_on", &self.core.place().listening_on)
            .field("num_connections", &self.num_connections())
            .field("max_connections", &limits.max_connections)
            .field("max_accepts_per_batch", &limits.max_accepts_per_batch)
            .field("backlog", &limits.backlog)
            .field("drop_incoming_connections", &self.drop_incoming_connections())
            .field("is_closed", &self.is_closed())
            .finish()
    }
}

impl<F: Family> IntoFuture for Server<F> {
    type Output = Result<(), ServerError<F::Addr>>;
    type IntoFuture = Stopped<F::Addr>;

    /// Waits until the server has stopped accepting and closed its listening socket: `Ok`
    /// after [`close`](Server::close), the
    /// error when the server stopped itself.
    fn into_future(self) -> Self::IntoFuture {
        Stopped::new(async move {
            self.core.listener_closed().cancelled().await;
            match self.core.stopped_by() {
                Some(error) => Err(error),
                None => Ok(()),
            }
        })
    }
}

/// A snapshot of a server's counters, from [`Server::metrics`], for logs or an exporter
/// such as Prometheus. Counters only grow, except `open`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Connections accepted, including those then dropped by
    /// [`set_drop_incoming_connections`](Server::set_drop_incoming_connections), and those
    /// closed unserved because the server closed as they were accepted.
    pub accepted: u64,
    /// Connections accepted and closed at once because dropping was on.
    pub dropped: u64,
    /// Connections whose handler returned an error or panicked.
    pub failed: u64,
    /// Connections a layer closed for bad input from the network, before or instead of
    /// the handler: a failed or stalled TLS handshake, a bad PROXY header. Never counted in
    /// `failed`.
    pub rejected: u64,
    /// Connections being served now ([`Server::num_connections`]).
    pub open: usize,
    /// Connections served that have ended, whether well or not (`failed` among them), and
    /// those closed unserved because the server closed as they were accepted.
    pub closed: u64,
}

/// An `io::Error` like `error`: the same OS error, or the same kind and message.
fn copy_io_error(error: &std::io::Error) -> std::io::Error {
    match error.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::new(error.kind(), error.to_string()),
    }
}
