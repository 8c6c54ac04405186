//! systemd without libsystemd: socket activation and sd_notify.
//!
//! **Socket activation.** systemd (a `.socket` unit, or `systemd-socket-activate` by
//! hand) binds and listens, and starts the server at the first connection with the
//! listening sockets as descriptors 3, 4, …, described by `LISTEN_PID`, `LISTEN_FDS` and
//! `LISTEN_FDNAMES`. [`ListenFds`] takes them; each becomes a [`Listener`](crate::Listener)
//! for [`Serve::from_listener`](crate::Serve::from_listener). Clients that connect
//! while the server starts (or restarts) wait in the socket's backlog instead of being
//! refused.
//!
//! **Readiness.** For a `Type=notify` service, [`notify_ready`] once the server accepts,
//! and [`notify_stopping`] when it begins to stop, which
//! [`Server::drain_on_signals`](crate::Server::drain_on_signals) does itself. Each is a
//! no-op without `NOTIFY_SOCKET`, so the same binary runs outside systemd.
//!
//! ```no_run
//! use std::time::Duration;
//! use tcp_serve::systemd::{self, ListenFds};
//! use tcp_serve::{service_fn, Connection, Inet, Listener, Serve};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Before the runtime starts its threads: this clears LISTEN_* from the environment.
//!     let mut fds = ListenFds::from_env()?;
//!     let listener: Listener<Inet> = fds.take_named("web")?;
//!     tokio::runtime::Runtime::new()?.block_on(async {
//!         let server = Serve::from_listener(listener)
//!             .serve(service_fn(|(_peer, _stream): Connection<Inet>| async {
//!                 Ok::<_, std::io::Error>(())
//!             }))
//!             .await?;
//!         let drain = server.drain_on_signals(Duration::from_secs(10))?;
//!         systemd::notify_ready()?;
//!         drain.await?;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! The `.socket` and `.service` units for the echo example are in `examples/systemd/`.

mod claim;
mod listen_fds;
mod notify;
mod take;
mod vars;

pub use self::listen_fds::ListenFds;
pub use self::notify::{notify, notify_ready, notify_status, notify_stopping};
pub use self::take::{AnyListener, FromListenFds};

pub(crate) use self::notify::stopping_or_warn;

#[cfg(test)]
mod tests;
