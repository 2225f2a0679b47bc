//! Window store logic over any segment backend, and the macro that exposes it as a
//! [`crate::WindowBytesStore`].

use super::{SegmentBackend, Segmented};
use crate::bounds::prefix_successor;
use crate::codec::{key_len_ok, key_prefix, put_ts};
use crate::window::WindowEntry;
use crate::{window_key, PutOutcome, StoreError, WindowStoreOptions};

/// Window semantics (key layout, duplicates, ordering) on top of [`Segmented`].
pub(crate) struct WindowCore<B> {
    seg: Segmented<B>,
    duplicates: bool,
    seq: u32,
}

impl<B: SegmentBackend> WindowCore<B> {
    pub fn open(name: &str, options: &WindowStoreOptions, backend: B) -> Result<Self, StoreError> {
        let spec = options.spec(name)?;
        let seg = Segmented::open(name, spec, backend, options.clock.clone())?;
        Ok(Self { seg, duplicates: options.retain_duplicates, seq: 0 })
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

    pub fn retains_duplicates(&self) -> bool {
        self.duplicates
    }

    pub fn observed_stream_time(&self) -> i64 {
        self.seg.observed()
    }

    pub fn close(&mut self) -> Result<(), StoreError> {
        self.seg.backend_mut().close()
    }

    pub fn put(&mut self, key: &[u8], start: i64, value: Option<&[u8]>) -> Result<PutOutcome, StoreError> {
        if !key_len_ok(key) {
            return Err(StoreError::InvalidArgument {
                store: self.name().to_owned(),
                detail: format!("key of {} bytes is too long", key.len()),
            });
        }
        if !self.duplicates {
            return self.seg.put(start, &window_key::encode(key, start), value);
        }
        if value.is_none() {
            return Err(StoreError::Unsupported {
                store: self.name().to_owned(),
                operation: "delete in a store that retains duplicates",
            });
        }
        self.seq = self.seq.wrapping_add(1);
        self.seg.put(start, &window_key::encode_with_seq(key, start, self.seq), value)
    }

    pub fn fetch(&self, key: &[u8], start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        if !self.duplicates {
            return self.seg.get(start, &window_key::encode(key, start));
        }
        Ok(self.fetch_range(key, start, start)?.into_iter().next().map(|(_, v)| v))
    }

    pub fn fetch_range(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let from = from.max(self.seg.cutoff());
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        let lower = window_key::encode(key, from);
        let mut upper_prefix = key_prefix(key);
        put_ts(&mut upper_prefix, to);
        let upper = prefix_successor(&upper_prefix);
        for id in self.seg.segments_between(from, to) {
            for item in self.seg.backend().scan(id, &lower, upper.as_deref())? {
                let (k, v) = item?;
                let decoded =
                    window_key::decode(&k).ok_or_else(|| self.seg.corrupt("undecodable window key"))?;
                out.push((decoded.start, v));
            }
        }
        Ok(out)
    }

    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowEntry>, StoreError> {
        let from = from.max(self.seg.cutoff());
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        for id in self.seg.segments_between(from, to) {
            for item in self.seg.backend().scan(id, &[], None)? {
                let (k, v) = item?;
                let decoded =
                    window_key::decode(&k).ok_or_else(|| self.seg.corrupt("undecodable window key"))?;
                if (from..=to).contains(&decoded.start) {
                    out.push((decoded.key.to_vec(), decoded.start, v));
                }
            }
        }
        // Each segment is ordered by (key, start, seq); a stable sort keeps seq order.
        out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        Ok(out)
    }
}

/// Implements [`crate::WindowBytesStore`] for a newtype with a `core: WindowCore<_>` field.
macro_rules! impl_window_store_via_core {
    ($ty:ty) => {
        impl $crate::WindowBytesStore for $ty {
            fn name(&self) -> &str {
                self.core.name()
            }
            fn retention_ms(&self) -> i64 {
                self.core.retention_ms()
            }
            fn retains_duplicates(&self) -> bool {
                self.core.retains_duplicates()
            }
            fn put(
                &mut self,
                key: &[u8],
                window_start: i64,
                value: Option<&[u8]>,
            ) -> Result<$crate::PutOutcome, $crate::StoreError> {
                self.core.put(key, window_start, value)
            }
            fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, $crate::StoreError> {
                self.core.fetch(key, window_start)
            }
            fn fetch_range(
                &self,
                key: &[u8],
                from: i64,
                to: i64,
            ) -> Result<Vec<(i64, Vec<u8>)>, $crate::StoreError> {
                self.core.fetch_range(key, from, to)
            }
            fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<$crate::WindowEntry>, $crate::StoreError> {
                self.core.fetch_all(from, to)
            }
            fn observed_stream_time(&self) -> i64 {
                self.core.observed_stream_time()
            }
            fn clock_time(&self) -> Option<i64> {
                self.core.segmented().clock_time()
            }
            fn close(&mut self) -> Result<(), $crate::StoreError> {
                self.core.close()
            }
        }
    };
}
pub(crate) use impl_window_store_via_core;
