//! Counts live connections (`num_connections`) and closes them all on demand (`close
//! ~close_existing_connections:true`, or a drain's deadline).
//!
//! Each connection's future is tracked by a [`TaskTracker`](tokio_util::task::TaskTracker),
//! whose `len` is the count and whose `wait` resolves once every tracked connection has
//! ended, and watches a [`CloseAll`] switch: closing it ends every handler, dropping it and
//! so closing its socket. The handler is not told
//! first; a graceful drain tells handlers through
//! [`ShutdownSignal`](crate::ShutdownSignal) before it comes to this.

mod close_all;
mod layer;
mod service;

pub mod future;

pub use self::close_all::CloseAll;
pub use self::layer::TrackLayer;
pub use self::service::Track;

#[cfg(test)]
mod tests;
