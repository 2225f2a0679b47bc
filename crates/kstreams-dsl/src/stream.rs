//! [`KStream`]: an unbounded stream of key-value records.

use std::sync::Arc;

use kstreams_core::Processor;
use kstreams_core::StreamsError;
use kstreams_core::{BytesSerde, Serde};
use kstreams_core::{NodeId, RepartitionTopic, TopicRef};

use crate::builder::Graph;
use crate::grouped::KGroupedStream;
use crate::options::Materialized;
use crate::options::{Grouped, Produced, Repartitioned};
use crate::processors::dedup::{DropDuplicates, PositionSerde, StampSource};
use crate::processors::stateless::{
    Filter, FlatMapP, FlatMapValuesP, MapP, MapValuesP, PassThrough, PeekP, SelectKeyP,
};
use kstreams_state::KeyValueStoreBuilder;

/// A stream of records with keys `K` and values `V`.
///
/// Every operator adds a node to the topology and returns a new handle; the same stream can
/// feed several operators. Closures are `Fn + Send + Sync + 'static`: they are shared by all
/// tasks, so mutable state belongs in stores, not in closures.
pub struct KStream<K, V> {
    pub(crate) graph: Graph,
    pub(crate) node: NodeId,
    pub(crate) key_serde: Option<Arc<dyn Serde<K>>>,
    pub(crate) value_serde: Option<Arc<dyn Serde<V>>>,
    /// True once the key may have changed since the source: grouping must repartition.
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        Self {
            graph: self.graph.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    pub(crate) fn new(
        graph: Graph,
        node: NodeId,
        key_serde: Option<Arc<dyn Serde<K>>>,
        value_serde: Option<Arc<dyn Serde<V>>>,
        repartition_required: bool,
    ) -> Self {
        Self { graph, node, key_serde, value_serde, repartition_required }
    }

    pub(crate) fn child<K2: Clone + 'static, V2: Clone + 'static>(
        &self,
        node: NodeId,
        key_serde: Option<Arc<dyn Serde<K2>>>,
        value_serde: Option<Arc<dyn Serde<V2>>>,
        repartition_required: bool,
    ) -> KStream<K2, V2> {
        KStream::new(self.graph.clone(), node, key_serde, value_serde, repartition_required)
    }

    /// Keeps the records for which `predicate` is true.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// b.stream("in", Consumed::with(StringSerde, F64Serde))
    ///     .filter(|_sensor, celsius| celsius.is_finite())
    ///     .to("out", Produced::with(StringSerde, F64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KStream<K, V> {
        let pred = Arc::new(predicate);
        let node = self.graph.processor::<_, K, V, K, V>("KSTREAM-FILTER", &[self.node], move || Filter {
            pred: pred.clone(),
            keep: true,
        });
        self.child(node, self.key_serde.clone(), self.value_serde.clone(), self.repartition_required)
    }

    /// Drops the records for which `predicate` is true.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KStream<K, V> {
        let pred = Arc::new(predicate);
        let node = self.graph.processor::<_, K, V, K, V>("KSTREAM-FILTER", &[self.node], move || Filter {
            pred: pred.clone(),
            keep: false,
        });
        self.child(node, self.key_serde.clone(), self.value_serde.clone(), self.repartition_required)
    }

    /// Replaces key and value. The key may change, so a later grouping repartitions.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// b.stream("in", Consumed::with(StringSerde, I64Serde))
    ///     .map(|k, v| (k.to_uppercase(), v * 2))
    ///     .to("out", Produced::with(StringSerde, I64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn map<K2: Clone + 'static, V2: Clone + 'static>(
        &self,
        f: impl Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let node = self.graph.processor::<_, K, V, K2, V2>("KSTREAM-MAP", &[self.node], MapP::supplier(f));
        self.child(node, None, None, true)
    }

    /// Replaces the value; the key is kept, so no repartition is needed.
    pub fn map_values<V2: Clone + 'static>(
        &self,
        f: impl Fn(V) -> V2 + Send + Sync + 'static,
    ) -> KStream<K, V2> {
        let node = self.graph.processor::<_, K, V, K, V2>(
            "KSTREAM-MAPVALUES",
            &[self.node],
            MapValuesP::supplier(f),
        );
        self.child(node, self.key_serde.clone(), None, self.repartition_required)
    }

    /// Replaces each record by any number of records.
    pub fn flat_map<K2: Clone + 'static, V2: Clone + 'static, I: IntoIterator<Item = (K2, V2)> + 'static>(
        &self,
        f: impl Fn(K, V) -> I + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let node =
            self.graph.processor::<_, K, V, K2, V2>("KSTREAM-FLATMAP", &[self.node], FlatMapP::supplier(f));
        self.child(node, None, None, true)
    }

    /// Replaces each value by any number of values, keeping the key.
    pub fn flat_map_values<V2: Clone + 'static, I: IntoIterator<Item = V2> + 'static>(
        &self,
        f: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> KStream<K, V2> {
        let node = self.graph.processor::<_, K, V, K, V2>(
            "KSTREAM-FLATMAPVALUES",
            &[self.node],
            FlatMapValuesP::supplier(f),
        );
        self.child(node, self.key_serde.clone(), None, self.repartition_required)
    }

    /// Calls `f` on each record and passes it on unchanged.
    pub fn peek(&self, f: impl Fn(&K, &V) + Send + Sync + 'static) -> KStream<K, V> {
        let node = self.graph.processor::<_, K, V, K, V>("KSTREAM-PEEK", &[self.node], PeekP::supplier(f));
        self.child(node, self.key_serde.clone(), self.value_serde.clone(), self.repartition_required)
    }

    /// Calls `f` on each record; a terminal operation.
    pub fn foreach(&self, f: impl Fn(&K, &V) + Send + Sync + 'static) {
        self.graph.processor::<_, K, V, K, V>("KSTREAM-FOREACH", &[self.node], PeekP::supplier(f));
    }

    /// Sets a new key computed from key and value (e.g. the `sensor_id` of an unkeyed
    /// reading). A later grouping repartitions by the new key.
    pub fn select_key<K2: Clone + 'static>(
        &self,
        f: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> KStream<K2, V> {
        let node = self.graph.processor::<_, K, V, K2, V>(
            "KSTREAM-KEY-SELECT",
            &[self.node],
            SelectKeyP::supplier(f),
        );
        self.child(node, None, self.value_serde.clone(), true)
    }

    /// Merges two streams of the same types into one.
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let node =
            self.graph.processor::<_, K, V, K, V>("KSTREAM-MERGE", &[self.node, other.node], || PassThrough);
        self.child(
            node,
            self.key_serde.clone().or_else(|| other.key_serde.clone()),
            self.value_serde.clone().or_else(|| other.value_serde.clone()),
            self.repartition_required || other.repartition_required,
        )
    }

    /// Writes the stream through an internal repartition topic, so records with equal keys
    /// land in the same partition (and task) downstream.
    pub fn repartition(&self, options: Repartitioned<K, V>) -> KStream<K, V> {
        let key_serde = options.key_serde.or_else(|| self.key_serde.clone());
        let value_serde = options.value_serde.or_else(|| self.value_serde.clone());
        let name = options.name.unwrap_or_else(|| self.graph.name("KSTREAM-REPARTITION"));
        self.repartition_through(&name, key_serde, value_serde, options.partitions)
    }

    /// Adds a repartition topic `<name>-repartition` with its sink and source.
    pub(crate) fn repartition_through(
        &self,
        name: &str,
        key_serde: Option<Arc<dyn Serde<K>>>,
        value_serde: Option<Arc<dyn Serde<V>>>,
        partitions: Option<i32>,
    ) -> KStream<K, V> {
        let (Some(ks), Some(vs)) = (key_serde, value_serde) else {
            self.graph.fail(StreamsError::Topology(format!(
                "repartition `{name}` needs key and value serdes: the key or value type changed upstream \
                 (map, select_key, ...), so pass them with Grouped::with / Repartitioned::with"
            )));
            return self.clone();
        };
        let topic = TopicRef::Internal(format!("{name}-repartition"));
        let sink_name = format!("{name}-repartition-sink");
        let source_name = format!("{name}-repartition-source");
        let parent = self.node;
        let (ks2, vs2) = (ks.clone(), vs.clone());
        let topic2 = topic.clone();
        // Every record written to the topic names the input record it came from, so the
        // downstream task can drop what an upstream replay re-sends (see `processors::dedup`).
        let stamp_name = format!("{name}-repartition-stamp");
        self.graph.with(|t| {
            t.add_repartition_topic(RepartitionTopic { topic: topic2.clone(), partitions });
            let stamp = t.add_processor::<_, K, V, K, V>(stamp_name, &[parent], StampSource::new)?;
            t.add_sink(sink_name, topic2, &[stamp], ks2, vs2)
        });
        let source = self
            .graph
            .with(|t| t.add_source(source_name, vec![topic], ks.clone(), vs.clone(), None))
            .unwrap_or(NodeId(usize::MAX));
        let dedup_name = format!("{name}-repartition-dedup");
        let store_name = dedup_name.clone();
        let node = self
            .graph
            .with(|t| {
                let n = t.add_processor::<_, K, V, K, V>(dedup_name, &[source], move || {
                    DropDuplicates::new(store_name.clone())
                })?;
                // Logged, so it is restored to the same commit point as the task's other stores.
                let store = KeyValueStoreBuilder::new(
                    Materialized::default().spec(&format!("{name}-repartition-dedup")),
                    Arc::new(BytesSerde),
                    Arc::new(PositionSerde),
                );
                t.add_store(Arc::new(store), &[n])?;
                Ok(n)
            })
            .unwrap_or(NodeId(usize::MAX));
        self.child(node, Some(ks), Some(vs), false)
    }

    /// Writes the stream to `topic`. Serdes default to the stream's own when it still has them.
    pub fn to(&self, topic: &str, produced: Produced<K, V>) {
        let name = produced.name.unwrap_or_else(|| self.graph.name("KSTREAM-SINK"));
        let (Some(ks), Some(vs)) = (
            produced.key_serde.or_else(|| self.key_serde.clone()),
            produced.value_serde.or_else(|| self.value_serde.clone()),
        ) else {
            self.graph
                .fail(StreamsError::Topology(format!("sink to `{topic}` needs serdes: use Produced::with")));
            return;
        };
        let parent = self.node;
        self.graph.with(|t| t.add_sink(name, TopicRef::External(topic.to_string()), &[parent], ks, vs));
    }

    /// Adds a custom [`Processor`] (made once per task by `make`), connected to `stores`
    /// (registered with [`crate::StreamsBuilder::add_state_store`] or by other operators).
    pub fn process<K2: Clone + 'static, V2: Clone + 'static, P: Processor<K, V, K2, V2>>(
        &self,
        make: impl Fn() -> P + Send + Sync + 'static,
        stores: &[&str],
    ) -> KStream<K2, V2> {
        let node = self.graph.processor::<P, K, V, K2, V2>("KSTREAM-PROCESSOR", &[self.node], make);
        for s in stores {
            self.graph.with(|t| t.connect_store(node, s));
        }
        self.child(node, None, None, true)
    }

    /// Groups by the current key, to aggregate. Repartitions first if the key may have
    /// changed since the source.
    pub fn group_by_key(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.clone(), grouped)
    }

    /// Groups by a new key computed from each record (a `select_key` then `group_by_key`).
    pub fn group_by<K2: Clone + 'static>(
        &self,
        f: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
        grouped: Grouped<K2, V>,
    ) -> KGroupedStream<K2, V> {
        self.select_key(f).group_by_key(grouped)
    }

    /// The stream's key serde, if known.
    pub fn key_serde(&self) -> Option<Arc<dyn Serde<K>>> {
        self.key_serde.clone()
    }

    /// The stream's value serde, if known.
    pub fn value_serde(&self) -> Option<Arc<dyn Serde<V>>> {
        self.value_serde.clone()
    }
}
