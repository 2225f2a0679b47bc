//! Versioned tables (KIP-889) and stream-table joins that read them as of each stream
//! record's timestamp, optionally after a grace period (KIP-914, KIP-923).

use std::sync::Arc;

use kstreams_core::Record;
use kstreams_core::{Processor, ProcessorContext};
use kstreams_core::{Result, Serde, StreamsError};

use crate::processors::join_stream::JoinFns;
use crate::processors::StoreHandle;
use crate::table::Change;
use kstreams_state::{KeyValueStore, VersionedKeyValueStore, VersionedPut};

/// Writes a topic into a versioned store. As in Kafka's `KTableSource` over a versioned store,
/// an update older than the history retention is dropped; an out-of-order update is stored
/// (as-of reads see it) and, unlike Kafka (which forwards it flagged `isLatest = false` and
/// lets joins and `group_by` drop it), not forwarded: downstream operators see the latest
/// value of each key only.
pub(crate) struct VersionedTableSource<K, V> {
    pub(crate) store_name: String,
    pub(crate) store: Option<StoreHandle<VersionedKeyValueStore<K, V>>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Option<V>, K, Change<V>>
    for VersionedTableSource<K, V>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        self.store = Some(ctx.store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Option<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<()> {
        let Some(store) = &self.store else { return Ok(()) };
        let (old, put) = {
            let mut s = store.borrow_mut();
            let old = s.get(&r.key)?.map(|(v, _)| v);
            (old, s.put(&r.key, r.value.as_ref(), r.timestamp)?)
        };
        match put {
            VersionedPut::Latest if old.is_some() || r.value.is_some() => ctx.forward(Record {
                key: r.key,
                value: Change { new: r.value, old },
                timestamp: r.timestamp,
                headers: r.headers,
            }),
            VersionedPut::Rejected => {
                ctx.metrics().dropped_records += 1;
                tracing::debug!(
                    processor = ctx.node_name(),
                    timestamp = r.timestamp,
                    "dropping a table update older than the versioned store's history retention"
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The buffer of a stream-table join with a grace period.
pub(crate) struct JoinBuffer<K, V> {
    pub(crate) store_name: String,
    pub(crate) grace_ms: i64,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) value_serde: Arc<dyn Serde<V>>,
}

/// Buffer store layout: `0x00` → buffer stream time and sequence number (16 bytes);
/// `0x01 ‖ timestamp (sign-flipped, big-endian) ‖ seq` → key length (u32) ‖ key ‖ value.
type BufferStore = KeyValueStore<Vec<u8>, Vec<u8>>;

const META: &[u8] = &[0x00];

fn flip(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

fn read_i64(bytes: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    i64::from_be_bytes(b)
}

/// Joins each stream record with the versioned table's value as of the record's timestamp.
/// With a buffer, a record first waits until the buffer's stream time (the largest timestamp
/// it was given) is `grace` past it, then the waiting records join in timestamp order; a
/// record that arrives already that late joins at once (Kafka's `KStreamKTableJoinProcessor`).
pub(crate) struct VersionedStreamTableJoin<K, V, VT, VR> {
    pub(crate) table_store: String,
    pub(crate) fns: Arc<JoinFns<K, V, VT, VR>>,
    pub(crate) buffer: Option<Arc<JoinBuffer<K, V>>>,
    pub(crate) table: Option<StoreHandle<VersionedKeyValueStore<K, VT>>>,
    pub(crate) buffered: Option<StoreHandle<BufferStore>>,
    /// Buffer stream time and next sequence number, read from the store on first use.
    pub(crate) meta: Option<(i64, u64)>,
}

impl<K, V, VT, VR> VersionedStreamTableJoin<K, V, VT, VR>
where
    K: Clone + 'static,
    V: 'static,
    VT: 'static,
    VR: Clone + 'static,
{
    fn join(&self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        let table =
            self.table.as_ref().ok_or_else(|| StreamsError::Topology("join used before init".into()))?;
        let current = table.borrow_mut().get_as_of(&r.key, r.timestamp)?.map(|(v, _)| v);
        match self.fns.combine(&r.key, Some(&r.value), current.as_ref()) {
            Some(out) => {
                ctx.forward(Record { key: r.key, value: out, timestamp: r.timestamp, headers: r.headers })
            }
            None => Ok(()),
        }
    }

    fn buffer_and_release(
        &mut self,
        buffer: &JoinBuffer<K, V>,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, VR>,
    ) -> Result<()> {
        let store =
            self.buffered.clone().ok_or_else(|| StreamsError::Topology("join used before init".into()))?;
        let err = |e| StreamsError::store(buffer.store_name.clone(), "join buffer", e);
        let (stream_time, seq) = match self.meta {
            Some(m) => m,
            None => match store.borrow_mut().get(&META.to_vec())? {
                Some(b) if b.len() == 16 => (read_i64(&b), read_i64(&b[8..]) as u64),
                _ => (i64::MIN, 0),
            },
        };
        let stream_time = stream_time.max(r.timestamp);
        let cutoff = stream_time.saturating_sub(buffer.grace_ms);
        let mut seq = seq;
        if r.timestamp < cutoff {
            self.join(r, ctx)?;
        } else {
            let mut key = vec![0x01];
            key.extend_from_slice(&flip(r.timestamp));
            key.extend_from_slice(&seq.to_be_bytes());
            seq += 1;
            let k = buffer.key_serde.serialize(&r.key).map_err(err)?;
            let mut value = Vec::with_capacity(4 + k.len());
            value.extend_from_slice(&(k.len() as u32).to_be_bytes());
            value.extend_from_slice(&k);
            buffer.value_serde.serialize_into(&r.value, &mut value).map_err(err)?;
            store.borrow_mut().put(&key, &value)?;
        }
        let mut meta = stream_time.to_be_bytes().to_vec();
        meta.extend_from_slice(&(seq as i64).to_be_bytes());
        store.borrow_mut().put(&META.to_vec(), &meta)?;
        self.meta = Some((stream_time, seq));

        let mut to = vec![0x01];
        to.extend_from_slice(&flip(cutoff));
        to.extend_from_slice(&[0xff; 8]);
        let due = store.borrow().range(&vec![0x01], &to)?;
        for (key, value) in due {
            store.borrow_mut().delete(&key)?;
            let ts = ts_from_flipped(read_i64(&key[1..9]));
            let klen = value.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
            let Some(klen) = klen.filter(|l| value.len() >= 4 + l) else {
                return Err(err(kstreams_core::SerdeError::new("malformed join buffer entry")));
            };
            let k = buffer.key_serde.deserialize(&value[4..4 + klen]).map_err(err)?;
            let v = buffer.value_serde.deserialize(&value[4 + klen..]).map_err(err)?;
            self.join(Record::new(k, v, ts), ctx)?;
        }
        Ok(())
    }
}

/// The timestamp of a buffer key, whose 8 bytes were read as a big-endian `i64`.
fn ts_from_flipped(read: i64) -> i64 {
    ((read as u64) ^ (1 << 63)) as i64
}

impl<K, V, VT, VR> Processor<K, V, K, VR> for VersionedStreamTableJoin<K, V, VT, VR>
where
    K: Clone + 'static,
    V: 'static,
    VT: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        self.table = Some(ctx.store(&self.table_store)?);
        if let Some(b) = &self.buffer {
            self.buffered = Some(ctx.store(&b.store_name)?);
        }
        self.meta = None;
        Ok(())
    }

    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        match self.buffer.clone() {
            Some(buffer) => self.buffer_and_release(&buffer, r, ctx),
            None => self.join(r, ctx),
        }
    }
}
