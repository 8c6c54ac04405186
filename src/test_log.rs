//! Capturing what the library logs through `tracing`, as text: for the unit tests
//! (`crate::test_log`) and the end-to-end tests (`tests/common/mod.rs` includes this file
//! as `common::log`).

use std::io;
use std::sync::{Arc, Mutex};

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
    pub fn capture(&self) -> tracing::subscriber::DefaultGuard {
        self.capture_at(tracing::Level::INFO)
    }

    /// Sets this log as the thread's subscriber, at `level`, while the guard lives.
    pub fn capture_at(&self, level: tracing::Level) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let guard = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
            .set_default();
        // A thread that logged without a subscriber may have cached "never" for a callsite.
        tracing::callsite::rebuild_interest_cache();
        guard
    }
}
