//! Session store logic over any segment backend, and the macro that exposes it as a
//! [`crate::SessionBytesStore`].

use super::{SegmentBackend, Segmented};
use crate::bounds::prefix_successor;
use crate::codec::{key_len_ok, key_prefix};
use crate::session::{KeyedSessionEntry, SessionEntry};
use crate::{session_key, PutOutcome, SessionStoreOptions, StoreError};

/// Session semantics (key layout, overlap search, ordering) on top of [`Segmented`].
pub(crate) struct SessionCore<B> {
    seg: Segmented<B>,
}

impl<B: SegmentBackend> SessionCore<B> {
    pub fn open(name: &str, options: &SessionStoreOptions, backend: B) -> Result<Self, StoreError> {
        let spec = options.spec(name)?;
        Ok(Self { seg: Segmented::open(name, spec, backend, options.clock.clone())? })
    }

    pub fn segmented(&self) -> &Segmented<B> {
        &self.seg
    }

    pub fn name(&self) -> &str {
        self.seg.name()
    }

    pub fn retention_ms(&self) -> i64 {
        self.seg.spec().retention_ms()
    }

    pub fn observed_stream_time(&self) -> i64 {
        self.seg.observed()
    }

    pub fn close(&mut self) -> Result<(), StoreError> {
        self.seg.backend_mut().close()
    }

    pub fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<PutOutcome, StoreError> {
        if start > end || !key_len_ok(key) {
            return Err(StoreError::InvalidArgument {
                store: self.name().to_owned(),
                detail: format!(
                    "session [{start}, {end}] with a key of {} bytes: start must not exceed end and keys must fit in u32",
                    key.len()
                ),
            });
        }
        self.seg.put(end, &session_key::encode(key, start, end), value)
    }

    pub fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.seg.get(end, &session_key::encode(key, start, end))
    }

    pub fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let earliest_end = earliest_end.max(self.seg.cutoff());
        let lower = session_key::lower_bound(key, earliest_end);
        let upper = prefix_successor(&key_prefix(key));
        let mut out = Vec::new();
        // A session may start before `latest_start` and end arbitrarily late, so every segment
        // from `earliest_end` on is searched.
        for id in self.seg.segments_between(earliest_end, i64::MAX) {
            for item in self.seg.backend().scan(id, &lower, upper.as_deref())? {
                let (k, v) = item?;
                let s = session_key::decode(&k).ok_or_else(|| self.seg.corrupt("undecodable session key"))?;
                if s.start <= latest_start {
                    out.push((s.start, s.end, v));
                }
            }
        }
        Ok(out)
    }

    pub fn all(&self) -> Result<Vec<KeyedSessionEntry>, StoreError> {
        let cutoff = self.seg.cutoff();
        let mut out = Vec::new();
        for id in self.seg.segments_between(cutoff, i64::MAX) {
            for item in self.seg.backend().scan(id, &[], None)? {
                let (k, v) = item?;
                let s = session_key::decode(&k).ok_or_else(|| self.seg.corrupt("undecodable session key"))?;
                if s.end >= cutoff {
                    out.push((s.key.to_vec(), s.start, s.end, v));
                }
            }
        }
        // Each segment is ordered by (key, end, start).
        out.sort_by(|a, b| (a.2, &a.0, a.1).cmp(&(b.2, &b.0, b.1)));
        Ok(out)
    }
}

/// Implements [`crate::SessionBytesStore`] for a newtype with a `core: SessionCore<_>` field.
macro_rules! impl_session_store_via_core {
    ($ty:ty) => {
        impl $crate::SessionBytesStore for $ty {
            fn name(&self) -> &str {
                self.core.name()
            }
            fn retention_ms(&self) -> i64 {
                self.core.retention_ms()
            }
            fn put(
                &mut self,
                key: &[u8],
                start: i64,
                end: i64,
                value: Option<&[u8]>,
            ) -> Result<$crate::PutOutcome, $crate::StoreError> {
                self.core.put(key, start, end, value)
            }
            fn fetch_session(
                &self,
                key: &[u8],
                start: i64,
                end: i64,
            ) -> Result<Option<Vec<u8>>, $crate::StoreError> {
                self.core.fetch_session(key, start, end)
            }
            fn find_sessions(
                &self,
                key: &[u8],
                earliest_end: i64,
                latest_start: i64,
            ) -> Result<Vec<$crate::SessionEntry>, $crate::StoreError> {
                self.core.find_sessions(key, earliest_end, latest_start)
            }
            fn all(&self) -> Result<Vec<$crate::KeyedSessionEntry>, $crate::StoreError> {
                self.core.all()
            }
            fn observed_stream_time(&self) -> i64 {
                self.core.observed_stream_time()
            }
            fn close(&mut self) -> Result<(), $crate::StoreError> {
                self.core.close()
            }
        }
    };
}
pub(crate) use impl_session_store_via_core;
