//! Deduplication of repartitioned records, so at-least-once never double-counts across
//! sub-topologies.
//!
//! Upstream, [`StampSource`] (placed right before a repartition sink) adds the header
//! [`SOURCE_HEADER`] = `topic:partition:offset:seq` naming the input record that produced each
//! record, `seq` numbering the records one input produced (flat_map, split). Downstream,
//! [`DropDuplicates`] (right after the repartition source) keeps, per input topic and
//! partition, the highest `(offset, seq)` seen in a changelogged store, and drops what is not
//! greater: the records an upstream task re-sends when it replays uncommitted input after a
//! crash. The store is restored to the same commit point as the task's other stores, so a
//! downstream replay is accepted again exactly once.

use std::collections::HashMap;
use std::rc::Rc;

use kstreams_core::Record;
use kstreams_core::Result;
use kstreams_core::Serde;
use kstreams_core::SerdeError;
use kstreams_core::{Processor, ProcessorContext};

use crate::processors::StoreHandle;
use kstreams_state::KeyValueStore;

// The header naming the input record a repartitioned record came from:
// `<input topic>:<input partition>:<input offset>:<seq>` in ASCII (Kafka topic names cannot
// contain `:`). The core removes it from records of outside topics, so it cannot be forged.
pub(crate) use kstreams_core::SOURCE_HEADER;

/// Stamps [`SOURCE_HEADER`] on every record from the task's current origin.
pub(crate) struct StampSource {
    last: Option<(Rc<str>, i32, i64)>,
    seq: u32,
}

impl StampSource {
    pub(crate) fn new() -> Self {
        Self { last: None, seq: 0 }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for StampSource {
    fn process(&mut self, mut r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, V>) -> Result<()> {
        r.headers.remove(SOURCE_HEADER);
        // Records emitted by punctuations have no origin: they go unstamped (and pass).
        if let Some(o) = ctx.origin() {
            let same = matches!(&self.last, Some((t, p, off)) if *off == o.offset && *p == o.partition && **t == *o.topic);
            if same {
                self.seq = self.seq.saturating_add(1);
            } else {
                self.last = Some((o.topic.clone(), o.partition, o.offset));
                self.seq = 0;
            }
            let value = format!("{}:{}:{}:{}", o.topic, o.partition, o.offset, self.seq);
            r.headers.add(SOURCE_HEADER, value.into_bytes());
        }
        ctx.forward(r)
    }
}

/// Splits a [`SOURCE_HEADER`] value into `(topic:partition, offset, seq)`; `None` if malformed.
pub(crate) fn parse_source(value: &[u8]) -> Option<(&[u8], i64, u32)> {
    let seq_at = value.iter().rposition(|&b| b == b':')?;
    let offset_at = value[..seq_at].iter().rposition(|&b| b == b':')?;
    let seq = std::str::from_utf8(&value[seq_at + 1..]).ok()?.parse().ok()?;
    let offset = std::str::from_utf8(&value[offset_at + 1..seq_at]).ok()?.parse().ok()?;
    let origin = &value[..offset_at];
    // `topic:partition`: a partition must follow the topic.
    origin.iter().rposition(|&b| b == b':')?;
    Some((origin, offset, seq))
}

/// Encodes the dedup position `(offset, seq)` in 12 big-endian bytes.
pub(crate) struct PositionSerde;

impl Serde<(i64, u32)> for PositionSerde {
    fn serialize_into(&self, value: &(i64, u32), out: &mut Vec<u8>) -> std::result::Result<(), SerdeError> {
        out.extend_from_slice(&value.0.to_be_bytes());
        out.extend_from_slice(&value.1.to_be_bytes());
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> std::result::Result<(i64, u32), SerdeError> {
        match bytes {
            [o @ .., s0, s1, s2, s3] if o.len() == 8 => {
                let mut off = [0u8; 8];
                off.copy_from_slice(o);
                Ok((i64::from_be_bytes(off), u32::from_be_bytes([*s0, *s1, *s2, *s3])))
            }
            _ => Err(SerdeError::new(format!("dedup position: expected 12 bytes, got {}", bytes.len()))),
        }
    }
}

/// Highest accepted `(offset, seq)` per `topic:partition`.
type PositionStore = KeyValueStore<Vec<u8>, (i64, u32)>;

/// Drops records whose `(offset, seq)` is not above the highest seen for their input
/// partition; the store keeps those positions, keyed by `topic:partition` bytes.
pub(crate) struct DropDuplicates {
    store_name: String,
    store: Option<StoreHandle<PositionStore>>,
    /// The store's content, read once per input partition.
    seen: HashMap<Vec<u8>, (i64, u32)>,
    key_buf: Vec<u8>,
    task: String,
}

impl DropDuplicates {
    pub(crate) fn new(store_name: String) -> Self {
        Self { store_name, store: None, seen: HashMap::new(), key_buf: Vec::new(), task: String::new() }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for DropDuplicates {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, V>) -> Result<()> {
        self.store = Some(ctx.store(&self.store_name)?);
        self.seen.clear();
        self.task = ctx.task_id().to_string();
        Ok(())
    }

    fn process(&mut self, mut r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, V>) -> Result<()> {
        let Some(store) = &self.store else { return ctx.forward(r) };
        let Some((origin, offset, seq)) = r.headers.last(SOURCE_HEADER).and_then(parse_source) else {
            // Not stamped (another producer, or a punctuation upstream): pass.
            return ctx.forward(r);
        };
        let position = (offset, seq);
        let known = match self.seen.get(origin) {
            Some(p) => Some(*p),
            None => {
                self.key_buf.clear();
                self.key_buf.extend_from_slice(origin);
                let stored = store.borrow_mut().get(&self.key_buf)?;
                if let Some(p) = stored {
                    self.seen.insert(self.key_buf.clone(), p);
                }
                stored
            }
        };
        if known.is_some_and(|k| position <= k) {
            ctx.metrics().dropped_records += 1;
            metrics::counter!("kstreams_duplicate_records_dropped_total", "task" => self.task.clone(), "processor" => ctx.node_name().to_string())
                .increment(1);
            return Ok(());
        }
        self.key_buf.clear();
        self.key_buf.extend_from_slice(origin);
        match self.seen.get_mut(origin) {
            Some(p) => *p = position,
            None => {
                self.seen.insert(self.key_buf.clone(), position);
            }
        }
        store.borrow_mut().put(&self.key_buf, &position)?;
        r.headers.remove(SOURCE_HEADER);
        ctx.forward(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_source_headers() {
        assert_eq!(parse_source(b"in:2:17:3"), Some((&b"in:2"[..], 17, 3)));
        assert_eq!(parse_source(b"a.b-c:0:0:0"), Some((&b"a.b-c:0"[..], 0, 0)));
        assert_eq!(parse_source(b"in:17:3"), None);
        assert_eq!(parse_source(b"in:2:x:3"), None);
        assert_eq!(parse_source(b""), None);
    }

    #[test]
    fn position_round_trips() {
        let bytes = PositionSerde.serialize(&(-1, 7)).unwrap_or_default();
        assert_eq!(PositionSerde.deserialize(&bytes).ok(), Some((-1, 7)));
        assert!(PositionSerde.deserialize(b"short").is_err());
    }
}
