//! The machinery shared by every segmented store: a backend holding one map per segment, and
//! the bookkeeping of stream time, live segments and expiry on top of it.
//!
//! Window and session logic ([`window::WindowCore`], [`session::SessionCore`]) is written once
//! against [`SegmentBackend`]; the in-memory and RocksDB stores differ only in their backend.

pub(crate) mod session;
pub(crate) mod window;

use std::collections::BTreeSet;

use crate::{KvIter, PutOutcome, SegmentSpec, StoreError, StreamClock};

/// One write into a segment: `(segment id, key, value or None = delete)`.
pub(crate) type SegmentWrite<'a> = (i64, &'a [u8], Option<&'a [u8]>);

/// Storage of ordered byte maps, one per segment id.
pub(crate) trait SegmentBackend: Send {
    /// Segment ids that already exist (after a restart).
    fn existing_segments(&self) -> Result<Vec<i64>, StoreError>;
    /// The stream time persisted by [`SegmentBackend::write`], if the backend persists it.
    fn stored_stream_time(&self) -> Result<Option<i64>, StoreError>;
    /// Creates an empty segment.
    fn create_segment(&mut self, id: i64) -> Result<(), StoreError>;
    /// Drops a segment and everything in it.
    fn drop_segment(&mut self, id: i64) -> Result<(), StoreError>;
    /// Reads one key of a segment.
    fn get(&self, id: i64, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes one key of an existing segment (`None` = delete) together with the new stream
    /// time, if any, atomically. With `id = None` only the stream time is written.
    fn write(&mut self, entry: Option<SegmentWrite<'_>>, stream_time: Option<i64>) -> Result<(), StoreError>;
    /// The entries of a segment with keys in `[lower, upper)`, ascending.
    fn scan(&self, id: i64, lower: &[u8], upper: Option<&[u8]>) -> Result<KvIter<'_>, StoreError>;
    /// Called by the store's `close`.
    fn close(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Stream time, live segments and expiry over a [`SegmentBackend`].
pub(crate) struct Segmented<B> {
    name: String,
    spec: SegmentSpec,
    observed: i64,
    /// The task's stream time, if the store follows it (see [`StreamClock`]).
    clock: Option<StreamClock>,
    /// The expiry time segments were last dropped at.
    expired_at: i64,
    live: BTreeSet<i64>,
    backend: B,
}

impl<B: SegmentBackend> Segmented<B> {
    /// Adopts the backend's existing segments and stream time, dropping expired segments.
    pub fn open(
        name: &str,
        spec: SegmentSpec,
        backend: B,
        clock: Option<StreamClock>,
    ) -> Result<Self, StoreError> {
        let live = backend.existing_segments()?.into_iter().collect();
        let observed = backend.stored_stream_time()?.unwrap_or(i64::MIN);
        let mut this =
            Self { name: name.to_owned(), spec, observed, clock, expired_at: i64::MIN, live, backend };
        this.drop_expired_segments()?;
        Ok(this)
    }

    /// The time segments expire by: the newest timestamp written, held back to the task's
    /// stream time when the store follows one.
    fn expiry_time(&self) -> i64 {
        self.clock_time().map_or(self.observed, |c| self.observed.min(c))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn spec(&self) -> &SegmentSpec {
        &self.spec
    }

    pub fn observed(&self) -> i64 {
        self.observed
    }

    /// The task's stream time the store expires by, if it follows one.
    pub fn clock_time(&self) -> Option<i64> {
        self.clock.as_ref().map(StreamClock::get)
    }

    /// The smallest timestamp that is not expired.
    pub fn cutoff(&self) -> i64 {
        self.spec.cutoff(self.expiry_time())
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Writes `key` in the segment of `ts`, advancing stream time to `ts` first.
    pub fn put(&mut self, ts: i64, key: &[u8], value: Option<&[u8]>) -> Result<PutOutcome, StoreError> {
        let advanced = ts > self.observed;
        if advanced {
            self.observed = ts;
        }
        let now = self.expiry_time();
        if now > self.expired_at {
            self.drop_expired_segments()?;
        }
        if self.spec.is_expired(ts, now) {
            return Ok(PutOutcome::Expired);
        }
        let id = self.spec.segment_id(ts);
        let time = advanced.then_some(ts);
        match value {
            Some(value) => {
                if !self.live.contains(&id) {
                    self.backend.create_segment(id)?;
                    self.live.insert(id);
                }
                self.backend.write(Some((id, key, Some(value))), time)?;
            }
            None if self.live.contains(&id) => self.backend.write(Some((id, key, None)), time)?,
            None if time.is_some() => self.backend.write(None, time)?,
            None => {}
        }
        Ok(PutOutcome::Written)
    }

    /// Reads `key` from the segment of `ts`, unless `ts` is expired.
    pub fn get(&self, ts: i64, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let id = self.spec.segment_id(ts);
        if self.spec.is_expired(ts, self.expiry_time()) || !self.live.contains(&id) {
            return Ok(None);
        }
        self.backend.get(id, key)
    }

    /// Live segments that may hold timestamps in `[from, to]`, ascending. Expired timestamps
    /// in the oldest of them must still be filtered out by the caller.
    pub fn segments_between(&self, from: i64, to: i64) -> Vec<i64> {
        let from = from.max(self.cutoff());
        if from > to {
            return Vec::new();
        }
        let (lo, hi) = (self.spec.segment_id(from), self.spec.segment_id(to));
        self.live.range(lo..=hi).copied().collect()
    }

    /// Ids of the segments currently live, ascending.
    pub fn live_segments(&self) -> impl Iterator<Item = i64> + '_ {
        self.live.iter().copied()
    }

    fn drop_expired_segments(&mut self) -> Result<(), StoreError> {
        let now = self.expiry_time();
        self.expired_at = now;
        let min_live = self.spec.min_live_segment(now);
        let expired: Vec<i64> = self.live.range(..min_live).copied().collect();
        for id in expired {
            tracing::debug!(store = %self.name, segment = id, "dropping expired segment");
            self.backend.drop_segment(id)?;
            self.live.remove(&id);
        }
        Ok(())
    }

    /// Turns undecodable stored bytes into an error naming this store.
    pub fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt { store: self.name.clone(), detail: detail.into() }
    }
}
