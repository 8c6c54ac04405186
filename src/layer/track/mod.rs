//! Counts live connections (`num_connections`) and closes them all on demand (`close
//! ~close_existing_connections:true`, or a drain's deadline).
//!
//! Each connection's future is tracked by a [`TaskTracker`](tokio_util::task::TaskTracker),
//! whose `len` is the count and whose `wait` resolves once every tracked connection has
//! ended, and watches a child of a [`CancellationToken`](tokio_util::sync::CancellationToken):
//! cancelling the parent drops every handler, closing its socket. The handler is not told
//! first; a graceful drain tells handlers through
//! [`ShutdownSignal`](crate::ShutdownSignal) before it comes to this.

mod layer;
mod service;

pub mod future;

pub use self::layer::TrackLayer;
pub use self::service::Track;

#[cfg(test)]
mod tests;
