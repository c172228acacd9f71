//! Rows out of the core: a bounded channel of row batches, for any row type.
//!
//! An operation gives each visitor (one per pool thread) its own [`RowSink`]; a sink collects
//! rows into a batch and sends the batch when it holds `batch_size` rows, and sends what is left
//! when flushed (or dropped) at the end of the walk. The channel holds at most `capacity`
//! batches: when it is full, [`RowSink::push`] blocks the walker thread until the consumer takes
//! a batch (backpressure). Rows in memory are therefore bounded by
//! `(capacity + 2 * senders) * batch_size` whatever the size of the tree: `capacity` batches
//! queued, and per sender one batch waiting to be sent and one being filled.
//!
//! When the [`RowReceiver`] is dropped, the next send fails: the sink cancels the call's token
//! (so the walk stops within a directory or a few hundred entries) and drops every later row.
//! A consumer must therefore either keep receiving or drop the receiver; one that stops reading
//! but keeps the receiver blocks the walk (cancelling the token alone does not wake a walker
//! thread blocked on a full channel).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use crate::control::CancelToken;

/// Rows per batch unless the caller says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 1024;
/// Batches the channel holds before senders block.
pub const DEFAULT_CAPACITY: usize = 4;

/// A channel of batches of at most `batch_size` rows (at least 1) holding at most `capacity`
/// batches (0: every send waits for the receiver). A send to a dropped receiver cancels `cancel`.
pub fn channel<R>(
    batch_size: usize,
    capacity: usize,
    cancel: CancelToken,
) -> (RowSink<R>, RowReceiver<R>) {
    let (tx, rx) = mpsc::sync_channel(capacity);
    let sink =
        RowSink { tx, cancel, batch: Vec::new(), batch_size: batch_size.max(1), closed: false };
    (sink, RowReceiver { rx })
}

/// The sending side, one per visitor. A clone sends on the same channel and starts with an
/// empty batch of its own. Dropping a sink flushes it, unless the call was cancelled.
pub struct RowSink<R> {
    tx: SyncSender<Vec<R>>,
    cancel: CancelToken,
    batch: Vec<R>,
    batch_size: usize,
    /// The receiver is gone: rows are dropped.
    closed: bool,
}

impl<R> RowSink<R> {
    /// Adds a row; sends the batch when full, blocking while the channel is full. Returns false
    /// when the receiver is gone (the row is dropped and the call's token cancelled).
    pub fn push(&mut self, row: R) -> bool {
        if self.closed {
            return false;
        }
        if self.batch.capacity() == 0 {
            // Allocated on first use: sinks of threads that never see an entry cost nothing.
            self.batch.reserve_exact(self.batch_size);
        }
        self.batch.push(row);
        if self.batch.len() >= self.batch_size {
            self.flush()
        } else {
            true
        }
    }

    /// Sends the rows collected so far, if any (blocking while the channel is full). Returns
    /// false when the receiver is gone.
    pub fn flush(&mut self) -> bool {
        if self.closed {
            self.batch.clear();
            return false;
        }
        if self.batch.is_empty() {
            return true;
        }
        if self.tx.send(std::mem::take(&mut self.batch)).is_err() {
            self.closed = true;
            self.cancel.cancel();
            return false;
        }
        true
    }

    /// True once a send found the receiver gone.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl<R> Clone for RowSink<R> {
    fn clone(&self) -> Self {
        RowSink {
            tx: self.tx.clone(),
            cancel: self.cancel.clone(),
            batch: Vec::new(),
            batch_size: self.batch_size,
            closed: self.closed,
        }
    }
}

impl<R> Drop for RowSink<R> {
    fn drop(&mut self) {
        // A cancelled call's rows are not wanted, and its consumer may no longer be reading.
        if !self.batch.is_empty() && !self.cancel.is_cancelled() {
            self.flush();
        }
    }
}

/// What [`RowReceiver::recv_timeout`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<R> {
    Batch(Vec<R>),
    /// Nothing within the timeout; the call is still running.
    Timeout,
    /// Every sink is gone: no more rows. The call has returned or is about to.
    End,
}

/// The receiving side. Dropping it makes the senders stop (see the module's doc).
pub struct RowReceiver<R> {
    rx: Receiver<Vec<R>>,
}

impl<R> RowReceiver<R> {
    /// The next batch, waiting as long as it takes; `None` at the end of the rows.
    pub fn recv(&self) -> Option<Vec<R>> {
        self.rx.recv().ok()
    }

    /// The next batch, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Received<R> {
        match self.rx.recv_timeout(timeout) {
            Ok(batch) => Received::Batch(batch),
            Err(RecvTimeoutError::Timeout) => Received::Timeout,
            Err(RecvTimeoutError::Disconnected) => Received::End,
        }
    }
}

impl<R> Iterator for RowReceiver<R> {
    type Item = Vec<R>;

    fn next(&mut self) -> Option<Vec<R>> {
        self.recv()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::thread;

    use super::*;

    #[test]
    fn rows_arrive_in_full_batches_then_the_rest_on_flush() {
        let (mut sink, rx) = channel(1024, DEFAULT_CAPACITY, CancelToken::new());
        let producer = thread::spawn(move || {
            for i in 0..2500u32 {
                assert!(sink.push(i));
            }
            assert!(sink.flush());
        });
        let batches: Vec<Vec<u32>> = rx.collect();
        producer.join().unwrap();
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [1024, 1024, 452]);
        assert_eq!(batches.concat(), (0..2500).collect::<Vec<_>>());
    }

    #[test]
    fn a_dropped_sink_sends_what_it_holds() {
        let (mut sink, rx) = channel(10, 2, CancelToken::new());
        let mut other = sink.clone();
        assert!(sink.push(1));
        assert!(other.push(2));
        drop((sink, other));
        let mut rows = rx.collect::<Vec<_>>().concat();
        rows.sort_unstable();
        assert_eq!(rows, [1, 2]);
    }

    /// Two producers (as two walker threads) push 500,000 rows each; the consumer takes its time.
    /// Rows pushed but not yet received never exceed what the channel and the two sinks hold.
    #[test]
    fn a_slow_consumer_holds_back_the_producers() {
        const BATCH: usize = 1024;
        const CAPACITY: usize = 4;
        const PRODUCERS: usize = 2;
        const ROWS_EACH: u64 = 500_000;
        let cancel = CancelToken::new();
        let (sink, rx) = channel(BATCH, CAPACITY, cancel.clone());
        let pushed = Arc::new(AtomicU64::new(0));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let (mut sink, pushed) = (sink.clone(), pushed.clone());
                thread::spawn(move || {
                    for i in 0..ROWS_EACH {
                        pushed.fetch_add(1, Ordering::SeqCst);
                        assert!(sink.push(i));
                    }
                })
            })
            .collect();
        drop(sink);
        let bound = ((CAPACITY + 2 * PRODUCERS) * BATCH) as u64;
        let (mut received, mut most_ahead, mut batches) = (0u64, 0u64, 0u64);
        while let Some(batch) = rx.recv() {
            assert!(batch.len() <= BATCH);
            let ahead = pushed.load(Ordering::SeqCst) - received;
            assert!(ahead <= bound, "{ahead} rows in flight, more than {bound}");
            most_ahead = most_ahead.max(ahead);
            received += batch.len() as u64;
            batches += 1;
            if batches % 8 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(received, PRODUCERS as u64 * ROWS_EACH);
        assert!(!cancel.is_cancelled());
        eprintln!("at most {most_ahead} rows in flight (bound {bound})");
    }

    #[test]
    fn a_dropped_receiver_stops_the_producer_and_cancels() {
        let parent = CancelToken::new();
        let cancel = parent.child();
        let (mut sink, rx) = channel(100, 2, cancel.clone());
        let producer = thread::spawn(move || {
            let mut pushed = 0u64;
            while pushed < 1_000_000 && sink.push(pushed) {
                pushed += 1;
            }
            assert!(sink.is_closed());
            assert!(!sink.push(0), "later rows are refused");
            pushed
        });
        assert_eq!(rx.recv().map(|b| b.len()), Some(100));
        drop(rx);
        let pushed = producer.join().unwrap();
        assert!(pushed < 1_000, "the producer went on after the receiver was dropped: {pushed}");
        assert!(cancel.is_cancelled());
        assert!(!parent.is_cancelled(), "the caller's token is left alone");
    }

    #[test]
    fn recv_timeout_tells_waiting_from_the_end() {
        let (mut sink, rx) = channel(2, 1, CancelToken::new());
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Received::Timeout);
        sink.push(7u8);
        sink.flush();
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Received::Batch(vec![7]));
        drop(sink);
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Received::End);
    }
}
