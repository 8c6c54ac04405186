//! Async's `on_handler_error`: what happens when a connection's handler returns an error
//! or panics.
//!
//! [`ErrorPolicy`] wraps the handler's future. When it ends with `Err` or panics, the
//! handler is dropped first (so its socket is closed), then the error goes to the
//! [`OnHandlerError`] policy. Other connections are never affected. Raising is how a
//! connection tells the [`Acceptor`](crate::Acceptor) to stop: the policy's future ends
//! with the error ([`OnHandlerError::Raise`], or a panicking [`OnHandlerError::Call`]), and
//! the acceptor stops the server with it; every other outcome ends it with `Ok`.

mod future;
mod layer;
mod policy;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::ErrorPolicyLayer;
pub use self::policy::{HandlerErrorCallback, OnHandlerError};
pub use self::service::ErrorPolicy;

#[cfg(test)]
mod tests;
