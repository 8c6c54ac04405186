//! The server's `tracing` events, captured by a subscriber of the test's own: every
//! connection's events sit in a `connection{id, peer}` span, and accepting, closing,
//! dropping, the limit, handler errors and the server's close are logged at their levels.
//!
//! Each test runs on a current-thread runtime with the capturing subscriber as the thread's
//! default, so the server's tasks (all on this thread) report to it.

use crate::common;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use tcp_serve::{service_fn, Connection, Inet, Serve, WhereToListen};
use tokio::sync::watch;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A span an event happened in, with the fields the span was created with.
#[derive(Clone, Debug)]
struct SpanRecord {
    name: String,
    fields: HashMap<String, String>,
}

/// One event, with its message, fields, and spans innermost first.
#[derive(Clone, Debug)]
struct EventRecord {
    level: Level,
    target: String,
    message: String,
    fields: HashMap<String, String>,
    spans: Vec<SpanRecord>,
}

impl EventRecord {
    /// The innermost span named `connection`, which must exist.
    fn connection(&self) -> &SpanRecord {
        self.spans
            .iter()
            .find(|span| span.name == "connection")
            .unwrap_or_else(|| panic!("{self:?} is not inside a connection span"))
    }
}

/// Fields as strings: `Debug` values as printed, strings without quotes.
struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// A span's fields, kept in its extensions.
struct SpanFields(HashMap<String, String>);

/// A `tracing_subscriber` layer recording every event; tests wait on it for an event.
#[derive(Clone)]
struct Capture {
    events: Arc<Mutex<Vec<EventRecord>>>,
    changed: watch::Sender<()>,
}

impl Capture {
    fn new() -> Self {
        Capture { events: Arc::default(), changed: watch::Sender::new(()) }
    }

    /// The events recorded so far that `matches`.
    fn all(&self, matches: impl Fn(&EventRecord) -> bool) -> Vec<EventRecord> {
        self.events
            .lock()
            .expect("no panic while recording")
            .iter()
            .filter(|e| matches(e))
            .cloned()
            .collect()
    }

    /// Waits for an event that `matches`, within [`WAIT`].
    async fn event(&self, what: &str, matches: impl Fn(&EventRecord) -> bool) -> EventRecord {
        let mut changed = self.changed.subscribe();
        let mut found = None;
        within(
            &format!("the event {what}"),
            changed.wait_for(|()| {
                found = self.all(&matches).into_iter().next();
                found.is_some()
            }),
        )
        .await
        .expect("the capture lives as long as the test");
        found.expect("wait_for returned once found")
    }
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        let spans = ctx
            .event_scope(event)
            .into_iter()
            .flatten()
            .map(|span| SpanRecord {
                name: span.name().to_owned(),
                fields: span
                    .extensions()
                    .get::<SpanFields>()
                    .map(|f| f.0.clone())
                    .unwrap_or_default(),
            })
            .collect();
        let metadata = event.metadata();
        let record = EventRecord {
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            message,
            fields,
            spans,
        };
        self.events.lock().expect("no panic while recording").push(record);
        self.changed.send_replace(());
    }
}

/// Installs a fresh capture as this thread's subscriber until the guard is dropped.
fn capture() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::new();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    (capture, tracing::subscriber::set_default(subscriber))
}

/// `event` is the message `message` at `level`, from this crate.
fn is(event: &EventRecord, level: Level, message: &str) -> bool {
    event.level == level
        && event.message.starts_with(message)
        && event.target.starts_with("tcp_serve")
}

/// `event` sits in the connection span of the client at `peer`.
fn of_peer(event: &EventRecord, peer: SocketAddr) -> bool {
    event
        .spans
        .iter()
        .any(|s| s.name == "connection" && s.fields.get("peer") == Some(&peer.to_string()))
}

fn local_addr(client: &tokio::net::TcpStream) -> SocketAddr {
    client.local_addr().expect("the client's address")
}

#[tokio::test]
async fn each_connection_logs_accepted_and_closed_at_debug_in_a_span_with_its_peer_and_id() {
    let (capture, _guard) = capture();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(echo::<Inet>())
        .await
        .expect("serve");
    capture.event("listening at INFO", |e| is(e, Level::INFO, "listening")).await;

    let mut ids = Vec::new();
    for message in [&b"first"[..], b"second"] {
        let mut client = connect(&server).await;
        let peer = local_addr(&client);
        assert_echoes(&mut client, message).await;
        drop(client);
        let accepted =
            capture.event("accepted", |e| e.message == "accepted" && of_peer(e, peer)).await;
        assert_eq!(accepted.level, Level::DEBUG);
        let closed = capture
            .event("connection closed", |e| e.message == "connection closed" && of_peer(e, peer))
            .await;
        assert_eq!(closed.level, Level::DEBUG);
        let id = accepted.connection().fields["id"].clone();
        assert_eq!(closed.connection().fields["id"], id, "closed in another connection's span");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "two connections share a span id");
    server.close().await;
}

#[tokio::test]
async fn a_handler_error_is_a_warning_naming_the_peer() {
    let (capture, _guard) = capture();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(service_fn(|(_peer, _stream): Connection<Inet>| async {
            Err::<(), _>(io::Error::other("the handler gave up"))
        }))
        .await
        .expect("serve");
    let mut client = connect(&server).await;
    let peer = local_addr(&client);
    assert_closed_by_server(&mut client).await;

    let failed =
        capture.event("the handler's failure", |e| e.message == "connection handler failed").await;
    assert_eq!(failed.level, Level::WARN);
    assert_eq!(failed.fields.get("peer"), Some(&peer.to_string()));
    assert_eq!(failed.fields.get("error").map(String::as_str), Some("the handler gave up"));
    assert!(of_peer(&failed, peer), "not in the connection's span: {failed:?}");
    server.close().await;
}

#[tokio::test]
async fn a_dropped_connection_is_logged_at_debug_in_its_span() {
    let (capture, _guard) = capture();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(echo::<Inet>())
        .await
        .expect("serve");
    server.set_drop_incoming_connections(true);
    let mut client = connect(&server).await;
    let peer = local_addr(&client);
    assert_closed_by_server(&mut client).await;

    let dropped = capture
        .event("the drop", |e| e.message.starts_with("dropped an incoming connection"))
        .await;
    assert_eq!(dropped.level, Level::DEBUG);
    assert!(of_peer(&dropped, peer), "not in the connection's span: {dropped:?}");
    server.close().await;
}

#[tokio::test]
async fn reaching_max_connections_is_logged_at_info() {
    let (capture, _guard) = capture();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .max_connections(1)
        .serve(echo::<Inet>())
        .await
        .expect("serve");
    let mut client = connect(&server).await;
    assert_echoes(&mut client, b"taking the only slot").await;

    let limit = capture.event("the limit", |e| e.message.starts_with("at max_connections")).await;
    assert_eq!(limit.level, Level::INFO);
    assert_eq!(limit.fields.get("max_connections").map(String::as_str), Some("1"));
    server.close().await;
}

#[tokio::test]
async fn closing_the_server_is_logged_at_info() {
    let (capture, _guard) = capture();
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(echo::<Inet>())
        .await
        .expect("serve");
    assert!(capture.all(|e| e.message.starts_with("closing the server")).is_empty());
    server.close().await;
    let closing = capture.event("the close", |e| is(e, Level::INFO, "closing the server")).await;
    assert_eq!(closing.fields.get("existing").map(String::as_str), Some("Keep"));
}
