use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The on/off switch shared by a [`DropIncomingLayer`](super::DropIncomingLayer) and whoever
/// flips it (the [`Server`](crate::Server)). Off when created. Cloning shares the switch.
#[derive(Clone, Debug, Default)]
pub struct DropIncomingSwitch(Arc<Switch>);

#[derive(Debug, Default)]
struct Switch {
    on: AtomicBool,
    dropped: AtomicU64,
}

impl DropIncomingSwitch {
    /// A switch that is off: connections are served.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns dropping on (`true`) or off (`false`) for connections accepted from now on.
    pub fn set(&self, drop: bool) {
        self.0.on.store(drop, Ordering::Relaxed);
    }

    /// Whether new connections are being dropped.
    pub fn is_on(&self) -> bool {
        self.0.on.load(Ordering::Relaxed)
    }

    /// How many connections have been dropped.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    pub(super) fn count_drop(&self) {
        self.0.dropped.fetch_add(1, Ordering::Relaxed);
    }
}
