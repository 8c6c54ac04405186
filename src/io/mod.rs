//! Buffered and framed connections, and `buffer_age_limit`, as layers.
//!
//! Each turns the `(peer, stream)` a server hands out into what a kind of handler wants,
//! so any tower layer can still sit between it and the handler:
//!
//! - [`BufferingLayer`]: Async's `Tcp.Server.create`. The service gets
//!   `(peer, reader, writer)`, a [`Reader`] (tokio's `BufReader`) and a [`Writer`] whose
//!   bytes are flushed in the background and once more after the service's future ends.
//! - [`FramingLayer`]: the service gets the connection as a `tokio_util::codec::Framed`.
//! - [`BufferAgeLimitLayer`]: the stream becomes an [`AgeLimited`] one, whose writes fail
//!   with [`BufferAgeLimitExceeded`] once they have waited longer than the
//!   [`BufferAgeLimit`], so a peer that stops reading cannot hold a connection forever.
//!   `BufferingLayer` and `FramingLayer` apply it themselves.
//!
//! Their timers are tokio's: a server using them needs a runtime with the time driver on
//! (`#[tokio::main]` turns it on).

mod age_limit;
mod age_limit_layer;
mod buffered;
mod framed;

pub use self::age_limit::{AgeLimited, BufferAgeLimit, BufferAgeLimitExceeded};
pub use self::age_limit_layer::{BufferAgeLimitLayer, BufferAgeLimitService};
pub use self::buffered::{
    Buffered, BufferedConnection, BufferingLayer, Reader, ResponseFuture as BufferedFuture, Writer,
};
pub use self::framed::{FramedConnection, Framing, FramingLayer};
