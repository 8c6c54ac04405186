//! The server's policies, one `tower::Layer` each.
//!
//! [`Serve`](crate::Serve) stacks them around your service, outermost first; an
//! [`Acceptor`](crate::Acceptor) hands out the same layers, tied to its server, for a stack
//! you build yourself:
//!
//! | layer | seed option | what it does |
//! |---|---|---|
//! | [`ErrorPolicyLayer`] | `on_handler_error` | routes a handler's error or panic to the policy |
//! | [`DropIncomingLayer`] | `set_drop_incoming_connections` | closes new connections at once while on |
//! | `tower::limit::GlobalConcurrencyLimitLayer` | `max_connections` | not ready at the limit, so the acceptor stops accepting |
//! | [`GracefulLayer`] | `num_connections`, `close ~close_existing_connections` | counts live connections, tells them of a drain, closes them all |
//! | your layers | | anything from tower, or your own |
//!
//! Each works on any service whose requests are `(address, stream)` pairs, so they can be
//! reused, tested and replaced one at a time.

pub mod drop_incoming;
pub mod error_policy;
pub mod graceful;

pub use self::drop_incoming::{DropIncoming, DropIncomingLayer, DropIncomingSwitch};
pub use self::error_policy::{ErrorPolicy, ErrorPolicyLayer, OnHandlerError};
pub use self::graceful::{Graceful, GracefulLayer, GracefulService};
