//! [`StreamsBuilder`]: where a DSL topology starts.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use kstreams_core::Processor;
use kstreams_core::StoreBuilder;
use kstreams_core::{NodeId, TopicRef, Topology};
use kstreams_core::{OptionSerde, Serde};
use kstreams_core::{Result, StreamsError};

use crate::options::{Consumed, Materialized};
use crate::processors::table::TableSource;
use crate::stream::KStream;
use crate::table::{Change, KTable, TableMeta};

/// Shared state of a builder and the streams and tables made from it.
pub(crate) struct BuilderInner {
    pub(crate) topology: Topology,
    counter: usize,
    errors: Vec<StreamsError>,
}

/// A handle every stream and table keeps on its builder.
#[derive(Clone)]
pub(crate) struct Graph(Rc<RefCell<BuilderInner>>);

impl Graph {
    /// A fresh node name like Kafka Streams': `KSTREAM-FILTER-0000000003`.
    pub(crate) fn name(&self, prefix: &str) -> String {
        let mut inner = self.0.borrow_mut();
        let n = inner.counter;
        inner.counter += 1;
        format!("{prefix}-{n:010}")
    }

    /// Remembers an error to report from [`StreamsBuilder::build`].
    pub(crate) fn fail(&self, error: StreamsError) {
        self.0.borrow_mut().errors.push(error);
    }

    /// Runs `f` on the topology; an error is kept for `build()` and `None` returned.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Topology) -> Result<T>) -> Option<T> {
        let result = f(&mut self.0.borrow_mut().topology);
        match result {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// Adds a processor node; on error the returned id is a placeholder and `build()` fails.
    pub(crate) fn processor<P, KIn, VIn, KOut, VOut>(
        &self,
        prefix: &str,
        parents: &[NodeId],
        make: impl Fn() -> P + Send + Sync + 'static,
    ) -> NodeId
    where
        P: Processor<KIn, VIn, KOut, VOut>,
        KIn: 'static,
        VIn: 'static,
        KOut: Clone + 'static,
        VOut: Clone + 'static,
    {
        let name = self.name(prefix);
        self.with(|t| t.add_processor(name, parents, make)).unwrap_or(NodeId(usize::MAX))
    }

    /// Registers a store and connects it to `nodes`.
    pub(crate) fn store(&self, builder: Arc<dyn StoreBuilder>, nodes: &[NodeId]) {
        self.with(|t| t.add_store(builder, nodes));
    }
}

/// Builds a [`Topology`] from typed streams and tables.
///
/// ```
/// use kstreams_dsl::prelude::*;
///
/// let mut b = StreamsBuilder::new();
/// b.stream("words", Consumed::with(StringSerde, StringSerde))
///     .filter(|_k, v| !v.is_empty())
///     .to("non-empty", Produced::with(StringSerde, StringSerde));
/// let topology = b.build().unwrap();
/// assert!(topology.describe().to_string().contains("KSTREAM-FILTER"));
/// ```
pub struct StreamsBuilder {
    pub(crate) graph: Graph,
}

impl Default for StreamsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            graph: Graph(Rc::new(RefCell::new(BuilderInner {
                topology: Topology::new(),
                counter: 0,
                errors: Vec::new(),
            }))),
        }
    }

    /// A stream of the records of `topic`.
    pub fn stream<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        topic: &str,
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        self.stream_from(&[topic], consumed)
    }

    /// A stream of the records of several topics (they must be co-partitioned).
    pub fn stream_from<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        topics: &[&str],
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        let name = consumed.name.clone().unwrap_or_else(|| self.graph.name("KSTREAM-SOURCE"));
        let topics = topics.iter().map(|t| TopicRef::External((*t).to_string())).collect();
        let key_serde = consumed.key_serde.clone();
        let value_serde = consumed.value_serde.clone();
        let node = self
            .graph
            .with(|t| t.add_source(name, topics, key_serde.clone(), value_serde.clone(), consumed.timestamp))
            .unwrap_or(NodeId(usize::MAX));
        KStream::new(self.graph.clone(), node, Some(key_serde), Some(value_serde), false)
    }

    /// A changelog table of `topic`: the latest value per key, null values (tombstones)
    /// delete. Its store always exists (so it can be joined); named with
    /// [`Materialized::as_`] it is queryable under that name and the table is materialized in
    /// Kafka Streams' sense (it sends old values, see [`KTable::filter`]); with
    /// `Materialized::default()` it is Kafka's `builder.table(topic)`, whose every tombstone
    /// is forwarded.
    pub fn table<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized,
    ) -> KTable<K, V> {
        let source_name = consumed.name.clone().unwrap_or_else(|| self.graph.name("KTABLE-SOURCE-SOURCE"));
        let key_serde = consumed.key_serde.clone();
        let value_serde = consumed.value_serde.clone();
        let nullable: Arc<dyn Serde<Option<V>>> = Arc::new(OptionSerde(value_serde.clone()));
        let timestamp = consumed.timestamp.map(|f| {
            let g: kstreams_core::TimestampFn<K, Option<V>> =
                Arc::new(move |k: &K, v: &Option<V>, ts: i64| match v {
                    Some(v) => f(k, v, ts),
                    None => ts,
                });
            g
        });
        let topic_ref = TopicRef::External(topic.to_string());
        let source = self
            .graph
            .with(|t| t.add_source(source_name, vec![topic_ref], key_serde.clone(), nullable, timestamp))
            .unwrap_or(NodeId(usize::MAX));
        let store_name =
            materialized.name.clone().unwrap_or_else(|| self.graph.name("KTABLE-SOURCE-STATE-STORE"));
        let sends_old_values = materialized.name.is_some();
        if let Some(history) = materialized.versioned {
            return crate::versioned::versioned_table(
                &self.graph,
                source,
                &materialized,
                store_name,
                key_serde,
                value_serde,
                history,
            );
        }
        let store = crate::query::WithView::new(
            kstreams_state::KeyValueStoreBuilder::<K, V>::new(
                materialized.spec(&store_name),
                key_serde.clone(),
                value_serde.clone(),
            )
            .timestamped(),
            crate::query::kv_view::<K, V, V>(crate::query::identity::<V>()),
        );
        let sn = store_name.clone();
        let node =
            self.graph.processor::<_, K, Option<V>, K, Change<V>>("KTABLE-SOURCE", &[source], move || {
                TableSource::<K, V>::new(&sn, !sends_old_values)
            });
        self.graph.store(Arc::new(store), &[node]);
        KTable::new(
            self.graph.clone(),
            node,
            Some(key_serde),
            Some(value_serde),
            TableMeta { store: Some(store_name), sends_old_values, ..TableMeta::default() },
        )
    }

    /// Adds a store that `process` processors can connect to by name.
    pub fn add_state_store(&mut self, builder: Arc<dyn StoreBuilder>) {
        self.graph.store(builder, &[]);
    }

    /// Finishes the topology. Fails with the first error recorded while building (duplicate
    /// names, missing serdes for a repartition, ...).
    pub fn build(self) -> Result<Topology> {
        let mut inner = self.graph.0.borrow_mut();
        if let Some(e) = inner.errors.drain(..).next() {
            return Err(e);
        }
        Ok(std::mem::take(&mut inner.topology))
    }
}
