//! Async's `set_drop_incoming_connections`: while the switch is on, each new connection is
//! accepted and closed at once, without calling the handler.
//!
//! The seed calls this a way to pause a server: a client at `max_connections` would sit in
//! the backlog with an established connection and no bytes; a dropped client sees EOF at
//! once and can go elsewhere. Readiness still comes from the inner service, so at
//! `max_connections` nothing is accepted, dropped or not.

mod future;
mod layer;
mod service;
mod switch;

pub use self::future::ResponseFuture;
pub use self::layer::DropIncomingLayer;
pub use self::service::DropIncoming;
pub use self::switch::DropIncomingSwitch;

#[cfg(test)]
mod tests;
