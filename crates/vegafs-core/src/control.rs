//! What a caller shares with a running call: a cancel token it may set, and progress counters it
//! may read, both lock-free.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Set once, from any thread (Ctrl-C, job cancellation); the core checks it between directories
/// and every few hundred entries.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters the core bumps (once per directory, not per entry) and the caller reads.
#[derive(Debug, Default)]
pub struct Progress {
    pub entries: AtomicU64,
    pub dirs: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
}

impl Progress {
    pub fn add(&self, entries: u64, dirs: u64, bytes: u64, errors: u64) {
        self.entries.fetch_add(entries, Ordering::Relaxed);
        self.dirs.fetch_add(dirs, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.errors.fetch_add(errors, Ordering::Relaxed);
    }

    /// (entries, dirs, bytes, errors)
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.entries.load(Ordering::Relaxed),
            self.dirs.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

/// Cancel token + progress, passed to every long call.
#[derive(Debug, Clone, Default)]
pub struct Control {
    pub cancel: CancelToken,
    pub progress: Arc<Progress>,
    /// How many directory handles the walker may keep open for later use; `None`: derived from
    /// `RLIMIT_NOFILE` (see [`crate::walk::default_fd_budget`]). Tests set it small.
    pub fd_budget: Option<usize>,
}
