//! What closing and draining take and report, and the readiness a load balancer checks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What [`Server::close_with`](crate::Server::close_with) does to connections already
/// being served (Async's `~close_existing_connections`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExistingConnections {
    /// Leave them running: only the listening socket is closed. The default.
    #[default]
    Keep,
    /// Close their sockets too, by dropping their handlers.
    Close,
}

/// How a [`Server::drain`](crate::Server::drain) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Every handler finished before the deadline.
    Gracefully,
    /// The deadline passed; this many connections were still open and were closed.
    Forced {
        /// Connections still open at the deadline.
        connections: usize,
    },
}

/// Whether a server wants new clients: what its health check should tell a load balancer or
/// Kubernetes' readiness probe. Ready from the start; [`Server::set_ready`] turns it off, as
/// does [`DrainOnSignals::not_ready_for`] when a termination signal comes, so that the
/// balancer stops sending clients before the server stops accepting them.
///
/// A cheap handle: clone it into the service that answers the health check. Get one from
/// [`Serve::readiness`](crate::Serve::readiness) before the server starts, or from
/// [`Server::readiness`].
///
/// [`Server::set_ready`]: crate::Server::set_ready
/// [`Server::readiness`]: crate::Server::readiness
/// [`DrainOnSignals::not_ready_for`]: crate::DrainOnSignals::not_ready_for
#[derive(Clone, Debug)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness { ready: Arc::new(AtomicBool::new(true)) }
    }
}

impl Readiness {
    /// Whether the server wants new clients.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}
