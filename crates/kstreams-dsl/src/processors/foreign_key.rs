//! The processors of a foreign-key table-table join (KIP-213), as Kafka Streams'
//! `foreignkeyjoin` package: the left table subscribes each row to the right row its foreign
//! key names, the right side answers each subscription (and again on every right update) with
//! the right value, and the left side joins an answer if the left row has not changed since.

use std::sync::Arc;

use kstreams_core::Record;
use kstreams_core::{Processor, ProcessorContext};
use kstreams_core::{Result, Serde, SerdeError, StreamsError};

use crate::processors::StoreHandle;
use crate::table::Change;
use kstreams_state::KeyValueStore;

/// What the right side does with a subscription (Kafka's `SubscriptionWrapper.Instruction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instruction {
    /// Forget the subscription, answer nothing.
    DeleteKeyNoPropagate = 0,
    /// Forget the subscription, answer "no right value".
    DeleteKeyAndPropagate = 1,
    /// Subscribe, answer with the right value or "none".
    PropagateNullIfNoFkValAvailable = 2,
    /// Subscribe, answer only if there is a right value.
    PropagateOnlyIfFkValAvailable = 3,
}

/// A subscription of the left row `pk`, whose value hashes to `hash`.
#[derive(Debug, Clone)]
pub(crate) struct Subscription<K> {
    pub(crate) hash: Option<u128>,
    pub(crate) instruction: Instruction,
    pub(crate) pk: K,
}

/// The right side's answer to the left row it is keyed by.
#[derive(Debug, Clone)]
pub(crate) struct Response<VO> {
    pub(crate) hash: Option<u128>,
    pub(crate) value: Option<VO>,
}

/// FNV-1a, 128 bits: stable across processes, so answers compare after a restart.
pub(crate) fn hash(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    bytes.iter().fold(OFFSET, |h, b| (h ^ u128::from(*b)).wrapping_mul(PRIME))
}

fn put_hash(out: &mut Vec<u8>, hash: Option<u128>) {
    match hash {
        Some(h) => {
            out.push(1);
            out.extend_from_slice(&h.to_be_bytes());
        }
        None => out.push(0),
    }
}

fn take_hash(bytes: &[u8]) -> std::result::Result<(Option<u128>, &[u8]), SerdeError> {
    match bytes.split_first() {
        Some((0, rest)) => Ok((None, rest)),
        Some((1, rest)) if rest.len() >= 16 => {
            let (h, rest) = rest.split_at(16);
            let mut b = [0u8; 16];
            b.copy_from_slice(h);
            Ok((Some(u128::from_be_bytes(b)), rest))
        }
        _ => Err(SerdeError::new("malformed hash")),
    }
}

/// Subscriptions on the wire: instruction, hash, then the left key.
pub(crate) struct SubscriptionSerde<K>(pub(crate) Arc<dyn Serde<K>>);

impl<K: 'static> Serde<Subscription<K>> for SubscriptionSerde<K> {
    fn serialize_into(
        &self,
        value: &Subscription<K>,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), SerdeError> {
        out.push(value.instruction as u8);
        put_hash(out, value.hash);
        self.0.serialize_into(&value.pk, out)
    }
    fn deserialize(&self, bytes: &[u8]) -> std::result::Result<Subscription<K>, SerdeError> {
        let (i, rest) = bytes.split_first().ok_or_else(|| SerdeError::new("empty subscription"))?;
        let instruction = match i {
            0 => Instruction::DeleteKeyNoPropagate,
            1 => Instruction::DeleteKeyAndPropagate,
            2 => Instruction::PropagateNullIfNoFkValAvailable,
            3 => Instruction::PropagateOnlyIfFkValAvailable,
            other => return Err(SerdeError::new(format!("unknown subscription instruction {other}"))),
        };
        let (hash, rest) = take_hash(rest)?;
        Ok(Subscription { hash, instruction, pk: self.0.deserialize(rest)? })
    }
}

/// Responses on the wire: hash, then a presence byte and the right value.
pub(crate) struct ResponseSerde<VO>(pub(crate) Arc<dyn Serde<VO>>);

impl<VO: 'static> Serde<Response<VO>> for ResponseSerde<VO> {
    fn serialize_into(&self, value: &Response<VO>, out: &mut Vec<u8>) -> std::result::Result<(), SerdeError> {
        put_hash(out, value.hash);
        match &value.value {
            Some(v) => {
                out.push(1);
                self.0.serialize_into(v, out)
            }
            None => {
                out.push(0);
                Ok(())
            }
        }
    }
    fn deserialize(&self, bytes: &[u8]) -> std::result::Result<Response<VO>, SerdeError> {
        let (hash, rest) = take_hash(bytes)?;
        let value = match rest.split_first() {
            Some((0, _)) => None,
            Some((1, v)) => Some(self.0.deserialize(v)?),
            _ => return Err(SerdeError::new("malformed response")),
        };
        Ok(Response { hash, value })
    }
}

/// `fk(left value)`: the right key a left row refers to.
pub(crate) type ForeignKeyFn<V, KO> = Arc<dyn Fn(&V) -> KO + Send + Sync>;

/// Left side: turns each left update into subscriptions keyed by foreign key, with the
/// instructions of Kafka's `SubscriptionSendProcessorSupplier` (as of Kafka 4.1, which no
/// longer answers "none" for an inner-join update that keeps its foreign key).
pub(crate) struct SubscriptionSend<V, KO> {
    pub(crate) fk: ForeignKeyFn<V, KO>,
    pub(crate) value_serde: Arc<dyn Serde<V>>,
    pub(crate) left_join: bool,
}

impl<K: Clone + 'static, V: 'static, KO: Clone + PartialEq + 'static>
    Processor<K, Change<V>, KO, Subscription<K>> for SubscriptionSend<V, KO>
{
    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, KO, Subscription<K>>,
    ) -> Result<()> {
        let hash = match &r.value.new {
            Some(v) => Some(hash(
                &self
                    .value_serde
                    .serialize(v)
                    .map_err(|e| StreamsError::process(ctx.node_name(), e.to_string()))?,
            )),
            None => None,
        };
        let new_fk = r.value.new.as_ref().map(|v| (self.fk)(v));
        let old_fk = r.value.old.as_ref().map(|v| (self.fk)(v));
        let send = |fk: KO, instruction: Instruction, ctx: &mut ProcessorContext<'_, KO, Subscription<K>>| {
            let value = Subscription { hash, instruction, pk: r.key.clone() };
            ctx.forward(Record { key: fk, value, timestamp: r.timestamp, headers: r.headers.clone() })
        };
        use Instruction::*;
        match (new_fk, old_fk) {
            (Some(new), None) if self.left_join => send(new, PropagateNullIfNoFkValAvailable, ctx),
            (Some(new), None) => send(new, PropagateOnlyIfFkValAvailable, ctx),
            (Some(new), Some(old)) => {
                if new != old {
                    // The new subscription may go to another partition: unsubscribe explicitly,
                    // and answer "none" if the new key has no row, to delete the old result.
                    send(old, DeleteKeyNoPropagate, ctx)?;
                    send(new, PropagateNullIfNoFkValAvailable, ctx)
                } else if self.left_join {
                    send(new, PropagateNullIfNoFkValAvailable, ctx)
                } else {
                    // Same key: if it has no row, the old row did not join either.
                    send(new, PropagateOnlyIfFkValAvailable, ctx)
                }
            }
            (None, Some(old)) => send(old, DeleteKeyAndPropagate, ctx),
            (None, None) => Ok(()),
        }
    }
}

/// The subscription store's key: the foreign key's length (u32), its bytes, then the left
/// key's bytes; its value the subscribing row's hash (16 bytes, or none).
pub(crate) type SubscriptionStore = KeyValueStore<Vec<u8>, Vec<u8>>;

fn combined_prefix(fk: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + fk.len());
    p.extend_from_slice(&(fk.len() as u32).to_be_bytes());
    p.extend_from_slice(fk);
    p
}

/// What the right side of every task shares.
pub(crate) struct RightSpec<K, KO> {
    pub(crate) subscription_store: String,
    pub(crate) right_store: String,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) foreign_key_serde: Arc<dyn Serde<KO>>,
}

fn store_error(store: &str, e: SerdeError) -> StreamsError {
    StreamsError::store(store.to_string(), "foreign-key join", e)
}

/// Right side: records each subscription and answers it with the right value
/// (`SubscriptionReceiveProcessorSupplier` + `SubscriptionJoinProcessorSupplier`).
pub(crate) struct SubscriptionReceive<K, KO, VO> {
    pub(crate) spec: Arc<RightSpec<K, KO>>,
    pub(crate) subscriptions: Option<StoreHandle<SubscriptionStore>>,
    pub(crate) right: Option<StoreHandle<KeyValueStore<KO, VO>>>,
}

impl<K: Clone + 'static, KO: 'static, VO: Clone + 'static> Processor<KO, Subscription<K>, K, Response<VO>>
    for SubscriptionReceive<K, KO, VO>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Response<VO>>) -> Result<()> {
        self.subscriptions = Some(ctx.store(&self.spec.subscription_store)?);
        self.right = Some(ctx.store(&self.spec.right_store)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<KO, Subscription<K>>,
        ctx: &mut ProcessorContext<'_, K, Response<VO>>,
    ) -> Result<()> {
        let (Some(subs), Some(right)) = (&self.subscriptions, &self.right) else { return Ok(()) };
        let spec = &self.spec;
        let fk =
            spec.foreign_key_serde.serialize(&r.key).map_err(|e| store_error(&spec.subscription_store, e))?;
        let mut key = combined_prefix(&fk);
        spec.key_serde
            .serialize_into(&r.value.pk, &mut key)
            .map_err(|e| store_error(&spec.subscription_store, e))?;
        let sub = r.value;
        match sub.instruction {
            Instruction::DeleteKeyNoPropagate | Instruction::DeleteKeyAndPropagate => {
                subs.borrow_mut().delete(&key)?
            }
            _ => {
                let mut hash = Vec::new();
                put_hash(&mut hash, sub.hash);
                subs.borrow_mut().put(&key, &hash)?;
            }
        }
        let current = right.borrow_mut().get_with_timestamp(&r.key)?;
        let (value, timestamp) = match (sub.instruction, current) {
            (Instruction::DeleteKeyNoPropagate, _) | (Instruction::PropagateOnlyIfFkValAvailable, None) => {
                return Ok(())
            }
            (Instruction::DeleteKeyAndPropagate, _) => (None, r.timestamp),
            (_, Some((v, ts))) => (Some(v), r.timestamp.max(ts)),
            (_, None) => (None, r.timestamp),
        };
        ctx.forward(Record {
            key: sub.pk,
            value: Response { hash: sub.hash, value },
            timestamp,
            headers: r.headers,
        })
    }
}

/// Right side: on each right update, answers every subscription of its key with the new right
/// value, stamped with the update's timestamp (`ForeignTableJoinProcessorSupplier`).
pub(crate) struct ForeignTableJoin<K, KO> {
    pub(crate) spec: Arc<RightSpec<K, KO>>,
    pub(crate) subscriptions: Option<StoreHandle<SubscriptionStore>>,
}

impl<K: Clone + 'static, KO: 'static, VO: Clone + 'static> Processor<KO, Change<VO>, K, Response<VO>>
    for ForeignTableJoin<K, KO>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Response<VO>>) -> Result<()> {
        self.subscriptions = Some(ctx.store(&self.spec.subscription_store)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<KO, Change<VO>>,
        ctx: &mut ProcessorContext<'_, K, Response<VO>>,
    ) -> Result<()> {
        let Some(subs) = &self.subscriptions else { return Ok(()) };
        let spec = &self.spec;
        let fk =
            spec.foreign_key_serde.serialize(&r.key).map_err(|e| store_error(&spec.subscription_store, e))?;
        let prefix = combined_prefix(&fk);
        let subscribers = subs.borrow().prefix_scan(&prefix)?;
        for (key, hash) in subscribers {
            let pk = spec
                .key_serde
                .deserialize(&key[prefix.len()..])
                .map_err(|e| store_error(&spec.subscription_store, e))?;
            let (hash, _) = take_hash(&hash).map_err(|e| store_error(&spec.subscription_store, e))?;
            let value = Response { hash, value: r.value.new.clone() };
            ctx.forward(Record { key: pk, value, timestamp: r.timestamp, headers: r.headers.clone() })?;
        }
        Ok(())
    }
}

/// `joiner(left value, right value or None)`: `None` when the join kind emits nothing.
pub(crate) type FkJoiner<V, VO, VR> = Arc<dyn Fn(&V, Option<&VO>) -> Option<VR> + Send + Sync>;

/// Left side: joins an answer with the current left row, unless the row changed since it
/// subscribed (`ResponseJoinProcessorSupplier`).
pub(crate) struct ResponseJoin<K, V, VO, VR> {
    pub(crate) left_store: String,
    pub(crate) value_serde: Arc<dyn Serde<V>>,
    pub(crate) joiner: FkJoiner<V, VO, VR>,
    pub(crate) left: Option<StoreHandle<KeyValueStore<K, V>>>,
}

impl<K: Clone + 'static, V: 'static, VO: 'static, VR: Clone + 'static>
    Processor<K, Response<VO>, K, Change<VR>> for ResponseJoin<K, V, VO, VR>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<()> {
        self.left = Some(ctx.store(&self.left_store)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Response<VO>>,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    ) -> Result<()> {
        let Some(left) = &self.left else { return Ok(()) };
        let current = left.borrow_mut().get(&r.key)?;
        let current_hash = match &current {
            Some(v) => {
                Some(hash(&self.value_serde.serialize(v).map_err(|e| store_error(&self.left_store, e))?))
            }
            None => None,
        };
        if current_hash != r.value.hash {
            return Ok(()); // stale: the left row changed after subscribing
        }
        let new = current.as_ref().and_then(|l| (self.joiner)(l, r.value.value.as_ref()));
        ctx.forward(Record {
            key: r.key,
            value: Change { new, old: None },
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}
