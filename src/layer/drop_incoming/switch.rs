use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The on/off switch shared by a [`DropIncomingLayer`](super::DropIncomingLayer) and whoever
/// flips it (the [`Server`](crate::Server)). Off when created. Cloning shares the switch.
#[derive(Clone, Debug, Default)]
pub struct DropIncomingSwitch(Arc<AtomicBool>);

impl DropIncomingSwitch {
    /// A switch that is off: connections are served.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns dropping on (`true`) or off (`false`) for connections accepted from now on.
    pub fn set(&self, drop: bool) {
        self.0.store(drop, Ordering::Relaxed);
    }

    /// Whether new connections are being dropped.
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
