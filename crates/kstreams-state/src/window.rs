//! The byte-level window store contract.
//!
//! Kafka Streams semantics: a window store keeps, per key, one value per window start (or
//! several, in duplicates mode) for `retention_ms` of *stream time*. Stream time is the largest
//! window start ever put ([`WindowBytesStore::observed_stream_time`]); a window is **expired**
//! when `start < observed_stream_time - retention_ms`. Expired puts are ignored
//! ([`PutOutcome::Expired`]) and fetches never return expired windows. Storage is segmented by
//! window start (see [`crate::SegmentSpec`]) and whole segments are dropped once every window in
//! them has expired.

use crate::{SegmentSpec, StoreError};

/// What a window or session store did with a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The write (or delete) was applied.
    Written,
    /// The window or session had already expired; nothing was written.
    Expired,
}

impl PutOutcome {
    /// Whether the write was applied.
    pub fn is_written(self) -> bool {
        self == Self::Written
    }
}

/// A window store entry: `(key, window start, value)`.
pub type WindowEntry = (Vec<u8>, i64, Vec<u8>);

/// A segmented, retention-bounded store of `(key, window start) -> value`.
///
/// Implementations: [`crate::MemoryWindowStore`], [`crate::RocksWindowStore`], and the wrappers
/// [`crate::ChangeLoggingWindowStore`] and [`crate::CachingWindowStore`].
pub trait WindowBytesStore: Send {
    /// The store's name, unique within its task.
    fn name(&self) -> &str;

    /// How long windows are kept, in milliseconds of stream time.
    fn retention_ms(&self) -> i64;

    /// Whether several values may share `(key, start)` (stream-stream join buffers). Such stores
    /// append on every put and do not support deletes.
    fn retains_duplicates(&self) -> bool {
        false
    }

    /// Stores `value` for the window of `key` starting at `window_start`; `None` deletes it.
    /// Advances stream time to `window_start` if it is larger.
    fn put(&mut self, key: &[u8], window_start: i64, value: Option<&[u8]>) -> Result<PutOutcome, StoreError>;

    /// The value of one window (in duplicates mode: the oldest value), unless expired.
    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The windows of `key` whose start is in `[from, to]` (inclusive), ascending by start, then
    /// by insertion order for duplicates.
    fn fetch_range(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<(i64, Vec<u8>)>, StoreError>;

    /// The windows of all keys whose start is in `[from, to]`, ascending by **start, then key**
    /// (then insertion order for duplicates).
    fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowEntry>, StoreError>;

    /// Every unexpired window, in the order of [`WindowBytesStore::fetch_all`].
    fn all(&self) -> Result<Vec<WindowEntry>, StoreError> {
        self.fetch_all(i64::MIN, i64::MAX)
    }

    /// The largest window start ever put, or `i64::MIN` before the first put. Persistent
    /// stores keep it with their data, so it holds after a reopen: the store holds no window
    /// starting later (the write cache relies on this to skip reads of new windows).
    fn observed_stream_time(&self) -> i64;

    /// The owning task's stream time, when the store expires by it (see
    /// [`WindowStoreOptions::clock`]); wrappers forward it.
    fn clock_time(&self) -> Option<i64> {
        None
    }

    /// The time windows expire by: [`WindowBytesStore::observed_stream_time`], held back to
    /// [`WindowBytesStore::clock_time`] when there is one.
    fn expiry_time(&self) -> i64 {
        let t = self.observed_stream_time();
        self.clock_time().map_or(t, |c| t.min(c))
    }

    /// Makes buffered writes visible to the layer below (caches); a no-op where meaningless.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Flushes and releases resources; the store is not used afterwards.
    fn close(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// How a window store is laid out: retention, segment size, duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowStoreOptions {
    /// How long windows are kept, in milliseconds of stream time.
    pub retention_ms: i64,
    /// Segment width; `None` = Kafka's default `max(retention / 2, 60_000)`.
    pub segment_interval_ms: Option<i64>,
    /// Keep every value put for the same `(key, start)` (join buffers).
    pub retain_duplicates: bool,
    /// The owning task's stream time; segments expire by `min(newest timestamp written,
    /// this)`. `None`: by the newest timestamp written, as Kafka Streams does.
    pub clock: Option<crate::StreamClock>,
}

impl WindowStoreOptions {
    /// Options with the given retention, default segments, no duplicates.
    pub fn new(retention_ms: i64) -> Self {
        Self { retention_ms, segment_interval_ms: None, retain_duplicates: false, clock: None }
    }

    /// Sets the segment width.
    pub fn segment_interval_ms(mut self, interval_ms: i64) -> Self {
        self.segment_interval_ms = Some(interval_ms);
        self
    }

    /// Turns duplicates mode on or off.
    pub fn retain_duplicates(mut self, retain: bool) -> Self {
        self.retain_duplicates = retain;
        self
    }

    /// Expires segments by the task's stream time `clock`.
    pub fn clock(mut self, clock: crate::StreamClock) -> Self {
        self.clock = Some(clock);
        self
    }

    pub(crate) fn spec(&self, store: &str) -> Result<SegmentSpec, StoreError> {
        SegmentSpec::new(store, self.retention_ms, self.segment_interval_ms)
    }
}
