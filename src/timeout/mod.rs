//! Connection timeouts as layers, for any protocol: each wraps the connection's stream
//! (or, for the lifetime, its handler) and cuts off clients that hold a connection
//! without using it.
//!
//! | layer | fails a connection when | how |
//! |---|---|---|
//! | [`IdleTimeoutLayer`] | no byte has moved either way for the limit | reads and writes fail with [`IdleTimeout`] |
//! | [`FirstByteTimeoutLayer`] | the client has sent nothing within the limit | reads fail with [`FirstByteTimeout`] |
//! | [`ReadTimeoutLayer`] | one read has been pending the limit without a byte | reads fail with [`ReadTimeout`] |
//! | [`MinRateLayer`] | the client sends fewer than N bytes per window of pending reads (slowloris) | reads fail with [`BelowMinRate`] |
//! | [`MaxLifetimeLayer`] | the connection has lasted the limit | the handler is dropped; the connection ends with [`LifetimeExceeded`] |
//!
//! **What the handler sees.** The stream layers fail the stream, not the handler: the
//! read (or write) that is waiting when the limit runs out, and every one after it,
//! returns an [`io::Error`](std::io::Error) of kind
//! [`TimedOut`](std::io::ErrorKind::TimedOut) carrying the layer's error. A handler that
//! passes it on with `?` ends, its connection closes, and the server's
//! [`OnHandlerError`](crate::OnHandlerError) policy gets the error, where each type's
//! `find` tells it apart (`IdleTimeout::find(&*error)`). A handler that wants to say why
//! before it closes can: the read-side layers leave writes alone. The limits are enforced
//! when the handler waits on its stream; [`MaxLifetimeLayer`] is the one that needs no
//! cooperation. Under [`OnHandlerError::Raise`](crate::OnHandlerError::Raise) a timed-out
//! client stops the server like any handler error: tell timeouts apart in `Call`, or end
//! the handler with `Ok` on them.
//!
//! **Which reads count as waiting.** [`ReadTimeoutLayer`] and [`MinRateLayer`] time every
//! pending read, and a stream cannot tell why a read is pending. A protocol driver may
//! park one while the server works: hyper keeps a read pending during every HTTP request,
//! to notice a client that leaves, so a handler slower than the limit has its connection
//! fail and its response dropped. A read that is dropped (by `select!` or `timeout`) and
//! retried later is timed from when the first one began to wait. Use them where the
//! handler reads only when it wants bytes. For HTTP, use
//! [`Http::header_read_timeout`](crate::http::Http::header_read_timeout), which times only
//! hyper's wait for a request's head, and [`MaxLifetimeLayer`].
//!
//! **Where to put them.** Each is a layer for [`Serve::layer`](crate::Serve::layer) or a
//! `ServiceBuilder`; the clock starts when the connection reaches it. Behind a PROXY
//! layer they time the client's bytes after the header (the header has its own deadline);
//! in front of a TLS layer they time the encrypted bytes, handshake included.
//!
//! ```
//! use std::time::Duration;
//! use tcp_serve::timeout::{
//!     BelowMinRate, FirstByteTimeoutLayer, IdleTimeout, IdleTimeoutLayer, MaxLifetimeLayer,
//!     MinRateLayer,
//! };
//! use tcp_serve::{OnHandlerError, Serve, WhereToListen};
//!
//! let serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
//!     .on_handler_error(OnHandlerError::call(|peer, error| {
//!         if IdleTimeout::find(&**error).is_some() || BelowMinRate::find(&**error).is_some() {
//!             tracing::debug!(?peer, %error, "cut off a client that held its connection");
//!         } else {
//!             tracing::warn!(?peer, %error, "handler failed");
//!         }
//!     }))
//!     .layer(MaxLifetimeLayer::new(Duration::from_secs(3600)))
//!     .layer(FirstByteTimeoutLayer::new(Duration::from_secs(5)))
//!     .layer(IdleTimeoutLayer::new(Duration::from_secs(120)))
//!     .layer(MinRateLayer::new(100, Duration::from_secs(10)));
//! # let _ = serve;
//! ```
//!
//! Their timers are tokio's: the runtime needs its time driver (`#[tokio::main]` turns it
//! on). A timer is made at a stream's first wait, and moving a deadline (each transfer)
//! costs a store, never a timer reset: the timer is re-armed only when it fires before the
//! current deadline.

mod first_byte;
mod idle;
mod lifetime;
mod min_rate;
mod read;
pub(crate) mod service;

pub use self::first_byte::{FirstByteTimeout, FirstByteTimeoutLayer, WithFirstByteTimeout};
pub use self::idle::{IdleTimeout, IdleTimeoutLayer, WithIdleTimeout};
pub use self::lifetime::{LifetimeExceeded, MaxLifetime, MaxLifetimeFuture, MaxLifetimeLayer};
pub use self::min_rate::{BelowMinRate, MinRateLayer, WithMinRate};
pub use self::read::{ReadTimeout, ReadTimeoutLayer, WithReadTimeout};
pub use self::service::TimeoutService;
