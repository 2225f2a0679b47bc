//! Re-grouping a table by a new key and aggregating it with an adder and a subtractor
//! (Kafka's `KTableRepartitionMap`, `KTableAggregate`, `KTableReduce`), and the serde of the
//! changes that travel through the repartition topic between them.

use std::sync::Arc;

use kstreams_core::Record;
use kstreams_core::{Processor, ProcessorContext};
use kstreams_core::{Result, Serde, SerdeError};

use crate::processors::aggregate::result_timestamp;
use crate::processors::StoreHandle;
use crate::table::Change;
use kstreams_state::KeyValueStore;

/// `selector(key, value) -> (new key, new value)` of `KTable::group_by`.
pub(crate) type Selector<K, V, K2, V2> = Arc<dyn Fn(&K, &V) -> (K2, V2) + Send + Sync>;

/// Maps each table update to updates of the new keys. The old value is mapped too: when the
/// new key equals the old one, one change carries both; otherwise the old key gets a change
/// that removes the old value, then the new key one that adds the new value (as Kafka 3.5+).
pub(crate) struct TableRepartitionMap<K, V, K2, V2> {
    pub(crate) selector: Selector<K, V, K2, V2>,
}

impl<K, V, K2, V2> Processor<K, Change<V>, K2, Change<V2>> for TableRepartitionMap<K, V, K2, V2>
where
    K: 'static,
    V: 'static,
    K2: Clone + PartialEq + 'static,
    V2: Clone + 'static,
{
    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K2, Change<V2>>,
    ) -> Result<()> {
        let new = r.value.new.as_ref().map(|v| (self.selector)(&r.key, v));
        let old = r.value.old.as_ref().map(|v| (self.selector)(&r.key, v));
        let ts = r.timestamp;
        match (new, old) {
            (Some((kn, vn)), Some((ko, vo))) if kn == ko => ctx.forward(Record {
                key: kn,
                value: Change { new: Some(vn), old: Some(vo) },
                timestamp: ts,
                headers: r.headers,
            }),
            (new, old) => {
                if let Some((ko, vo)) = old {
                    let change = Change { new: None, old: Some(vo) };
                    ctx.forward(Record {
                        key: ko,
                        value: change,
                        timestamp: ts,
                        headers: r.headers.clone(),
                    })?;
                }
                if let Some((kn, vn)) = new {
                    let change = Change { new: Some(vn), old: None };
                    ctx.forward(Record { key: kn, value: change, timestamp: ts, headers: r.headers })?;
                }
                Ok(())
            }
        }
    }
}

/// `add(key, value, aggregate or None)`.
pub(crate) type AddFn<K, V, A> = Arc<dyn Fn(&K, &V, Option<A>) -> A + Send + Sync>;
/// `subtract(key, value, aggregate)`.
pub(crate) type SubtractFn<K, V, A> = Arc<dyn Fn(&K, &V, A) -> A + Send + Sync>;

/// Aggregates the changes of a re-grouped table: subtracts the old value (if there is an
/// aggregate), then adds the new one; stores and forwards the result, even when it is the
/// initial value again, stamped with the largest timestamp aggregated.
pub(crate) struct TableAggregate<K, V, A> {
    pub(crate) add: AddFn<K, V, A>,
    pub(crate) subtract: SubtractFn<K, V, A>,
    pub(crate) store_name: String,
    pub(crate) store: Option<StoreHandle<KeyValueStore<K, A>>>,
}

impl<K: Clone + 'static, V: 'static, A: Clone + 'static> Processor<K, Change<V>, K, Change<A>>
    for TableAggregate<K, V, A>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> Result<()> {
        self.store = Some(ctx.store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<A>>,
    ) -> Result<()> {
        let Some(store) = &self.store else { return Ok(()) };
        let (new, old, timestamp) = {
            let mut s = store.borrow_mut();
            let stored = s.get_with_timestamp(&r.key)?;
            let timestamp = result_timestamp(r.timestamp, stored.as_ref().map(|(_, ts)| *ts));
            let old = stored.map(|(a, _)| a);
            let intermediate = match (&r.value.old, old.clone()) {
                (Some(v), Some(agg)) => Some((self.subtract)(&r.key, v, agg)),
                (_, agg) => agg,
            };
            let new = match &r.value.new {
                Some(v) => Some((self.add)(&r.key, v, intermediate)),
                None => intermediate,
            };
            match &new {
                Some(a) => s.put_with_timestamp(&r.key, a, timestamp)?,
                None => s.delete(&r.key)?,
            }
            (new, old, timestamp)
        };
        ctx.forward(Record { key: r.key, value: Change { new, old }, timestamp, headers: r.headers })
    }
}

/// A [`Change`] on the wire: a flags byte (1: new value present, 2: old value present), then
/// the new value's length (u32, big-endian) when both are present, then the values.
pub(crate) struct ChangeSerde<V>(pub(crate) Arc<dyn Serde<V>>);

impl<V: 'static> Serde<Change<V>> for ChangeSerde<V> {
    fn serialize_into(&self, value: &Change<V>, out: &mut Vec<u8>) -> std::result::Result<(), SerdeError> {
        let flags = u8::from(value.new.is_some()) | (u8::from(value.old.is_some()) << 1);
        out.push(flags);
        if let Some(n) = &value.new {
            if value.old.is_some() {
                let at = out.len();
                out.extend_from_slice(&[0; 4]);
                self.0.serialize_into(n, out)?;
                let len =
                    u32::try_from(out.len() - at - 4).map_err(|_| SerdeError::new("change too large"))?;
                out[at..at + 4].copy_from_slice(&len.to_be_bytes());
            } else {
                self.0.serialize_into(n, out)?;
            }
        }
        if let Some(o) = &value.old {
            self.0.serialize_into(o, out)?;
        }
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> std::result::Result<Change<V>, SerdeError> {
        let Some((&flags, rest)) = bytes.split_first() else {
            return Err(SerdeError::new("empty change"));
        };
        match flags {
            0 => Ok(Change { new: None, old: None }),
            1 => Ok(Change { new: Some(self.0.deserialize(rest)?), old: None }),
            2 => Ok(Change { new: None, old: Some(self.0.deserialize(rest)?) }),
            3 => {
                let (len, rest) =
                    rest.split_at_checked(4).ok_or_else(|| SerdeError::new("truncated change"))?;
                let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
                let (new, old) =
                    rest.split_at_checked(len).ok_or_else(|| SerdeError::new("truncated change"))?;
                Ok(Change { new: Some(self.0.deserialize(new)?), old: Some(self.0.deserialize(old)?) })
            }
            f => Err(SerdeError::new(format!("change: unknown flags {f}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip() {
        let serde = ChangeSerde::<String>(Arc::new(kstreams_core::StringSerde));
        for change in [
            Change { new: None, old: None },
            Change { new: Some("n".to_string()), old: None },
            Change { new: None, old: Some("o".to_string()) },
            Change { new: Some("new".to_string()), old: Some(String::new()) },
        ] {
            let bytes = serde.serialize(&change).unwrap_or_default();
            assert_eq!(serde.deserialize(&bytes).ok(), Some(change));
        }
        assert!(serde.deserialize(&[3, 0, 0, 0, 9]).is_err());
    }
}
