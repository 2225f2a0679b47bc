//! The in-memory segment backend: one `BTreeMap` per segment.

use std::collections::BTreeMap;

use crate::bounds::HalfOpen;
use crate::segmented::{SegmentBackend, SegmentWrite};
use crate::{KvIter, StoreError};

/// Segments as maps; dropping a segment drops its map.
#[derive(Debug, Default)]
pub(crate) struct MemorySegments {
    segments: BTreeMap<i64, BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl SegmentBackend for MemorySegments {
    fn existing_segments(&self) -> Result<Vec<i64>, StoreError> {
        Ok(self.segments.keys().copied().collect())
    }

    fn stored_stream_time(&self) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }

    fn create_segment(&mut self, id: i64) -> Result<(), StoreError> {
        self.segments.entry(id).or_default();
        Ok(())
    }

    fn drop_segment(&mut self, id: i64) -> Result<(), StoreError> {
        self.segments.remove(&id);
        Ok(())
    }

    fn get(&self, id: i64, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.segments.get(&id).and_then(|s| s.get(key)).cloned())
    }

    fn write(
        &mut self,
        entry: Option<SegmentWrite<'_>>,
        _stream_time: Option<i64>,
    ) -> Result<(), StoreError> {
        if let Some((id, key, value)) = entry {
            let segment = self.segments.entry(id).or_default();
            match value {
                Some(value) => segment.insert(key.to_vec(), value.to_vec()),
                None => segment.remove(key),
            };
        }
        Ok(())
    }

    fn scan(&self, id: i64, lower: &[u8], upper: Option<&[u8]>) -> Result<KvIter<'_>, StoreError> {
        let to = upper.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let (Some(segment), Some(range)) =
            (self.segments.get(&id), HalfOpen::from_bounds(std::ops::Bound::Included(lower), to))
        else {
            return Ok(Box::new(std::iter::empty()));
        };
        let entries = segment.range::<[u8], _>(range.as_bounds()).map(|(k, v)| Ok((k.clone(), v.clone())));
        Ok(Box::new(entries))
    }
}
