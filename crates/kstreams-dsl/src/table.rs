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
    /// A timestamped key-value store holding the table's current values, if materialized.
    pub(crate) store: Option<String>,
    /// For windowed tables, the delay after a window's end at which it is closed (what
    /// `Suppressed::until_window_closes` waits for).
    pub(crate) window_closes_after: Option<i64>,
    /// Kafka Streams' `sendOldValues`: whether the table is materialized (a source with a
    /// store name, an aggregation, `materialize`) and so knows each update's old value. A
    /// filter over a table that does not forwards a tombstone for every failing update.
    pub(crate) sends_old_values: bool,
    /// The history retention (ms) of a versioned table's store.
    pub(crate) versioned: Option<i64>,
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
    drop_tombstones: bool,
    _k: PhantomData<fn(&K)>,
}

impl<K: 'static> Suppressed<Windowed<K>> {
    /// Emit each window once, its final result, when it closes: a time window when stream
    /// time reaches its end plus grace, a sliding window or a session when stream time passes
    /// its end plus grace (plus the gap, for sessions). As in Kafka Streams, final results
    /// hold no tombstones: a session merged away into a larger one is not emitted.
    pub fn until_window_closes() -> Self {
        Self {
            emit_at: Arc::new(|k: &Windowed<K>, _ts, closes_after| k.window.end.saturating_add(closes_after)),
            name: None,
            drop_tombstones: true,
            _k: PhantomData,
        }
    }
}

impl<K: 'static> Suppressed<K> {
    /// Emit a key's latest value once `limit` of stream time has passed since its first
    /// held update (deletes included, as in Kafka Streams).
    pub fn until_time_limit(limit: Duration) -> Self {
        let limit = millis(limit);
        Self {
            emit_at: Arc::new(move |_k: &K, ts, _grace| ts.saturating_add(limit)),
            name: None,
            drop_tombstones: false,
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
            TableMeta { store: None, versioned: None, ..self.meta.clone() },
        )
    }

    /// Keeps rows matching `predicate`; a row that stops matching is deleted downstream.
    ///
    /// As in Kafka Streams (`KTableFilter`), over a table that is not materialized (a source
    /// read with `Materialized::default()`, or a table derived from one) every update that
    /// fails the predicate becomes a tombstone downstream; over a materialized table only the
    /// updates of rows that matched before do.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// b.table("prices", Consumed::with(StringSerde, I64Serde), Materialized::as_("prices"))
    ///     .filter(|_item, price| *price > 10)
    ///     .to_changelog_stream()
    ///     .to("expensive", Produced::with(StringSerde, OptionSerde(I64Serde)));
    /// # b.build().unwrap();
    /// ```
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        self.filtered(predicate, true)
    }

    /// Drops rows matching `predicate` (the tombstones follow [`KTable::filter`]).
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        self.filtered(predicate, false)
    }

    fn filtered(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        keep: bool,
    ) -> KTable<K, V> {
        let pred = Arc::new(predicate);
        let forward_failing = !self.meta.sends_old_values;
        let node =
            self.graph.processor::<_, K, Change<V>, K, Change<V>>("KTABLE-FILTER", &[self.node], move || {
                TableFilter { pred: pred.clone(), keep, forward_failing }
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
        let store = crate::query::WithView::new(
            KeyValueStoreBuilder::<K, V>::new(materialized.spec(&name), key_serde, value_serde.clone())
                .timestamped(),
            crate::query::kv_view::<K, V, V>(crate::query::identity::<V>()),
        );
        let sn = name.clone();
        let node = self.graph.processor::<_, K, Change<V>, K, Change<V>>(
            "KTABLE-MATERIALIZE",
            &[self.node],
            move || TableMaterialize::<K, V> { store_name: sn.clone(), store: None },
        );
        self.graph.store(Arc::new(store), &[node]);
        let mut t = self.derived(node, Some(value_serde));
        t.meta.store = Some(name);
        t.meta.sends_old_values = true;
        t.meta.versioned = None;
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
    ///     .to("averages", Produced::with(TimeWindowedSerde::string(Duration::from_secs(60)), JsonSerde::new()));
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
        let grace = self.meta.window_closes_after.unwrap_or(0);
        let emit_at = suppressed.emit_at;
        let drop_tombstones = suppressed.drop_tombstones;
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
                drop_tombstones,
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
