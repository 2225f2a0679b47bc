//! The changelogging window store.

use super::ChangelogSink;
use crate::window::WindowEntry;
use crate::{window_key, PutOutcome, StoreError, WindowBytesStore};

/// Passes every call to the inner store and logs each applied put with the encoded window key.
///
/// In duplicates mode the key carries this wrapper's own sequence number (restarting at 0 when
/// the wrapper is recreated, as in Kafka Streams) so that a compacted changelog keeps every
/// duplicate.
pub struct ChangeLoggingWindowStore {
    inner: Box<dyn WindowBytesStore>,
    sink: Box<dyn ChangelogSink>,
    seq: u32,
}

impl ChangeLoggingWindowStore {
    /// Wraps `inner`, logging to `sink`.
    pub fn new(inner: Box<dyn WindowBytesStore>, sink: Box<dyn ChangelogSink>) -> Self {
        Self { inner, sink, seq: 0 }
    }

    /// The wrapped store (for restoring without re-logging).
    pub fn inner_mut(&mut self) -> &mut dyn WindowBytesStore {
        self.inner.as_mut()
    }
}

impl WindowBytesStore for ChangeLoggingWindowStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn retention_ms(&self) -> i64 {
        self.inner.retention_ms()
    }

    fn retains_duplicates(&self) -> bool {
        self.inner.retains_duplicates()
    }

    fn put(&mut self, key: &[u8], window_start: i64, value: Option<&[u8]>) -> Result<PutOutcome, StoreError> {
        let outcome = self.inner.put(key, window_start, value)?;
        if outcome.is_written() {
            let log_key = if self.inner.retains_duplicates() {
                self.seq = self.seq.wrapping_add(1);
                window_key::encode_with_seq(key, window_start, self.seq)
            } else {
                window_key::encode(key, window_start)
            };
            self.sink.record(self.inner.name(), &log_key, value);
        }
        Ok(outcome)
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.fetch(key, window_start)
    }

    fn fetch_range(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.inner.fetch_range(key, from, to)
    }

    fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowEntry>, StoreError> {
        self.inner.fetch_all(from, to)
    }

    fn all(&self) -> Result<Vec<WindowEntry>, StoreError> {
        self.inner.all()
    }

    fn observed_stream_time(&self) -> i64 {
        self.inner.observed_stream_time()
    }

    fn clock_time(&self) -> Option<i64> {
        self.inner.clock_time()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.inner.close()
    }
}
