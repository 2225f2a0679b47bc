//! [`CogroupedKStream`]: several grouped streams aggregated into one table (Kafka's
//! `KGroupedStream#cogroup`, KIP-150).

use std::sync::Arc;

use kstreams_core::{
    millis, BincodeSerde, NodeId, Serde, StreamsError, TimeWindowedSerde, TimeWindows, Windowed,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::aggregator::FnAggregator;
use crate::builder::Graph;
use crate::grouped::KGroupedStream;
use crate::options::Materialized;
use crate::processors::aggregate::{KvAggregate, TimeWindowAggregate};
use crate::processors::stateless::PassThrough;
use crate::query::{identity, kv_view, window_view, WithView};
use crate::table::{Change, KTable, TableMeta};
use kstreams_state::{KeyValueStoreBuilder, WindowStoreBuilder};

/// The shared initializer of a cogrouped aggregation.
type Init<A> = Arc<dyn Fn() -> A + Send + Sync>;

/// Adds one grouped stream's aggregation processor: `(store, initializer, windows, index)` →
/// its node.
type Install<A> = Box<dyn FnOnce(&str, &Init<A>, Option<TimeWindows>, usize) -> Option<NodeId>>;

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    /// Starts a cogrouped aggregation: this stream's records fold into the aggregate with
    /// `aggregator(key, value, aggregate)`; add other grouped streams (of any value type)
    /// with [`CogroupedKStream::cogroup`], then [`CogroupedKStream::aggregate`] makes one
    /// table from all of them, with one store. Each input record emits the shared aggregate,
    /// stamped like any aggregation (the largest timestamp aggregated).
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// let views = b.stream("views", Consumed::with(StringSerde, I64Serde)).group_by_key(Grouped::default());
    /// let clicks = b.stream("clicks", Consumed::with(StringSerde, StringSerde)).group_by_key(Grouped::default());
    /// views
    ///     .cogroup(|_user, _page, (v, c): (u64, u64)| (v + 1, c))
    ///     .cogroup(&clicks, |_user, _link, (v, c): (u64, u64)| (v, c + 1))
    ///     .aggregate(|| (0, 0), Materialized::as_("views-and-clicks"))
    ///     .to_stream()
    ///     .to("activity", Produced::with(StringSerde, JsonSerde::new()));
    /// # b.build().unwrap();
    /// ```
    pub fn cogroup<A: Clone + Serialize + DeserializeOwned + 'static>(
        &self,
        aggregator: impl Fn(&K, &V, A) -> A + Send + Sync + 'static,
    ) -> CogroupedKStream<K, A> {
        CogroupedKStream {
            graph: self.stream.graph.clone(),
            key_serde: self.key_serde.clone(),
            inputs: Vec::new(),
        }
        .cogroup(self, aggregator)
    }
}

/// Grouped streams aggregated together ([`KGroupedStream::cogroup`]).
pub struct CogroupedKStream<K, A> {
    graph: Graph,
    key_serde: Option<Arc<dyn Serde<K>>>,
    inputs: Vec<Install<A>>,
}

impl<K: Clone + 'static, A: Clone + Serialize + DeserializeOwned + 'static> CogroupedKStream<K, A> {
    /// Adds another grouped stream, folded in with `aggregator(key, value, aggregate)`. It
    /// must be co-partitioned with the others; a stream whose key changed is repartitioned
    /// (through `<grouping name>-repartition`, else `<store>-cogroup-<n>-repartition`).
    pub fn cogroup<V: Clone + 'static>(
        mut self,
        grouped: &KGroupedStream<K, V>,
        aggregator: impl Fn(&K, &V, A) -> A + Send + Sync + 'static,
    ) -> Self {
        let grouped = grouped.clone();
        if self.key_serde.is_none() {
            self.key_serde = grouped.key_serde.clone();
        }
        let aggregator = Arc::new(aggregator);
        self.inputs.push(Box::new(
            move |store: &str, init: &Init<A>, windows: Option<TimeWindows>, i: usize| {
                let (input, _) = grouped.prepare(&format!("{store}-cogroup-{i}"))?;
                let init = init.clone();
                let f = aggregator.clone();
                let agg = Arc::new(FnAggregator::new(move || init(), move |k: &K, v: &V, a: A| f(k, v, a)));
                let store_name = store.to_string();
                let graph = &grouped.stream.graph;
                Some(match windows {
                    None => graph.processor::<_, K, V, K, Change<A>>(
                        "COGROUPKSTREAM-AGGREGATE",
                        &[input.node],
                        move || KvAggregate { agg: agg.clone(), store_name: store_name.clone(), store: None },
                    ),
                    Some(windows) => graph.processor::<_, K, V, Windowed<K>, Change<A>>(
                        "COGROUPKSTREAM-AGGREGATE",
                        &[input.node],
                        move || TimeWindowAggregate {
                            agg: agg.clone(),
                            windows,
                            store_name: store_name.clone(),
                            store: None,
                        },
                    ),
                })
            },
        ));
        self
    }

    /// Installs every input's processor and the merge node after them.
    fn install(
        self,
        store_name: &str,
        init: Init<A>,
        windows: Option<TimeWindows>,
    ) -> Option<(Vec<NodeId>, Arc<dyn Serde<K>>)> {
        let Some(key_serde) = self.key_serde.clone() else {
            self.graph.fail(StreamsError::Topology(format!(
                "cogrouped aggregation `{store_name}` needs a key serde: pass one with Grouped::with"
            )));
            return None;
        };
        let nodes: Option<Vec<NodeId>> = self
            .inputs
            .into_iter()
            .enumerate()
            .map(|(i, install)| install(store_name, &init, windows, i))
            .collect();
        Some((nodes?, key_serde))
    }

    /// Aggregates every cogrouped stream into one table, starting each key from
    /// `initializer()`. The store keeps the aggregate with bincode.
    pub fn aggregate(
        self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        materialized: Materialized,
    ) -> KTable<K, A> {
        let graph = self.graph.clone();
        let store_name =
            materialized.name.clone().unwrap_or_else(|| graph.name("COGROUPKSTREAM-STATE-STORE"));
        let Some((nodes, key_serde)) = self.install(&store_name, Arc::new(initializer), None) else {
            return KTable::new(graph, NodeId(usize::MAX), None, None, TableMeta::default());
        };
        let store = WithView::new(
            KeyValueStoreBuilder::<K, A>::bincode(materialized.spec(&store_name), key_serde.clone())
                .timestamped(),
            kv_view::<K, A, A>(identity::<A>()),
        );
        graph.store(Arc::new(store), &nodes);
        let merge =
            graph.processor::<_, K, Change<A>, K, Change<A>>("COGROUPKSTREAM-MERGE", &nodes, || PassThrough);
        KTable::new(
            graph,
            merge,
            Some(key_serde),
            None,
            TableMeta { sends_old_values: true, ..TableMeta::default() },
        )
    }

    /// Windows the cogrouped aggregation with tumbling or hopping windows.
    pub fn windowed_by(self, windows: TimeWindows) -> TimeWindowedCogroupedKStream<K, A> {
        TimeWindowedCogroupedKStream { cogrouped: self, windows }
    }
}

/// A cogrouped aggregation with tumbling or hopping windows.
pub struct TimeWindowedCogroupedKStream<K, A> {
    cogrouped: CogroupedKStream<K, A>,
    windows: TimeWindows,
}

impl<K: Clone + 'static, A: Clone + Serialize + DeserializeOwned + 'static>
    TimeWindowedCogroupedKStream<K, A>
{
    /// Aggregates every cogrouped stream per window into one table; windows close as for
    /// [`crate::TimeWindowedKStream::aggregate`].
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// let a = b.stream("a", Consumed::with(StringSerde, I64Serde)).group_by_key(Grouped::default());
    /// let c = b.stream("c", Consumed::with(StringSerde, I64Serde)).group_by_key(Grouped::default());
    /// a.cogroup(|_k, v, sum: i64| sum + v)
    ///     .cogroup(&c, |_k, v, sum: i64| sum - v)
    ///     .windowed_by(TumblingWindows::of(Duration::from_secs(60)))
    ///     .aggregate(|| 0, Materialized::as_("net-per-minute"))
    ///     .to_stream()
    ///     .to("net", Produced::with(TimeWindowedSerde::string(Duration::from_secs(60)), I64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn aggregate(
        self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        materialized: Materialized,
    ) -> KTable<Windowed<K>, A> {
        let graph = self.cogrouped.graph.clone();
        let store_name =
            materialized.name.clone().unwrap_or_else(|| graph.name("COGROUPKSTREAM-STATE-STORE"));
        let windows = self.windows;
        let Some((nodes, key_serde)) =
            self.cogrouped.install(&store_name, Arc::new(initializer), Some(windows))
        else {
            return KTable::new(graph, NodeId(usize::MAX), None, None, TableMeta::default());
        };
        let retention = materialized.retention.map(millis).unwrap_or(0).max(windows.retention_ms());
        let store = WithView::new(
            WindowStoreBuilder::<K, A>::new(
                materialized.spec(&store_name),
                retention,
                key_serde.clone(),
                Arc::new(BincodeSerde::<A>::new()),
            )
            .timestamped(),
            window_view::<K, A, A>(windows.size_ms, identity::<A>()),
        );
        graph.store(Arc::new(store), &nodes);
        let merge = graph.processor::<_, Windowed<K>, Change<A>, Windowed<K>, Change<A>>(
            "COGROUPKSTREAM-MERGE",
            &nodes,
            || PassThrough,
        );
        let windowed_serde: Arc<dyn Serde<Windowed<K>>> =
            Arc::new(TimeWindowedSerde::of_millis(key_serde, windows.size_ms));
        let meta = TableMeta {
            window_closes_after: Some(windows.grace_ms),
            sends_old_values: true,
            ..TableMeta::default()
        };
        KTable::new(graph, merge, Some(windowed_serde), None, meta)
    }
}
