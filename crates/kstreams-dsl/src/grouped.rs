//! Grouped streams and their aggregations, with and without windows.

use std::sync::Arc;

use kstreams_core::Serde;
use kstreams_core::StreamsError;
use kstreams_core::{TimeWindowedSerde, TimeWindows, Windowed};

use crate::aggregator::{Aggregator, Count, Reducer};
use crate::options::{Grouped, Materialized};
use crate::processors::aggregate::{KvAggregate, TimeWindowAggregate};
use crate::query::{kv_view, window_view, ResultFn, WithView};
use crate::stream::KStream;
use crate::table::{Change, KTable, TableMeta};
use kstreams_state::{KeyValueStoreBuilder, WindowStoreBuilder};

/// How an aggregation's table shows an accumulator: [`Aggregator::result`].
pub(crate) fn results<K: 'static, V: 'static, A: Aggregator<K, V>>(
    agg: &Arc<A>,
) -> ResultFn<A::Acc, A::Output> {
    let agg = agg.clone();
    Arc::new(move |acc: &A::Acc| agg.result(acc))
}

/// The input of an aggregation and the key serde of its store.
pub(crate) type Prepared<K, V> = (KStream<K, V>, Arc<dyn Serde<K>>);

/// A stream grouped by key, ready to aggregate.
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) key_serde: Option<Arc<dyn Serde<K>>>,
    pub(crate) value_serde: Option<Arc<dyn Serde<V>>>,
    pub(crate) name: Option<String>,
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, grouped: Grouped<K, V>) -> Self {
        Self {
            key_serde: grouped.key_serde.or_else(|| stream.key_serde.clone()),
            value_serde: grouped.value_serde.or_else(|| stream.value_serde.clone()),
            name: grouped.name,
            stream,
        }
    }

    /// The stream an aggregation reads: repartitioned by key first if the key may have
    /// changed upstream. Also returns the key serde for the store.
    pub(crate) fn prepare(&self, store_name: &str) -> Option<Prepared<K, V>> {
        let Some(key_serde) = self.key_serde.clone() else {
            self.stream.graph.fail(StreamsError::Topology(format!(
                "aggregation `{store_name}` needs a key serde: pass one with Grouped::with"
            )));
            return None;
        };
        let input = if self.stream.repartition_required {
            let name = self.name.clone().unwrap_or_else(|| store_name.to_string());
            self.stream.repartition_through(&name, Some(key_serde.clone()), self.value_serde.clone(), None)
        } else {
            self.stream.clone()
        };
        Some((input, key_serde))
    }

    pub(crate) fn store_name(&self, materialized: &Materialized, prefix: &str) -> String {
        materialized.name.clone().unwrap_or_else(|| self.stream.graph.name(prefix))
    }

    /// Aggregates each key's records with `aggregator` into a table.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// b.stream("readings", Consumed::with(StringSerde, F64Serde))
    ///     .group_by_key(Grouped::default())
    ///     .aggregate(Max::of(|c: &f64| *c), Materialized::as_("max-temp"))
    ///     .to_stream()
    ///     .to("max", Produced::with(StringSerde, F64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn aggregate<A: Aggregator<K, V>>(
        &self,
        aggregator: A,
        materialized: Materialized,
    ) -> KTable<K, A::Output> {
        let store_name = self.store_name(&materialized, "KSTREAM-AGGREGATE-STATE-STORE");
        let graph = self.stream.graph.clone();
        let Some((input, key_serde)) = self.prepare(&store_name) else {
            return KTable::new(graph, self.stream.node, None, None, TableMeta::default());
        };
        let agg = Arc::new(aggregator);
        let store = WithView::new(
            KeyValueStoreBuilder::<K, A::Acc>::bincode(materialized.spec(&store_name), key_serde.clone())
                .timestamped(),
            kv_view::<K, _, _>(results(&agg)),
        );
        let sn = store_name.clone();
        let node =
            graph.processor::<_, K, V, K, Change<A::Output>>("KSTREAM-AGGREGATE", &[input.node], move || {
                KvAggregate { agg: agg.clone(), store_name: sn.clone(), store: None }
            });
        graph.store(Arc::new(store), &[node]);
        KTable::new(
            graph,
            node,
            Some(key_serde),
            None,
            TableMeta { sends_old_values: true, ..TableMeta::default() },
        )
    }

    /// Counts each key's records.
    pub fn count(&self, materialized: Materialized) -> KTable<K, u64> {
        let mut t = self.aggregate(Count, materialized);
        t.value_serde = Some(Arc::new(kstreams_core::U64Serde));
        t
    }

    /// Combines each key's values with `reducer`.
    pub fn reduce(
        &self,
        reducer: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized,
    ) -> KTable<K, V>
    where
        V: serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut t = self.aggregate(Reducer::new(reducer), materialized);
        t.value_serde = self.value_serde.clone();
        t
    }

    /// Windows the grouped stream: tumbling or hopping [`TimeWindows`], and (see their impls
    /// of [`WindowSpec`]) other window kinds.
    pub fn windowed_by<W: WindowSpec<K, V>>(&self, windows: W) -> W::Windowed {
        windows.window(self)
    }
}

/// A window definition that can window a grouped stream.
pub trait WindowSpec<K, V> {
    /// The windowed stream type.
    type Windowed;
    /// Windows `grouped`.
    fn window(self, grouped: &KGroupedStream<K, V>) -> Self::Windowed;
}

impl<K: Clone + 'static, V: Clone + 'static> WindowSpec<K, V> for TimeWindows {
    type Windowed = TimeWindowedKStream<K, V>;
    fn window(self, grouped: &KGroupedStream<K, V>) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream { grouped: grouped.clone(), windows: self }
    }
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        Self {
            stream: self.stream.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            name: self.name.clone(),
        }
    }
}

/// A grouped stream with tumbling or hopping windows.
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: TimeWindows,
}

impl<K: Clone + 'static, V: Clone + 'static> TimeWindowedKStream<K, V> {
    /// Aggregates each key's records per window. A record whose window has closed (stream time
    /// >= window end + grace) is dropped and counted as late.
    pub fn aggregate<A: Aggregator<K, V>>(
        &self,
        aggregator: A,
        materialized: Materialized,
    ) -> KTable<Windowed<K>, A::Output> {
        let g = &self.grouped;
        let store_name = g.store_name(&materialized, "KSTREAM-AGGREGATE-STATE-STORE");
        let graph = g.stream.graph.clone();
        let Some((input, key_serde)) = g.prepare(&store_name) else {
            return KTable::new(graph, g.stream.node, None, None, TableMeta::default());
        };
        let retention =
            materialized.retention.map(kstreams_core::millis).unwrap_or(0).max(self.windows.retention_ms());
        let store = WindowStoreBuilder::<K, A::Acc>::new(
            materialized.spec(&store_name),
            retention,
            key_serde.clone(),
            Arc::new(kstreams_core::BincodeSerde::<A::Acc>::new()),
        )
        .timestamped();
        let agg = Arc::new(aggregator);
        let store = WithView::new(store, window_view::<K, _, _>(self.windows.size_ms, results(&agg)));
        let sn = store_name.clone();
        let windows = self.windows;
        let node = graph.processor::<_, K, V, Windowed<K>, Change<A::Output>>(
            "KSTREAM-WINDOWED-AGGREGATE",
            &[input.node],
            move || TimeWindowAggregate { agg: agg.clone(), windows, store_name: sn.clone(), store: None },
        );
        let windowed_serde = Arc::new(TimeWindowedSerde::of_millis(key_serde, self.windows.size_ms));
        crate::grouped::windowed_table(graph, node, Arc::new(store), windowed_serde, self.windows.grace_ms)
    }

    /// Counts each key's records per window.
    pub fn count(&self, materialized: Materialized) -> KTable<Windowed<K>, u64> {
        let mut t = self.aggregate(Count, materialized);
        t.value_serde = Some(Arc::new(kstreams_core::U64Serde));
        t
    }

    /// Combines each key's values per window with `reducer`.
    pub fn reduce(
        &self,
        reducer: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized,
    ) -> KTable<Windowed<K>, V>
    where
        V: serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut t = self.aggregate(Reducer::new(reducer), materialized);
        t.value_serde = self.grouped.value_serde.clone();
        t
    }
}

/// Registers the store of a windowed aggregation on its processor and returns the resulting
/// table of windowed keys (written with `windowed_serde`), whose windows are closed
/// `closes_after` ms after their end (what `Suppressed::until_window_closes` waits for).
pub(crate) fn windowed_table<K: Clone + 'static, O: Clone + 'static>(
    graph: crate::builder::Graph,
    node: kstreams_core::NodeId,
    store: Arc<dyn kstreams_core::StoreBuilder>,
    windowed_serde: Arc<dyn Serde<Windowed<K>>>,
    closes_after: i64,
) -> KTable<Windowed<K>, O> {
    graph.store(store, &[node]);
    KTable::new(
        graph,
        node,
        Some(windowed_serde),
        None,
        TableMeta { window_closes_after: Some(closes_after), sends_old_values: true, ..TableMeta::default() },
    )
}
