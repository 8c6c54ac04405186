//! Async's `on_handler_error`: what happens when a connection's handler returns an error
//! or panics.
//!
//! [`ErrorPolicy`] wraps the handler's future. When it ends with `Err` or panics, the
//! handler is dropped first (so its socket is closed), then the error goes to the
//! [`OnHandlerError`] policy. Other connections are never affected; with
//! [`OnHandlerError::Raise`] the server stops accepting new ones.

mod layer;
mod policy;
mod service;

pub mod future;

pub use self::layer::ErrorPolicyLayer;
pub use self::policy::{HandlerErrorCallback, OnHandlerError};
pub use self::service::ErrorPolicy;

#[cfg(test)]
mod tests;
