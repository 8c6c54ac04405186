//! Capturing what the library logs through `tracing`, as text: for the unit tests
//! (`crate::test_log`) and the end-to-end tests (`tests/common/mod.rs` includes this file
//! as `common::log`).

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing_subscriber::util::SubscriberInitExt;

/// Log lines written while it is alive, on this thread (a current-thread runtime's tasks).
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Sets this log as the thread's subscriber, at INFO, while the guard lives.
    pub fn capture(&self) -> Capturing {
        self.capture_at(tracing::Level::INFO)
    }

    /// Sets this log as the thread's subscriber, at `level`, while the guard lives.
    ///
    /// One capture at a time in a process: tracing keeps one global cache of which levels
    /// any subscriber wants, and two captures set up at the same moment on two threads can
    /// leave the other's level in it. Captures wait for each other instead.
    pub fn capture_at(&self, level: tracing::Level) -> Capturing {
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        ask_every_time();
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
            .set_default();
        Capturing { _subscriber: subscriber, _turn: turn }
    }
}

/// A capture in progress (see [`CapturedLog::capture_at`]); dropping it ends the capture.
pub struct Capturing {
    // Fields drop in order: the subscriber goes before the next capture may start.
    _subscriber: tracing::subscriber::DefaultGuard,
    _turn: MutexGuard<'static, ()>,
}

/// Makes tracing ask the thread's subscriber about every event, from now on.
///
/// tracing caches, once per process, whether any subscriber wants a callsite, and a test
/// thread with no subscriber that reaches a callsite first, while another thread sets up
/// its capture, can cache "never" for everyone (seen: the HTTP adapter's DEBUG line lost
/// once in ten runs of the unit tests). A subscriber that lives for the rest of the
/// process, wants nothing itself and answers "ask each time" for every callsite keeps
/// that cache from ever saying "never".
fn ask_every_time() {
    use std::sync::OnceLock;
    use tracing::subscriber::{Interest, Subscriber};
    use tracing::{span, Event, Metadata};

    struct AskEveryTime;

    impl Subscriber for AskEveryTime {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
            Some(tracing::level_filters::LevelFilter::TRACE)
        }
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            false
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    static KEPT: OnceLock<tracing::Dispatch> = OnceLock::new();
    // Making the dispatch registers it, which asks every callsite known so far again.
    KEPT.get_or_init(|| tracing::Dispatch::new(AskEveryTime));
}
