//! Graceful close, as a layer: counts live connections (Async's `num_connections`), tells
//! them a drain has begun, and ends them all on demand (`close
//! ~close_existing_connections:true`, or a drain's deadline).
//!
//! [`Graceful`] is the trigger and the count; [`GracefulLayer`] watches each connection, as
//! hyper-util's `GracefulShutdown::watch` does; [`ShutdownSignal`] lets a handler see that a
//! drain has begun, so it can finish the request in hand and end the connection itself.
//! Ending a connection means dropping its handler, which closes its socket; a stream the
//! handler moved into a task of its own is out of the layer's reach.

mod future;
mod handle;
mod layer;
mod service;
mod signal;

pub use self::future::ResponseFuture;
pub use self::handle::Graceful;
pub use self::layer::GracefulLayer;
pub use self::service::GracefulService;
pub use self::signal::{Requested, ShutdownSignal, UntilDrain};

#[cfg(test)]
mod tests;
