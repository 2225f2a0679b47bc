//! The RocksDB segment backend: one column family `<store>.<segment id>` per segment.

use std::sync::Arc;

use super::db::{segment_cf, StoreClaim, StoreKind};
use super::RocksDbTaskDb;
use crate::segmented::{SegmentBackend, SegmentWrite};
use crate::{KvIter, StoreError};

/// Segments as column families; dropping a segment drops its column family. Stream time is
/// persisted in the task db's internal column family, in the same write as the data.
pub(crate) struct RocksSegments {
    claim: StoreClaim,
}

impl RocksSegments {
    pub fn new(db: Arc<RocksDbTaskDb>, store: &str) -> Result<Self, StoreError> {
        Ok(Self { claim: StoreClaim::new(db, store, StoreKind::Segmented)? })
    }

    fn db(&self) -> &RocksDbTaskDb {
        self.claim.db()
    }

    fn store(&self) -> &str {
        self.claim.name()
    }

    /// The column family of segment `id`.
    pub fn cf_name(&self, id: i64) -> String {
        segment_cf(self.store(), id)
    }
}

impl SegmentBackend for RocksSegments {
    fn existing_segments(&self) -> Result<Vec<i64>, StoreError> {
        Ok(self.db().segment_ids(self.store()))
    }

    fn stored_stream_time(&self) -> Result<Option<i64>, StoreError> {
        let Some(raw) = self.db().get_internal(self.store().as_bytes())? else {
            return Ok(None);
        };
        let raw: [u8; 8] = raw.as_slice().try_into().map_err(|_| StoreError::Corrupt {
            store: self.store().to_owned(),
            detail: format!("stream time entry of {} bytes", raw.len()),
        })?;
        Ok(Some(i64::from_be_bytes(raw)))
    }

    fn create_segment(&mut self, id: i64) -> Result<(), StoreError> {
        self.db().ensure_cf(&self.cf_name(id))
    }

    fn drop_segment(&mut self, id: i64) -> Result<(), StoreError> {
        self.db().drop_cf(&self.cf_name(id))
    }

    fn get(&self, id: i64, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db().get(self.store(), &self.cf_name(id), key)
    }

    fn write(&mut self, entry: Option<SegmentWrite<'_>>, stream_time: Option<i64>) -> Result<(), StoreError> {
        let db = self.db();
        let segment = match entry {
            Some((id, key, value)) => Some((db.cf(&self.cf_name(id))?, key, value)),
            None => None,
        };
        let internal = db.internal_cf()?;
        db.write(self.store(), |batch| {
            match segment {
                Some((cf, key, Some(value))) => batch.put_cf(&cf, key, value),
                Some((cf, key, None)) => batch.delete_cf(&cf, key),
                None => {}
            }
            if let Some(time) = stream_time {
                batch.put_cf(&internal, self.store().as_bytes(), time.to_be_bytes());
            }
        })
    }

    fn scan(&self, id: i64, lower: &[u8], upper: Option<&[u8]>) -> Result<KvIter<'_>, StoreError> {
        let lower = (!lower.is_empty()).then(|| lower.to_vec());
        self.db().iter(self.store(), &self.cf_name(id), lower, upper.map(<[u8]>::to_vec))
    }
}
