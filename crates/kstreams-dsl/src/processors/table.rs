//! Table processors: materializing a changelog topic, filtering and mapping tables, turning a
//! table back into a stream.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use kstreams_core::Record;
use kstreams_core::Result;
use kstreams_core::{Processor, ProcessorContext};

use crate::table::Change;
use kstreams_state::KeyValueStore;

/// Materializes a topic into a table: `Some` upserts, `None` (tombstone) deletes. The store
/// keeps each value's timestamp. A tombstone for an absent key is forwarded only by a table
/// that is not materialized in Kafka's sense (`forward_absent_deletes`), as Kafka's
/// unmaterialized `KTableSource` forwards every tombstone.
pub(crate) struct TableSource<K, V> {
    store_name: String,
    forward_absent_deletes: bool,
    store: Option<Rc<RefCell<KeyValueStore<K, V>>>>,
}

impl<K, V> TableSource<K, V> {
    pub(crate) fn new(store: &str, forward_absent_deletes: bool) -> Self {
        Self { store_name: store.to_string(), forward_absent_deletes, store: None }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Option<V>, K, Change<V>> for TableSource<K, V> {
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
        let old = {
            let mut s = store.borrow_mut();
            let old = s.get(&r.key)?;
            match &r.value {
                Some(v) => s.put_with_timestamp(&r.key, v, r.timestamp)?,
                None => s.delete(&r.key)?,
            }
            old
        };
        if old.is_none() && r.value.is_none() && !self.forward_absent_deletes {
            return Ok(());
        }
        let change = Change { new: r.value, old };
        ctx.forward(Record { key: r.key, value: change, timestamp: r.timestamp, headers: r.headers })
    }
}

/// Filters a table: rows that stop matching become deletions. With `forward_failing` (the
/// table does not send old values, Kafka's unmaterialized case) every failing update is
/// forwarded as a deletion, else only those of rows that matched before.
pub(crate) struct TableFilter<F> {
    pub(crate) pred: Arc<F>,
    pub(crate) keep: bool,
    pub(crate) forward_failing: bool,
}

impl<K, V, F> Processor<K, Change<V>, K, Change<V>> for TableFilter<F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(&K, &V) -> bool + 'static,
{
    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<()> {
        let pass = |v: Option<V>| v.filter(|v| (self.pred)(&r.key, v) == self.keep);
        let new = pass(r.value.new.clone());
        let old = pass(r.value.old.clone());
        if new.is_none() && old.is_none() && !self.forward_failing {
            return Ok(());
        }
        ctx.forward(Record {
            key: r.key.clone(),
            value: Change { new, old },
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

/// Maps the values of a table.
pub(crate) struct TableMapValues<F>(pub(crate) Arc<F>);

impl<K, V, V2, F> Processor<K, Change<V>, K, Change<V2>> for TableMapValues<F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    F: Fn(&K, &V) -> V2 + 'static,
{
    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V2>>,
    ) -> Result<()> {
        let new = r.value.new.as_ref().map(|v| (self.0)(&r.key, v));
        let old = r.value.old.as_ref().map(|v| (self.0)(&r.key, v));
        ctx.forward(Record {
            key: r.key,
            value: Change { new, old },
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

/// Materializes the latest value of each key of an upstream table into a store (for joins and
/// interactive queries) and passes the change on.
pub(crate) struct TableMaterialize<K, V> {
    pub(crate) store_name: String,
    pub(crate) store: Option<Rc<RefCell<KeyValueStore<K, V>>>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, Change<V>>
    for TableMaterialize<K, V>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        self.store = Some(ctx.store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<()> {
        if let Some(store) = &self.store {
            let mut s = store.borrow_mut();
            match &r.value.new {
                Some(v) => s.put_with_timestamp(&r.key, v, r.timestamp)?,
                None => s.delete(&r.key)?,
            }
        }
        ctx.forward(r)
    }
}

/// Turns table updates into a stream of new values; deletions are dropped (use
/// `to_changelog_stream` to see them).
pub(crate) struct ToStream;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, V> for ToStream {
    fn process(&mut self, r: Record<K, Change<V>>, ctx: &mut ProcessorContext<'_, K, V>) -> Result<()> {
        match r.value.new {
            Some(v) => {
                ctx.forward(Record { key: r.key, value: v, timestamp: r.timestamp, headers: r.headers })
            }
            None => Ok(()),
        }
    }
}

/// Turns table updates into a stream of `Option` values, `None` for deletions.
pub(crate) struct ToChangelogStream;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, Option<V>> for ToChangelogStream {
    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Option<V>>,
    ) -> Result<()> {
        ctx.forward(Record { key: r.key, value: r.value.new, timestamp: r.timestamp, headers: r.headers })
    }
}
