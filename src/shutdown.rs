//! What closing and draining take and report.

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
