//! [`VersionedKeyValueStore`]: a key-value store that keeps the history of each key (Kafka
//! Streams' versioned stores, KIP-889), and its builder.
//!
//! Every write is a *version* `(value or tombstone, timestamp)`; a read names the time it is
//! "as of" and gets the version valid then. The store keeps history for `history_retention`
//! of its own stream time (the largest timestamp written to it): a write older than that is
//! rejected, and a read as of a time older than that sees only the latest version. As in Kafka
//! Streams the latest version of a key never expires.
//!
//! Layout in the byte store (one stack as every store: cache → changelog → RocksDB or memory):
//! a version is key `0x01 ‖ key ‖ timestamp` (big-endian, sign bit flipped so versions sort by
//! time) → `0x01 ‖ value` or `0x00` for a tombstone; the store's stream time is kept under the
//! key `0x00`, so a restore from the changelog brings it back. Older versions of a key are
//! removed when the key is written again and they fall out of the history; the history of a
//! key that is never written again stays (Kafka drops whole segments instead).

use std::ops::Bound;
use std::sync::Arc;

use kstreams_core::{
    BuiltStore, BytesSerde, Result, Serde, StateStore, StoreBuilder, StoreContext, StreamsError,
};

use crate::kv::KeyValueBytesStore;
use crate::typed::kv::{KeyValueStore, KeyValueStoreBuilder};
use crate::typed::spec::StoreSpec;
use crate::typed::stack::{serde_err, store_err};

/// What a [`VersionedKeyValueStore::put`] did (Kafka's `put` return codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionedPut {
    /// Stored, and now the latest version of its key (Kafka's `-1`).
    Latest,
    /// Stored as an older version, valid until the next version's timestamp.
    Superseded {
        /// The timestamp of the next version.
        valid_to: i64,
    },
    /// Older than the history retention: not stored (Kafka's `Long.MIN_VALUE`).
    Rejected,
}

/// One version of a key.
type Version = (i64, Option<Vec<u8>>);

const META_KEY: &[u8] = &[0x00];
const VERSION: u8 = 0x01;

fn encode_ts(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

fn decode_ts(bytes: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// A typed versioned key-value store of one task.
pub struct VersionedKeyValueStore<K, V> {
    bytes: KeyValueStore<Vec<u8>, Vec<u8>>,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    history_ms: i64,
    /// The store's stream time, read from the store on first use (`None` inside: no write yet).
    observed: Option<Option<i64>>,
}

impl<K: 'static, V: 'static> VersionedKeyValueStore<K, V> {
    fn name(&self) -> &str {
        &self.bytes.name
    }

    fn inner(&mut self) -> &mut dyn KeyValueBytesStore {
        &mut *self.bytes.inner
    }

    fn prefix(&self, key: &K) -> Result<Vec<u8>> {
        let mut p = vec![VERSION];
        self.key_serde.serialize_into(key, &mut p).map_err(serde_err(self.name(), "encode key"))?;
        Ok(p)
    }

    /// The store's stream time: the largest timestamp written to it (`None` before any write).
    pub fn observed_stream_time(&mut self) -> Result<Option<i64>> {
        if let Some(o) = self.observed {
            return Ok(o);
        }
        let name = self.name().to_string();
        let stored = self.inner().get(META_KEY).map_err(store_err(&name, "read stream time"))?;
        let observed = stored.filter(|b| b.len() == 8).map(|b| decode_ts(&b));
        self.observed = Some(observed);
        Ok(observed)
    }

    /// The versions of the key with encoded prefix `prefix`, by ascending timestamp.
    fn versions(&self, prefix: &[u8]) -> Result<Vec<Version>> {
        let mut out = Vec::new();
        let iter = self.bytes.inner.prefix_scan(prefix).map_err(store_err(self.name(), "versions"))?;
        for entry in iter {
            let (k, v) = entry.map_err(store_err(self.name(), "versions"))?;
            // Longer keys that share the prefix are other keys.
            if k.len() != prefix.len() + 8 {
                continue;
            }
            let value = match v.split_first() {
                Some((&VERSION, rest)) => Some(rest.to_vec()),
                _ => None,
            };
            out.push((decode_ts(&k[prefix.len()..]), value));
        }
        Ok(out)
    }

    fn decode(&self, bytes: Option<Vec<u8>>) -> Result<Option<V>> {
        bytes
            .map(|b| self.value_serde.deserialize(&b).map_err(serde_err(self.name(), "decode value")))
            .transpose()
    }

    /// The value of `key` valid as of `as_of`, with the timestamp of its version (Kafka's
    /// `get(key, asOfTimestamp)`): the version with the largest timestamp `<= as_of`, unless
    /// that is a tombstone. For an `as_of` older than the history retention only the latest
    /// version is considered.
    pub fn get_as_of(&mut self, key: &K, as_of: i64) -> Result<Option<(V, i64)>> {
        let prefix = self.prefix(key)?;
        let versions = self.versions(&prefix)?;
        let cutoff = self.observed_stream_time()?.map_or(i64::MIN, |o| o.saturating_sub(self.history_ms));
        let found = if as_of < cutoff {
            versions.last().filter(|(ts, _)| *ts <= as_of).cloned()
        } else {
            versions.into_iter().rev().find(|(ts, _)| *ts <= as_of)
        };
        match found {
            Some((ts, value)) => Ok(self.decode(value)?.map(|v| (v, ts))),
            None => Ok(None),
        }
    }

    /// The latest value of `key`, with its timestamp (`None` when its latest version is a
    /// tombstone or it has none).
    pub fn get(&mut self, key: &K) -> Result<Option<(V, i64)>> {
        let prefix = self.prefix(key)?;
        match self.versions(&prefix)?.pop() {
            Some((ts, value)) => Ok(self.decode(value)?.map(|v| (v, ts))),
            None => Ok(None),
        }
    }

    /// Writes a version of `key` at `timestamp` (`None`: a tombstone, Kafka's `delete`),
    /// replacing one with the same timestamp. Rejected when older than the history retention.
    pub fn put(&mut self, key: &K, value: Option<&V>, timestamp: i64) -> Result<VersionedPut> {
        let observed = self.observed_stream_time()?;
        if observed.is_some_and(|o| timestamp < o.saturating_sub(self.history_ms)) {
            return Ok(VersionedPut::Rejected);
        }
        let prefix = self.prefix(key)?;
        let versions = self.versions(&prefix)?;
        let mut encoded = Vec::new();
        if let Some(v) = value {
            encoded.push(VERSION);
            self.value_serde.serialize_into(v, &mut encoded).map_err(serde_err(self.name(), "put"))?;
        } else {
            encoded.push(0x00);
        }
        let mut version_key = prefix.clone();
        version_key.extend_from_slice(&encode_ts(timestamp));
        let name = self.name().to_string();
        self.inner().put(&version_key, &encoded).map_err(store_err(&name, "put"))?;
        let observed = observed.map_or(timestamp, |o| o.max(timestamp));
        if self.observed != Some(Some(observed)) {
            self.inner().put(META_KEY, &encode_ts(observed)).map_err(store_err(&name, "put stream time"))?;
            self.observed = Some(Some(observed));
        }
        // Versions no read can reach any more: older than the one valid at the cutoff.
        let cutoff = observed.saturating_sub(self.history_ms);
        let mut all: Vec<i64> = versions.iter().map(|(ts, _)| *ts).filter(|ts| *ts != timestamp).collect();
        all.push(timestamp);
        all.sort_unstable();
        if let Some(valid_at_cutoff) = all.iter().rev().find(|ts| **ts <= cutoff) {
            for ts in all.iter().filter(|ts| *ts < valid_at_cutoff) {
                let mut k = prefix.clone();
                k.extend_from_slice(&encode_ts(*ts));
                self.inner().delete(&k).map_err(store_err(&name, "expire version"))?;
            }
        }
        Ok(match all.iter().find(|ts| **ts > timestamp) {
            Some(next) => VersionedPut::Superseded { valid_to: *next },
            None => VersionedPut::Latest,
        })
    }

    /// Every key with its latest value and that value's timestamp (keys whose latest version
    /// is a tombstone are left out), in the byte order of the encoded keys.
    pub fn all_latest(&self) -> Result<Vec<(K, V, i64)>> {
        let mut latest: Vec<(Vec<u8>, Version)> = Vec::new();
        let from = [VERSION];
        let iter = self
            .bytes
            .inner
            .range(Bound::Included(&from[..]), Bound::Unbounded)
            .map_err(store_err(self.name(), "all"))?;
        for entry in iter {
            let (k, v) = entry.map_err(store_err(self.name(), "all"))?;
            if k.len() < 9 {
                continue;
            }
            let (key, ts) = k[1..].split_at(k.len() - 9);
            let value = match v.split_first() {
                Some((&VERSION, rest)) => Some(rest.to_vec()),
                _ => None,
            };
            let version = (decode_ts(ts), value);
            match latest.last_mut() {
                Some((last, v)) if last.as_slice() == key => *v = version,
                _ => latest.push((key.to_vec(), version)),
            }
        }
        let mut out = Vec::new();
        for (key, (ts, value)) in latest {
            if let Some(v) = self.decode(value)? {
                let k = self.key_serde.deserialize(&key).map_err(serde_err(self.name(), "all"))?;
                out.push((k, v, ts));
            }
        }
        Ok(out)
    }

    /// The history retention in ms.
    pub fn history_retention_ms(&self) -> i64 {
        self.history_ms
    }
}

/// Flushing, restoring and closing go to the byte stack; a restore forgets the cached stream
/// time, which is read back from the store.
impl<K: 'static, V: 'static> StateStore for VersionedKeyValueStore<K, V> {
    fn name(&self) -> &str {
        &self.bytes.name
    }
    fn flush(&mut self) -> Result<()> {
        self.bytes.flush()
    }
    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.observed = None;
        self.bytes.restore_batch(records)
    }
    fn close(&mut self) -> Result<()> {
        self.bytes.close()
    }
    fn approximate_entries(&self) -> u64 {
        self.bytes.approximate_entries()
    }
}

/// Builds a [`VersionedKeyValueStore`] per task (Kafka's
/// `Stores.persistentVersionedKeyValueStore(name, historyRetention)`).
pub struct VersionedKeyValueStoreBuilder<K, V> {
    bytes: KeyValueStoreBuilder<Vec<u8>, Vec<u8>>,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    history_ms: i64,
}

impl<K, V> VersionedKeyValueStoreBuilder<K, V> {
    /// A builder for the store `spec` keeping `history_ms` of history.
    pub fn new(
        spec: StoreSpec,
        history_ms: i64,
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
    ) -> Self {
        let bytes = KeyValueStoreBuilder::new(spec, Arc::new(BytesSerde), Arc::new(BytesSerde));
        Self { bytes, key_serde, value_serde, history_ms }
    }

    /// The key serde, e.g. to find which task holds a key.
    pub fn key_serde(&self) -> &Arc<dyn Serde<K>> {
        &self.key_serde
    }
}

impl<K: 'static, V: 'static> StoreBuilder for VersionedKeyValueStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.bytes.spec.name
    }
    fn logging_enabled(&self) -> bool {
        self.bytes.spec.logging
    }
    fn persistent(&self) -> bool {
        self.bytes.spec.store_type == crate::StoreType::RocksDb
    }
    fn build(&self, ctx: StoreContext<'_>) -> Result<BuiltStore> {
        if self.history_ms < 0 {
            return Err(StreamsError::Topology(format!(
                "versioned store `{}`: the history retention must not be negative",
                self.bytes.spec.name
            )));
        }
        Ok(BuiltStore::new(VersionedKeyValueStore {
            bytes: self.bytes.build_typed(ctx)?,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            history_ms: self.history_ms,
            observed: None,
        }))
    }
}
