//! [`KTable`]: a changelog view of the latest value per key, and its suppression.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use kstreams_core::NodeId;
use kstreams_core::StreamsError;
use kstreams_core::{millis, Windowed};
use kstreams_core::{BytesSerde, Serde};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::builder::Graph;
use crate::options::Materialized;
use crate::processors::suppress::{EmitAt, Suppress};
use crate::processors::table::{TableFilter, TableMapValues, TableMaterialize, ToChangelogStream, ToStream};
use crate::stream::KStream;
use kstreams_state::KeyValueStoreBuilder;

/// An update of a table row: the new value (`None` = deleted) and the previous one.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<V> {
    /// The value after the update.
    pub new: Option<V>,
    /// The value before it.
    pub old: Option<V>,
}

/// What the DSL knows about how a table is stored.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableMeta {
    /// A key-value store holding the table's current values, if materialized.
    pub(crate) store: Option<String>,
    /// For windowed tables, the delay after a window's end at which it closes.
    pub(crate) window_grace: Option<i64>,
}

/// A table: for each key, the latest value. Updates flow downstream as [`Change`]s.
pub struct KTable<K, V> {
    pub(crate) graph: Graph,
    pub(crate) node: NodeId,
    pub(crate) key_serde: Option<Arc<dyn Serde<K>>>,
    pub(crate) value_serde: Option<Arc<dyn Serde<V>>>,
    pub(crate) meta: TableMeta,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        Self {
            graph: self.graph.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            meta: self.meta.clone(),
        }
    }
}

/// When a suppressed table emits.
pub struct Suppressed<K> {
    emit_at: EmitAt<K>,
    name: Option<String>,
    _k: PhantomData<fn(&K)>,
}

impl<K: 'static> Suppressed<Windowed<K>> {
    /// Emit each window once, its final result, when stream time reaches its end plus grace.
    pub fn until_window_closes() -> Self {
        Self {
            emit_at: Arc::new(|k: &Windowed<K>, _ts, grace| k.window.end.saturating_add(grace)),
            name: None,
            _k: PhantomData,
        }
    }
}

impl<K: 'static> Suppressed<K> {
    /// Emit a key's latest value once `limit` of stream time has passed since its first
    /// held update.
    pub fn until_time_limit(limit: Duration) -> Self {
        let limit = millis(limit);
        Self {
            emit_at: Arc::new(move |_k: &K, ts, _grace| ts.saturating_add(limit)),
            name: None,
            _k: PhantomData,
        }
    }

    /// Names the suppression (its buffer store is `<name>-store`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    pub(crate) fn new(
        graph: Graph,
        node: NodeId,
        key_serde: Option<Arc<dyn Serde<K>>>,
        value_serde: Option<Arc<dyn Serde<V>>>,
        meta: TableMeta,
    ) -> Self {
        Self { graph, node, key_serde, value_serde, meta }
    }

    fn derived<V2: Clone + 'static>(
        &self,
        node: NodeId,
        value_serde: Option<Arc<dyn Serde<V2>>>,
    ) -> KTable<K, V2> {
        KTable::new(
            self.graph.clone(),
            node,
            self.key_serde.clone(),
            value_serde,
            TableMeta { store: None, window_grace: self.meta.window_grace },
        )
    }

    /// Keeps rows matching `predicate`; a row that stops matching is deleted downstream.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        let pred = Arc::new(predicate);
        let node =
            self.graph.processor::<_, K, Change<V>, K, Change<V>>("KTABLE-FILTER", &[self.node], move || {
                TableFilter { pred: pred.clone(), keep: true }
            });
        self.derived(node, self.value_serde.clone())
    }

    /// Drops rows matching `predicate`.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        let pred = Arc::new(predicate);
        let node =
            self.graph.processor::<_, K, Change<V>, K, Change<V>>("KTABLE-FILTER", &[self.node], move || {
                TableFilter { pred: pred.clone(), keep: false }
            });
        self.derived(node, self.value_serde.clone())
    }

    /// Maps each value (with its key).
    pub fn map_values<V2: Clone + 'static>(
        &self,
        f: impl Fn(&K, &V) -> V2 + Send + Sync + 'static,
    ) -> KTable<K, V2> {
        let f = Arc::new(f);
        let node = self.graph.processor::<_, K, Change<V>, K, Change<V2>>(
            "KTABLE-MAPVALUES",
            &[self.node],
            move || TableMapValues(f.clone()),
        );
        self.derived(node, None)
    }

    /// Keeps the table's current values in a store named by `materialized` (queryable, and
    /// joinable). Tables read from topics and aggregations are already materialized.
    pub fn materialize(&self, materialized: Materialized) -> KTable<K, V>
    where
        V: Serialize + DeserializeOwned,
    {
        let Some(key_serde) = self.key_serde.clone() else {
            self.graph.fail(StreamsError::Topology("materializing a table needs its key serde".into()));
            return self.clone();
        };
        let name =
            materialized.name.clone().unwrap_or_else(|| self.graph.name("KTABLE-MATERIALIZE-STATE-STORE"));
        let value_serde: Arc<dyn Serde<V>> =
            self.value_serde.clone().unwrap_or_else(|| Arc::new(kstreams_core::BincodeSerde::<V>::new()));
        let store =
            KeyValueStoreBuilder::<K, V>::new(materialized.spec(&name), key_serde, value_serde.clone());
        let sn = name.clone();
        let node = self.graph.processor::<_, K, Change<V>, K, Change<V>>(
            "KTABLE-MATERIALIZE",
            &[self.node],
            move || TableMaterialize::<K, V> { store_name: sn.clone(), store: None },
        );
        self.graph.store(Arc::new(store), &[node]);
        let mut t = self.derived(node, Some(value_serde));
        t.meta.store = Some(name);
        t
    }

    /// The stream of updated values (deletions are not included).
    pub fn to_stream(&self) -> KStream<K, V> {
        let node =
            self.graph.processor::<_, K, Change<V>, K, V>("KTABLE-TOSTREAM", &[self.node], || ToStream);
        KStream::new(self.graph.clone(), node, self.key_serde.clone(), self.value_serde.clone(), false)
    }

    /// The stream of updates with deletions as `None`.
    pub fn to_changelog_stream(&self) -> KStream<K, Option<V>> {
        let node =
            self.graph.processor::<_, K, Change<V>, K, Option<V>>("KTABLE-TOSTREAM", &[self.node], || {
                ToChangelogStream
            });
        KStream::new(self.graph.clone(), node, self.key_serde.clone(), None, false)
    }

    /// Holds updates back and emits per [`Suppressed`]: with `until_window_closes`, exactly
    /// one final result per window. The buffer is a logged store, so it survives crashes.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// b.stream("readings", Consumed::with(StringSerde, F64Serde))
    ///     .group_by_key(Grouped::default())
    ///     .windowed_by(TumblingWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(10)))
    ///     .aggregate(Mean::of(|c: &f64| *c), Materialized::as_("avg"))
    ///     .suppress(Suppressed::until_window_closes())
    ///     .to_stream()
    ///     .to("averages", Produced::with(WindowedSerde::string(), JsonSerde::new()));
    /// # b.build().unwrap();
    /// ```
    pub fn suppress(&self, suppressed: Suppressed<K>) -> KTable<K, V>
    where
        V: Serialize + DeserializeOwned,
    {
        let Some(key_serde) = self.key_serde.clone() else {
            self.graph.fail(StreamsError::Topology("suppress needs the table's key serde".into()));
            return self.clone();
        };
        let name = suppressed.name.unwrap_or_else(|| self.graph.name("KTABLE-SUPPRESS"));
        let store_name = format!("{name}-store");
        let store = KeyValueStoreBuilder::<Vec<u8>, crate::processors::suppress::Buffered<V>>::bincode(
            Materialized::default().in_memory().spec(&store_name),
            Arc::new(BytesSerde),
        );
        let grace = self.meta.window_grace.unwrap_or(0);
        let emit_at = suppressed.emit_at;
        let sn = store_name.clone();
        let ks = key_serde.clone();
        let node = self.graph.processor::<_, K, Change<V>, K, Change<V>>(
            "KTABLE-SUPPRESS",
            &[self.node],
            move || Suppress::<K, V> {
                store_name: sn.clone(),
                key_serde: ks.clone(),
                emit_at: emit_at.clone(),
                grace_ms: grace,
                store: None,
                index: None,
                held: Default::default(),
                key_buf: Vec::new(),
            },
        );
        self.graph.store(Arc::new(store), &[node]);
        self.derived(node, self.value_serde.clone())
    }

    /// The table's key serde, if known.
    pub fn key_serde(&self) -> Option<Arc<dyn Serde<K>>> {
        self.key_serde.clone()
    }

    /// The store holding the table's current values, if materialized.
    pub fn store_name(&self) -> Option<&str> {
        self.meta.store.as_deref()
    }
}
