//! Kubernetes-style termination in one call: the first SIGTERM or SIGINT drains the server
//! with a deadline; a second one closes what is left at once.

use std::io;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};

use super::wait::DrainOnSignals;
use super::Server;
use crate::family::Family;
use crate::shutdown::{Drained, ExistingConnections};

impl<F: Family> Server<F> {
    /// Serves until SIGTERM or SIGINT, then [drains](Self::drain) the server with
    /// `deadline`; a second signal during the drain closes every connection at once, as an
    /// impatient operator (or Kubernetes after `terminationGracePeriodSeconds`, with
    /// SIGKILL) would. If the server stops or is closed before any signal, what is left of
    /// it is drained the same way.
    ///
    /// The returned future resolves with how the drain ended, or with the error that stopped
    /// the server (once its connections have drained too).
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
    pub fn drain_on_signals(&self, deadline: Duration) -> io::Result<DrainOnSignals<F::Addr>> {
        let mut signals = Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        };
        let server = self.clone();
        Ok(DrainOnSignals::new(async move {
            let stopped = tokio::select! {
                name = signals.next() => {
                    tracing::info!(signal = name, ?deadline, "draining");
                    Ok(())
                }
                stopped = server.clone() => stopped,
            };
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
        }))
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
