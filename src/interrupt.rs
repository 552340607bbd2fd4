//! Ctrl-C and SIGTERM as a value: [`crate::run`] listens for the signals and trips a
//! [`Stop`]; the engine starts no step once it is tripped, and a [`crate::transport`] gives
//! a running command `run.grace_period` before it stops it and its children on the host.

use std::sync::Arc;

use tokio::sync::watch;

/// Shared by the signal listener, the engine and every transport of a run. Cloning shares it.
#[derive(Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<i32>>,
}

impl Default for Stop {
    fn default() -> Stop {
        Stop::new()
    }
}

impl Stop {
    /// Not tripped yet; nothing trips it unless [`Stop::trip`] is called.
    pub fn new() -> Stop {
        Stop {
            tx: Arc::new(watch::channel(0).0),
        }
    }

    /// Record the first signal (`libc`-style number: 2 SIGINT, 15 SIGTERM); later ones are
    /// not recorded, so the exit code names the signal that stopped the run.
    pub fn trip(&self, signal: i32) {
        self.tx.send_if_modified(|s| {
            if *s == 0 {
                *s = signal;
                true
            } else {
                false
            }
        });
    }

    /// The signal that stopped the run, if any.
    pub fn signal(&self) -> Option<i32> {
        Some(*self.tx.borrow()).filter(|s| *s != 0)
    }

    pub fn is_set(&self) -> bool {
        self.signal().is_some()
    }

    /// Resolves once the stop is tripped (at once if it already is).
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives as long as `self`, so the channel cannot close under us.
        let _ = rx.wait_for(|s| *s != 0).await;
    }
}

/// The signal's name for people and the journal.
pub fn name(signal: i32) -> &'static str {
    match signal {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}
