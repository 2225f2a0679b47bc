//! The byte-level session store contract.
//!
//! A session is `[start, end]` (both inclusive) for one key. Stream time is the largest session
//! end ever put; a session is **expired** when `end < observed_stream_time - retention_ms`.
//! Storage is segmented by session end and expired segments are dropped whole.

use crate::{PutOutcome, SegmentSpec, StoreError};

/// A session of one key: `(start, end, value)`.
pub type SessionEntry = (i64, i64, Vec<u8>);

/// A session of any key: `(key, start, end, value)`.
pub type KeyedSessionEntry = (Vec<u8>, i64, i64, Vec<u8>);

/// A segmented, retention-bounded store of `(key, start, end) -> value`.
///
/// Implementations: [`crate::MemorySessionStore`], [`crate::RocksSessionStore`], and the
/// wrapper [`crate::ChangeLoggingSessionStore`].
pub trait SessionBytesStore: Send {
    /// The store's name, unique within its task.
    fn name(&self) -> &str;

    /// How long sessions are kept after they end, in milliseconds of stream time.
    fn retention_ms(&self) -> i64;

    /// Stores the session `[start, end]` of `key`; `None` removes it. Fails with
    /// [`StoreError::InvalidArgument`] if `start > end`. Advances stream time to `end`.
    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<PutOutcome, StoreError>;

    /// The value of exactly the session `[start, end]` of `key`, unless expired.
    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Sessions of `key` with `end >= earliest_end` and `start <= latest_start` (touching at
    /// the boundary counts), ascending by end, then start. This is how merge candidates are
    /// found: `find_sessions(key, t - gap, t + gap)`.
    fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError>;

    /// Every unexpired session of `key`, ascending by end, then start.
    fn fetch_key(&self, key: &[u8]) -> Result<Vec<SessionEntry>, StoreError> {
        self.find_sessions(key, i64::MIN, i64::MAX)
    }

    /// Every unexpired session, ascending by **end, then key, then start**.
    fn all(&self) -> Result<Vec<KeyedSessionEntry>, StoreError>;

    /// The largest session end ever put, or `i64::MIN` before the first put.
    fn observed_stream_time(&self) -> i64;

    /// Makes buffered writes visible to the layer below (caches); a no-op where meaningless.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Flushes and releases resources; the store is not used afterwards.
    fn close(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// How a session store is laid out: retention and segment size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStoreOptions {
    /// How long sessions are kept after they end, in milliseconds of stream time.
    pub retention_ms: i64,
    /// Segment width; `None` = Kafka's default `max(retention / 2, 60_000)`.
    pub segment_interval_ms: Option<i64>,
    /// The owning task's stream time (see [`crate::WindowStoreOptions::clock`]).
    pub clock: Option<crate::StreamClock>,
}

impl SessionStoreOptions {
    /// Options with the given retention and default segments.
    pub fn new(retention_ms: i64) -> Self {
        Self { retention_ms, segment_interval_ms: None, clock: None }
    }

    /// Sets the segment width.
    pub fn segment_interval_ms(mut self, interval_ms: i64) -> Self {
        self.segment_interval_ms = Some(interval_ms);
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
