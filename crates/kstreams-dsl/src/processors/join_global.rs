//! Stream-global table joins: each stream record looks up the global store's current value
//! under the key its key mapper picks.

use std::sync::Arc;

use kstreams_core::GlobalKeyValueView;
use kstreams_core::Record;
use kstreams_core::Serde;
use kstreams_core::{Processor, ProcessorContext};
use kstreams_core::{Result, StreamsError};

/// `key_mapper(key, value)`: the global table key a stream record joins with.
pub(crate) type KeyMapper<K, V, KG> = Arc<dyn Fn(&K, &V) -> KG + Send + Sync>;
/// `joiner(key, value, global value)`: `None` when the record is to be dropped.
pub(crate) type GlobalJoiner<K, V, VG, VR> = Arc<dyn Fn(&K, &V, Option<&VG>) -> Option<VR> + Send + Sync>;

/// What every task's instance of one global join shares.
pub(crate) struct GlobalJoinSpec<K, V, KG, VG, VR> {
    pub(crate) store_name: String,
    pub(crate) key_serde: Arc<dyn Serde<KG>>,
    pub(crate) value_serde: Arc<dyn Serde<VG>>,
    pub(crate) key_mapper: KeyMapper<K, V, KG>,
    pub(crate) joiner: GlobalJoiner<K, V, VG, VR>,
}

/// Joins each stream record with the global table. Global updates reach only the global
/// store, never this processor, so they emit nothing.
pub(crate) struct GlobalJoin<K, V, KG, VG, VR> {
    pub(crate) spec: Arc<GlobalJoinSpec<K, V, KG, VG, VR>>,
    pub(crate) view: Option<GlobalKeyValueView<KG, VG>>,
}

impl<K, V, KG, VG, VR> Processor<K, V, K, VR> for GlobalJoin<K, V, KG, VG, VR>
where
    K: Clone + 'static,
    V: 'static,
    KG: 'static,
    VG: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        let store = ctx.global_store(&self.spec.store_name)?;
        self.view =
            Some(GlobalKeyValueView::new(store, self.spec.key_serde.clone(), self.spec.value_serde.clone()));
        Ok(())
    }

    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        let view = self.view.as_ref().ok_or_else(|| {
            StreamsError::Topology(format!("global store `{}` used before init", self.spec.store_name))
        })?;
        let global_key = (self.spec.key_mapper)(&r.key, &r.value);
        let current = view.get(&global_key)?;
        match (self.spec.joiner)(&r.key, &r.value, current.as_ref()) {
            Some(out) => {
                ctx.forward(Record { key: r.key, value: out, timestamp: r.timestamp, headers: r.headers })
            }
            None => Ok(()),
        }
    }
}
