//! What closing and draining take and report, and the signal handlers watch for a drain.

use tokio_util::sync::CancellationToken;

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

/// Tells handlers that the server has begun a graceful drain, so they can finish the
/// request in hand and end the connection before the deadline closes it.
///
/// Get one from [`Serve::shutdown_signal`](crate::Serve::shutdown_signal) before the
/// server starts (to move into your service), or from
/// [`Server::shutdown_signal`](crate::Server::shutdown_signal). It can watch, not trigger:
/// only [`Server::drain`](crate::Server::drain) starts a drain.
#[derive(Clone, Debug)]
pub struct ShutdownSignal {
    token: CancellationToken,
}

impl ShutdownSignal {
    pub(crate) fn new(token: CancellationToken) -> Self {
        ShutdownSignal { token }
    }

    /// Whether a drain has begun.
    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once a drain has begun (at once if it already has).
    pub async fn requested(&self) {
        self.token.cancelled().await;
    }
}
