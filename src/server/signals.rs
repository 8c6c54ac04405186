//! Kubernetes-style termination in one call: the first SIGTERM or SIGINT drains the server
//! with a deadline; a second one closes what is left at once.

use std::fmt;
use std::future::IntoFuture;
use std::io;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};

use super::wait::Terminated;
use super::Server;
use crate::error::ServerError;
use crate::family::Family;
use crate::shutdown::{Drained, ExistingConnections};

impl<F: Family> Server<F> {
    /// Serves until SIGTERM or SIGINT, then [drains](Self::drain) the server with
    /// `deadline`; a second signal during the drain closes every connection at once, as an
    /// impatient operator (or Kubernetes after `terminationGracePeriodSeconds`, with
    /// SIGKILL) would. If the server stops or is closed before any signal, what is left of
    /// it is drained the same way.
    ///
    /// With the `systemd` feature, it tells systemd (`STOPPING=1`, when `NOTIFY_SOCKET` is
    /// set) as the drain begins.
    ///
    /// Awaiting the returned [`DrainOnSignals`] resolves with how the drain ended, or with
    /// the error that stopped the server (once its connections have drained too). Behind a
    /// load balancer, have it fail the health check first with
    /// [`not_ready_for`](DrainOnSignals::not_ready_for).
    ///
    /// ```no_run
    /// # #[allow(dead_code)]
    /// # async fn run(server: tcp_serve::InetServer) -> Result<(), Box<dyn std::error::Error>> {
    /// let drained = server.drain_on_signals(std::time::Duration::from_secs(30))?.await?;
    /// println!("stopped: {drained:?}");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The signal handlers could not be installed (the runtime has no I/O driver).
    pub fn drain_on_signals(&self, deadline: Duration) -> io::Result<DrainOnSignals<F>> {
        let signals = Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        };
        Ok(DrainOnSignals {
            server: self.clone(),
            deadline,
            not_ready_for: Duration::ZERO,
            signals,
        })
    }
}

/// A server's termination on SIGTERM or SIGINT, from [`Server::drain_on_signals`]; await
/// it. The signal handlers are in place from its creation.
#[must_use = "the signals are handled only while this is awaited"]
pub struct DrainOnSignals<F: Family> {
    server: Server<F>,
    deadline: Duration,
    not_ready_for: Duration,
    signals: Signals,
}

impl<F: Family> DrainOnSignals<F> {
    /// On the first signal, first turn the server's [`Readiness`](crate::Readiness) off and
    /// go on serving for `period`, then drain: time for a load balancer's health checks (or
    /// Kubernetes, removing the pod from its endpoints) to stop sending new clients before
    /// the server stops accepting them, so that none is refused. Make it longer than the
    /// checks' interval times the failures that take a server out. A second signal during
    /// `period` starts the drain at once. Default: no wait.
    pub fn not_ready_for(mut self, period: Duration) -> Self {
        self.not_ready_for = period;
        self
    }
}

impl<F: Family> IntoFuture for DrainOnSignals<F> {
    type Output = Result<Drained, ServerError<F::Addr>>;
    type IntoFuture = Terminated<F::Addr>;

    fn into_future(self) -> Self::IntoFuture {
        let DrainOnSignals { server, deadline, not_ready_for, mut signals } = self;
        Terminated::new(async move {
            let stopped = tokio::select! {
                name = signals.next() => {
                    tracing::info!(signal = name, "terminating");
                    Ok(())
                }
                stopped = server.clone() => stopped,
            };
            if stopped.is_ok() && !not_ready_for.is_zero() {
                server.set_ready(false);
                tracing::info!(?not_ready_for, "not ready: serving on until the drain");
                tokio::select! {
                    () = server.core.timer().sleep(not_ready_for) => {}
                    name = signals.next() => tracing::info!(signal = name, "draining now"),
                }
            }
            server.set_ready(false);
            tracing::info!(?deadline, "draining");
            // A `Type=notify` unit shows "deactivating" while the drain runs.
            #[cfg(feature = "systemd")]
            crate::systemd::stopping_or_warn();
            let drained = tokio::select! {
                drained = server.drain(deadline) => drained,
                name = signals.next() => {
                    let connections = server.num_connections();
                    tracing::warn!(signal = name, connections, "closing every connection now");
                    server.close_with(ExistingConnections::Close).await;
                    Drained::Forced { connections }
                }
            };
            stopped.map(|()| drained)
        })
    }
}

impl<F: Family> fmt::Debug for DrainOnSignals<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainOnSignals")
            .field("deadline", &self.deadline)
            .field("not_ready_for", &self.not_ready_for)
            .finish_non_exhaustive()
    }
}

/// The signals that end a server.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    /// The name of the next signal to arrive.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
