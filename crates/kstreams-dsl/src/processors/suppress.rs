//! Suppression: hold table updates back and emit each key once, when its window closes or its
//! time limit passes. The buffer is a logged key-value store, so a crash neither loses held
//! results nor emits them twice; an in-memory index orders it by emit time.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use kstreams_core::Record;
use kstreams_core::Serde;
use kstreams_core::{Processor, ProcessorContext, PunctuationType};
use kstreams_core::{Result, StreamsError};
use serde::{Deserialize, Serialize};

use crate::processors::StoreHandle;
use crate::table::Change;
use kstreams_state::KeyValueStore;

/// Computes when a buffered key is due: `f(key, record timestamp, delay after a window's end
/// at which it is closed)`.
pub(crate) type EmitAt<K> = Arc<dyn Fn(&K, i64, i64) -> i64 + Send + Sync>;

/// One held update.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Buffered<V> {
    pub(crate) value: Option<V>,
    pub(crate) timestamp: i64,
    pub(crate) emit_at: i64,
}

pub(crate) struct Suppress<K, V> {
    pub(crate) store_name: String,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) emit_at: EmitAt<K>,
    pub(crate) grace_ms: i64,
    /// Final results: a held delete is dropped instead of emitted (Kafka's
    /// `safeToDropTombstones`).
    pub(crate) drop_tombstones: bool,
    pub(crate) store: Option<StoreHandle<KeyValueStore<Vec<u8>, Buffered<V>>>>,
    /// `(emit_at, encoded key)` of every held key; built from the store on first use.
    pub(crate) index: Option<BTreeSet<(i64, Vec<u8>)>>,
    /// The emit time of every held key (the same keys as `index`), so an update of a held
    /// key needs no store read.
    pub(crate) held: std::collections::HashMap<Vec<u8>, i64, foldhash::fast::RandomState>,
    /// Where each update's key is encoded.
    pub(crate) key_buf: Vec<u8>,
}

impl<K: Clone + 'static, V: Clone + 'static> Suppress<K, V> {
    fn store(&self) -> Result<StoreHandle<KeyValueStore<Vec<u8>, Buffered<V>>>> {
        self.store.clone().ok_or_else(|| StreamsError::Topology("suppress processor used before init".into()))
    }

    fn ensure_index(&mut self) -> Result<()> {
        if self.index.is_none() {
            let entries = self.store()?.borrow().all()?;
            self.held = entries.iter().map(|(k, b)| (k.clone(), b.emit_at)).collect();
            self.index = Some(entries.into_iter().map(|(k, b)| (b.emit_at, k)).collect());
        }
        Ok(())
    }

    fn emit_due(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        self.ensure_index()?;
        let now = ctx.stream_time();
        let store = self.store()?;
        loop {
            // Peeks without copying the key: this runs on every record and stream-time tick.
            let due = match self.index.as_mut() {
                Some(i) if i.first().is_some_and(|(at, _)| *at <= now) => i.pop_first().map(|(_, k)| k),
                _ => None,
            };
            let Some(due) = due else { return Ok(()) };
            self.held.remove(&due);
            let held = {
                let mut s = store.borrow_mut();
                let held = s.get(&due)?;
                s.delete(&due)?;
                held
            };
            if let Some(b) = held.filter(|b| b.value.is_some() || !self.drop_tombstones) {
                let key = self
                    .key_serde
                    .deserialize(&due)
                    .map_err(|e| StreamsError::store(self.store_name.clone(), "suppress emit", e))?;
                ctx.forward(Record::new(key, Change { new: b.value, old: None }, b.timestamp))?;
            }
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, Change<V>> for Suppress<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        self.store = Some(ctx.store(&self.store_name)?);
        // Fires whenever stream time advances, so held results go out as soon as they are due
        // even if no record reaches this node.
        ctx.schedule(Duration::from_millis(1), PunctuationType::StreamTime)?;
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<()> {
        self.ensure_index()?;
        let key = &mut self.key_buf;
        key.clear();
        self.key_serde
            .serialize_into(&r.key, key)
            .map_err(|e| StreamsError::store(self.store_name.clone(), "suppress buffer", e))?;
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| StreamsError::Topology("suppress processor used before init".into()))?;
        {
            let mut s = store.borrow_mut();
            let (emit_at, held) = match self.held.get(key.as_slice()) {
                Some(at) => (*at, true),
                None => ((self.emit_at)(&r.key, r.timestamp, self.grace_ms), false),
            };
            s.put(key, &Buffered { value: r.value.new, timestamp: r.timestamp, emit_at })?;
            if !held {
                self.held.insert(key.clone(), emit_at);
                if let Some(i) = self.index.as_mut() {
                    i.insert((emit_at, key.clone()));
                }
            }
        }
        self.emit_due(ctx)
    }

    fn punctuate(
        &mut self,
        _kind: PunctuationType,
        _ts: i64,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<()> {
        self.emit_due(ctx)
    }
}
