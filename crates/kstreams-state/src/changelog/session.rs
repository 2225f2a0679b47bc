//! The changelogging session store.

use super::ChangelogSink;
use crate::session::{KeyedSessionEntry, SessionEntry};
use crate::{session_key, PutOutcome, SessionBytesStore, StoreError};

/// Passes every call to the inner store and logs each applied put with the encoded session key.
pub struct ChangeLoggingSessionStore {
    inner: Box<dyn SessionBytesStore>,
    sink: Box<dyn ChangelogSink>,
}

impl ChangeLoggingSessionStore {
    /// Wraps `inner`, logging to `sink`.
    pub fn new(inner: Box<dyn SessionBytesStore>, sink: Box<dyn ChangelogSink>) -> Self {
        Self { inner, sink }
    }

    /// The wrapped store (for restoring without re-logging).
    pub fn inner_mut(&mut self) -> &mut dyn SessionBytesStore {
        self.inner.as_mut()
    }
}

impl SessionBytesStore for ChangeLoggingSessionStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn retention_ms(&self) -> i64 {
        self.inner.retention_ms()
    }

    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<PutOutcome, StoreError> {
        let outcome = self.inner.put(key, start, end, value)?;
        if outcome.is_written() {
            let log_key = session_key::encode(key, start, end);
            self.sink.record(self.inner.name(), &log_key, value);
        }
        Ok(outcome)
    }

    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.fetch_session(key, start, end)
    }

    fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        self.inner.find_sessions(key, earliest_end, latest_start)
    }

    fn fetch_key(&self, key: &[u8]) -> Result<Vec<SessionEntry>, StoreError> {
        self.inner.fetch_key(key)
    }

    fn all(&self) -> Result<Vec<KeyedSessionEntry>, StoreError> {
        self.inner.all()
    }

    fn observed_stream_time(&self) -> i64 {
        self.inner.observed_stream_time()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.inner.close()
    }
}
