//! Windowed stream-stream joins.
//!
//! Each side runs a [`StreamJoinSide`]: it buffers its record in its own window store (with
//! duplicates), then joins it with the other side's records in the join window. For left and
//! outer joins, a record that found no partner waits in a shared *non-joined* buffer until its
//! window closes, and only then is emitted with `None` for the missing side (Kafka Streams 3.x
//! semantics: never eagerly). A partner arriving in time removes it from that buffer.
//!
//! Geometry, with `JoinWindows { before, after, grace }`: a left record at `t` joins right
//! records in `[t - before, t + after]` and its window closes once stream time passes
//! `t + after + grace`; a right record at `t` joins left records in `[t - after, t + before]`
//! and its window closes once stream time passes `t + before + grace`. A record arriving after
//! its own window closed is dropped and counted late, and a record only joins partners whose
//! window is still open: two records join while both windows are open, so a record emitted
//! as non-joined never joins later.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use kstreams_core::JoinWindows;
use kstreams_core::Record;
use kstreams_core::Serde;
use kstreams_core::{Processor, ProcessorContext, PunctuationType};
use kstreams_core::{Result, StreamsError};

use crate::processors::aggregate::ctx_record_late;
use kstreams_state::{KeyValueStore, WindowStore};

/// The non-joined buffer: `(timestamp, side, key bytes)` → serialized values of that side.
pub(crate) type NonJoinedStore = KeyValueStore<Vec<u8>, Vec<Vec<u8>>>;

/// Joins a value of each side.
pub(crate) type BothFn<K, A, B, VR> = Box<dyn Fn(&K, &A, &B) -> VR + Send + Sync>;

/// Renders a value of one side alone.
pub(crate) type AloneFn<K, A, VR> = Box<dyn Fn(&K, &A) -> VR + Send + Sync>;

type Shared<T> = Rc<RefCell<T>>;

/// This side's and the other side's window stores.
type StorePair<K, A, B> = (Shared<WindowStore<K, A>>, Shared<WindowStore<K, B>>);

/// A non-joined buffer entry due for emission: timestamp, side, key bytes, values.
type DueEntry = (i64, Side, Vec<u8>, Vec<Vec<u8>>);

/// The user's joiner, split by which sides are present. `left_only` / `right_only` are `None`
/// when the join kind emits nothing for a record without a partner on that side.
pub(crate) struct JoinFns<K, V, VO, VR> {
    pub(crate) both: BothFn<K, V, VO, VR>,
    pub(crate) left_only: Option<AloneFn<K, V, VR>>,
    pub(crate) right_only: Option<AloneFn<K, VO, VR>>,
}

impl<K, V, VO, VR> JoinFns<K, V, VO, VR> {
    /// The join result for whichever sides are present, if the join kind has one.
    pub(crate) fn combine(&self, key: &K, left: Option<&V>, right: Option<&VO>) -> Option<VR> {
        match (left, right) {
            (Some(l), Some(r)) => Some((self.both)(key, l, r)),
            (Some(l), None) => self.left_only.as_ref().map(|f| f(key, l)),
            (None, Some(r)) => self.right_only.as_ref().map(|f| f(key, r)),
            (None, None) => None,
        }
    }
}

/// Which input of the join a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Left,
    Right,
}

impl Side {
    fn byte(self) -> u8 {
        match self {
            Side::Left => 0,
            Side::Right => 1,
        }
    }
}

/// Encodes a timestamp so that byte order is numeric order.
fn ts_bytes(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

fn buffer_key(ts: i64, side: Side, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + key.len());
    out.extend_from_slice(&ts_bytes(ts));
    out.push(side.byte());
    out.extend_from_slice(key);
    out
}

fn decode_buffer_key(bytes: &[u8]) -> Option<(i64, Side, &[u8])> {
    let ts: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let ts = (u64::from_be_bytes(ts) ^ (1 << 63)) as i64;
    let side = match bytes.get(8)? {
        0 => Side::Left,
        1 => Side::Right,
        _ => return None,
    };
    Some((ts, side, bytes.get(9..)?))
}

/// What both sides of a left or outer join share: the non-joined buffer and how to emit it.
pub(crate) struct NonJoined<K, V, VO, VR> {
    pub(crate) store_name: String,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) left_serde: Arc<dyn Serde<V>>,
    pub(crate) right_serde: Arc<dyn Serde<VO>>,
    pub(crate) fns: Arc<JoinFns<K, V, VO, VR>>,
    pub(crate) windows: JoinWindows,
}

impl<K: Clone + 'static, V: 'static, VO: 'static, VR: Clone + 'static> NonJoined<K, V, VO, VR> {
    fn err(&self, op: &'static str) -> impl Fn(kstreams_core::SerdeError) -> StreamsError + '_ {
        move |e| StreamsError::store(self.store_name.clone(), op, e)
    }

    /// How long after its timestamp a record of `side` may still find a partner.
    fn lookahead(&self, side: Side) -> i64 {
        match side {
            Side::Left => self.windows.after_ms,
            Side::Right => self.windows.before_ms,
        }
    }

    /// Whether the window of a record of `side` at `ts` has closed at stream time `st`.
    fn closed(&self, side: Side, ts: i64, st: i64) -> bool {
        ts.saturating_add(self.lookahead(side)).saturating_add(self.windows.grace_ms) < st
    }

    /// Parks a record that found no partner.
    fn buffer<A: 'static>(
        &self,
        store: &RefCell<NonJoinedStore>,
        side: Side,
        r: &Record<K, A>,
        serde: &dyn Serde<A>,
    ) -> Result<()> {
        let key = self.key_serde.serialize(&r.key).map_err(self.err("buffer non-joined"))?;
        let value = serde.serialize(&r.value).map_err(self.err("buffer non-joined"))?;
        let k = buffer_key(r.timestamp, side, &key);
        let mut s = store.borrow_mut();
        let mut values = s.get(&k)?.unwrap_or_default();
        values.push(value);
        s.put(&k, &values)
    }

    /// Forgets the parked records of `side` at `ts` for `key`: they just found a partner.
    fn joined(&self, store: &RefCell<NonJoinedStore>, side: Side, key: &K, ts: i64) -> Result<()> {
        let key = self.key_serde.serialize(key).map_err(self.err("clear non-joined"))?;
        let k = buffer_key(ts, side, &key);
        let mut s = store.borrow_mut();
        if s.get(&k)?.is_some() {
            s.delete(&k)?;
        }
        Ok(())
    }

    /// Emits (and removes) every parked record whose window has closed, oldest first.
    fn emit_due(&self, store: &RefCell<NonJoinedStore>, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        let st = ctx.stream_time();
        if st == i64::MIN {
            return Ok(());
        }
        let shortest = self.windows.after_ms.min(self.windows.before_ms);
        // Every due entry has `ts < st - shortest - grace`; the upper bound is the bare 8-byte
        // prefix of the first timestamp that cannot be due, which sorts before its entries.
        let first_not_due = st.saturating_sub(shortest).saturating_sub(self.windows.grace_ms);
        let due: Vec<DueEntry> = {
            let mut s = store.borrow_mut();
            let entries = s.range(&ts_bytes(i64::MIN).to_vec(), &ts_bytes(first_not_due).to_vec())?;
            let mut due = Vec::new();
            for (k, values) in entries {
                let Some((ts, side, key)) = decode_buffer_key(&k) else {
                    return Err(StreamsError::store(
                        self.store_name.clone(),
                        "emit non-joined",
                        "malformed buffer key",
                    ));
                };
                if self.closed(side, ts, st) {
                    due.push((ts, side, key.to_vec(), values));
                    s.delete(&k)?;
                }
            }
            due
        };
        for (ts, side, key_bytes, values) in due {
            let key = self.key_serde.deserialize(&key_bytes).map_err(self.err("emit non-joined"))?;
            for bytes in values {
                let out = match side {
                    Side::Left => {
                        let v = self.left_serde.deserialize(&bytes).map_err(self.err("emit non-joined"))?;
                        self.fns.combine(&key, Some(&v), None)
                    }
                    Side::Right => {
                        let v = self.right_serde.deserialize(&bytes).map_err(self.err("emit non-joined"))?;
                        self.fns.combine(&key, None, Some(&v))
                    }
                };
                if let Some(out) = out {
                    ctx.forward(Record::new(key.clone(), out, ts))?;
                }
            }
        }
        Ok(())
    }
}

/// How one side of a stream-stream join behaves, with `A` its value type and `B` the other's.
pub(crate) struct SideSpec<K, A, B, VR> {
    pub(crate) side: Side,
    pub(crate) windows: JoinWindows,
    pub(crate) this_store: String,
    pub(crate) other_store: String,
    /// Joins a record of this side with one of the other side.
    pub(crate) join: BothFn<K, A, B, VR>,
    /// This side's records wait in the non-joined buffer (left side of a left join, both sides
    /// of an outer join).
    pub(crate) this_buffered: bool,
    /// The other side's records may be waiting there.
    pub(crate) other_buffered: bool,
    pub(crate) this_serde: Arc<dyn Serde<A>>,
}

/// One side of a stream-stream join, generic over the join's left and right types `V`, `VO`.
pub(crate) struct StreamJoinSide<K, A, B, V, VO, VR> {
    pub(crate) spec: Arc<SideSpec<K, A, B, VR>>,
    pub(crate) non_joined: Option<Arc<NonJoined<K, V, VO, VR>>>,
    pub(crate) this: Option<Shared<WindowStore<K, A>>>,
    pub(crate) other: Option<Shared<WindowStore<K, B>>>,
    pub(crate) buffer: Option<Shared<NonJoinedStore>>,
    pub(crate) _types: PhantomData<fn(V, VO)>,
}

impl<K, A, B, V, VO, VR> StreamJoinSide<K, A, B, V, VO, VR> {
    pub(crate) fn new(
        spec: Arc<SideSpec<K, A, B, VR>>,
        non_joined: Option<Arc<NonJoined<K, V, VO, VR>>>,
    ) -> Self {
        Self { spec, non_joined, this: None, other: None, buffer: None, _types: PhantomData }
    }

    /// `(lookback, lookahead)`: the other side's records in `[t - lookback, t + lookahead]`
    /// join a record of this side at `t`.
    fn bounds(&self) -> (i64, i64) {
        let w = &self.spec.windows;
        match self.spec.side {
            Side::Left => (w.before_ms, w.after_ms),
            Side::Right => (w.after_ms, w.before_ms),
        }
    }

    fn stores(&self) -> Result<StorePair<K, A, B>> {
        match (&self.this, &self.other) {
            (Some(t), Some(o)) => Ok((t.clone(), o.clone())),
            _ => Err(StreamsError::Topology(format!(
                "join stores `{}` / `{}` used before init",
                self.spec.this_store, self.spec.other_store
            ))),
        }
    }
}

impl<K, A, B, V, VO, VR> Processor<K, A, K, VR> for StreamJoinSide<K, A, B, V, VO, VR>
where
    K: Clone + 'static,
    A: 'static,
    B: 'static,
    V: 'static,
    VO: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        self.this = Some(ctx.store(&self.spec.this_store)?);
        self.other = Some(ctx.store(&self.spec.other_store)?);
        if let Some(nj) = &self.non_joined {
            self.buffer = Some(ctx.store(&nj.store_name)?);
            // Fires whenever stream time advances, so closed windows are emitted even when no
            // further record reaches this join.
            ctx.schedule(Duration::from_millis(1), PunctuationType::StreamTime)?;
        }
        Ok(())
    }

    fn process(&mut self, r: Record<K, A>, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        let (this, other) = self.stores()?;
        let (lookback, lookahead) = self.bounds();
        let st = ctx.stream_time();
        let close = r.timestamp.saturating_add(lookahead).saturating_add(self.spec.windows.grace_ms);
        if st > close {
            tracing::debug!(
                processor = ctx.node_name(),
                timestamp = r.timestamp,
                window_close = close,
                stream_time = st,
                "dropping late record: its join window closed"
            );
            let name = ctx.node_name().to_string();
            ctx_record_late(ctx, &name);
            return Ok(());
        }
        if let (Some(nj), Some(buf)) = (&self.non_joined, &self.buffer) {
            nj.emit_due(buf, ctx)?;
        }
        if !this.borrow_mut().put(&r.key, r.timestamp, Some(&r.value))? {
            let name = ctx.node_name().to_string();
            ctx_record_late(ctx, &name);
            return Ok(());
        }
        let from = r.timestamp.saturating_sub(lookback);
        let to = r.timestamp.saturating_add(lookahead);
        let partners = other.borrow_mut().fetch_range(&r.key, from, to)?;
        let other_side = match self.spec.side {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        };
        let grace = self.spec.windows.grace_ms;
        let mut matched = false;
        for (ts, value) in &partners {
            // The partner's window must still be open: its lookahead is this side's lookback.
            // (A closed left-join record has already been emitted with `None`; joining it now
            // would contradict that result.)
            if st > ts.saturating_add(lookback).saturating_add(grace) {
                continue;
            }
            if self.spec.other_buffered {
                if let (Some(nj), Some(buf)) = (&self.non_joined, &self.buffer) {
                    nj.joined(buf, other_side, &r.key, *ts)?;
                }
            }
            matched = true;
            let out = (self.spec.join)(&r.key, &r.value, value);
            ctx.forward(Record {
                key: r.key.clone(),
                value: out,
                timestamp: r.timestamp.max(*ts),
                headers: r.headers.clone(),
            })?;
        }
        if !matched && self.spec.this_buffered {
            if let (Some(nj), Some(buf)) = (&self.non_joined, &self.buffer) {
                nj.buffer(buf, self.spec.side, &r, self.spec.this_serde.as_ref())?;
            }
        }
        Ok(())
    }

    fn punctuate(
        &mut self,
        _kind: PunctuationType,
        _ts: i64,
        ctx: &mut ProcessorContext<'_, K, VR>,
    ) -> Result<()> {
        if let (Some(nj), Some(buf)) = (&self.non_joined, &self.buffer) {
            nj.emit_due(buf, ctx)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_keys_sort_by_timestamp_and_round_trip() {
        let a = buffer_key(-5, Side::Right, b"zz");
        let b = buffer_key(0, Side::Left, b"a");
        let c = buffer_key(7, Side::Left, b"");
        assert!(a < b && b < c);
        assert!(c < ts_bytes(8).to_vec() && ts_bytes(7).to_vec() < c);
        assert_eq!(decode_buffer_key(&a), Some((-5, Side::Right, &b"zz"[..])));
        assert_eq!(decode_buffer_key(&[1, 2]), None);
    }
}
