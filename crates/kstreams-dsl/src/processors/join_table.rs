//! Stream-table and table-table joins: lookups in the other side's materialized store.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use kstreams_core::Record;
use kstreams_core::{Processor, ProcessorContext};
use kstreams_core::{Result, StreamsError};

use crate::processors::join_stream::JoinFns;
use crate::table::Change;
use kstreams_state::KeyValueStore;

fn not_initialized(store: &str) -> StreamsError {
    StreamsError::Topology(format!("join store `{store}` used before init"))
}

/// `combine(key, this, other)`: the join result for whichever sides are present, if any.
pub(crate) type CombineFn<K, A, B, VR> = Arc<dyn Fn(&K, Option<&A>, Option<&B>) -> Option<VR> + Send + Sync>;

/// Joins each stream record with the table's current value for its key. Table updates reach
/// only the table's store, never this processor, so they emit nothing.
pub(crate) struct StreamTableJoin<K, V, VT, VR> {
    pub(crate) store_name: String,
    pub(crate) fns: Arc<JoinFns<K, V, VT, VR>>,
    pub(crate) store: Option<Rc<RefCell<KeyValueStore<K, VT>>>>,
}

impl<K, V, VT, VR> Processor<K, V, K, VR> for StreamTableJoin<K, V, VT, VR>
where
    K: Clone + 'static,
    V: 'static,
    VT: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        self.store = Some(ctx.store(&self.store_name)?);
        Ok(())
    }

    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        let store = self.store.as_ref().ok_or_else(|| not_initialized(&self.store_name))?;
        let current = store.borrow_mut().get(&r.key)?;
        match self.fns.combine(&r.key, Some(&r.value), current.as_ref()) {
            Some(out) => {
                ctx.forward(Record { key: r.key, value: out, timestamp: r.timestamp, headers: r.headers })
            }
            None => Ok(()),
        }
    }
}

/// One side of a table-table join: an update of this side (values `A`) is joined with the
/// other side's current value (`B`), for both the new and the old value of the update. As in
/// Kafka Streams the result carries the later of the update's timestamp and the other side's
/// (the update's own when the other side has no row).
pub(crate) struct TableJoinSide<K, A, B, VR> {
    pub(crate) other_store: String,
    pub(crate) combine: CombineFn<K, A, B, VR>,
    pub(crate) other: Option<Rc<RefCell<KeyValueStore<K, B>>>>,
}

impl<K, A, B, VR> Processor<K, Change<A>, K, Change<VR>> for TableJoinSide<K, A, B, VR>
where
    K: Clone + 'static,
    A: 'static,
    B: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<()> {
        self.other = Some(ctx.store(&self.other_store)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Change<A>>,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    ) -> Result<()> {
        let store = self.other.as_ref().ok_or_else(|| not_initialized(&self.other_store))?;
        let other = store.borrow_mut().get_with_timestamp(&r.key)?;
        let timestamp = other.as_ref().map_or(r.timestamp, |(_, ts)| r.timestamp.max(*ts));
        let other = other.map(|(v, _)| v);
        let new = (self.combine)(&r.key, r.value.new.as_ref(), other.as_ref());
        let old = (self.combine)(&r.key, r.value.old.as_ref(), other.as_ref());
        if new.is_none() && old.is_none() {
            return Ok(());
        }
        ctx.forward(Record { key: r.key, value: Change { new, old }, timestamp, headers: r.headers })
    }
}
