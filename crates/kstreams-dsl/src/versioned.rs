//! Versioned tables: [`crate::StreamsBuilder::table`] with
//! [`Materialized::versioned`](crate::Materialized::versioned) (KIP-889).

use std::sync::Arc;

use kstreams_core::{NodeId, Serde};

use crate::builder::Graph;
use crate::options::Materialized;
use crate::processors::versioned::VersionedTableSource;
use crate::table::{Change, KTable, TableMeta};
use kstreams_state::VersionedKeyValueStoreBuilder;

/// The table of `source` kept in the versioned store `store_name` with `history_ms` of
/// history.
pub(crate) fn versioned_table<K: Clone + 'static, V: Clone + 'static>(
    graph: &Graph,
    source: NodeId,
    materialized: &Materialized,
    store_name: String,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    history_ms: i64,
) -> KTable<K, V> {
    // Versions are read by timestamp, not by key alone: a write cache would gain little.
    let spec = materialized.clone().with_caching(false).spec(&store_name);
    let store = crate::query::WithView::new(
        VersionedKeyValueStoreBuilder::<K, V>::new(spec, history_ms, key_serde.clone(), value_serde.clone()),
        crate::query::versioned_view::<K, V>(),
    );
    let sn = store_name.clone();
    let node = graph.processor::<_, K, Option<V>, K, Change<V>>("KTABLE-SOURCE", &[source], move || {
        VersionedTableSource::<K, V> { store_name: sn.clone(), store: None }
    });
    graph.store(Arc::new(store), &[node]);
    KTable::new(
        graph.clone(),
        node,
        Some(key_serde),
        Some(value_serde),
        TableMeta {
            store: Some(store_name),
            sends_old_values: true,
            versioned: Some(history_ms),
            ..TableMeta::default()
        },
    )
}
