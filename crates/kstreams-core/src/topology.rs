//! The logical topology: a plain graph of sources, processors, sinks and stores.
//!
//! Building a topology only records nodes; the runtime and the test driver instantiate one set
//! of nodes per task from it (see [`crate::StreamTask`]). The graph splits into
//! *sub-topologies*: groups of nodes connected by parent/child edges or by a shared store.
//! Repartition topics cut the graph, because the sink writing a repartition topic and the
//! source reading it are different nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::error::{Result, StreamsError};
use crate::global::{GlobalStoreBuilder, GlobalStoreDef};
use crate::node::NodeFactory;
use crate::processor::Processor;
use crate::processor_node::ProcessorFactory;
use crate::serde::Serde;
use crate::sink::SinkFactory;
use crate::source::{SourceFactory, TimestampFn};
use crate::store::StoreBuilder;
use crate::topic::{RepartitionTopic, TopicRef};

/// A node's index in its topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// Reads topics.
    Source {
        /// The topics read.
        topics: Vec<TopicRef>,
    },
    /// Transforms records.
    Processor,
    /// Writes a topic.
    Sink {
        /// The topic written.
        topic: TopicRef,
    },
}

/// One node of the logical graph.
pub(crate) struct NodeDef {
    /// Unique name.
    pub(crate) name: String,
    /// Source, processor or sink.
    pub(crate) kind: NodeKind,
    /// Parents, in the order they were given.
    pub(crate) parents: Vec<usize>,
    /// Stores the node uses.
    pub(crate) stores: Vec<String>,
    /// Instantiates the node for a task.
    pub(crate) factory: Arc<dyn NodeFactory>,
}

/// A connected part of the topology; one task per input partition runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubTopology {
    /// The sub-topology's number.
    pub id: u32,
    /// Its nodes' indices, ascending.
    pub nodes: Vec<usize>,
    /// Topics its sources read.
    pub source_topics: Vec<TopicRef>,
    /// Topics its sinks write.
    pub sink_topics: Vec<TopicRef>,
    /// Stores used by its nodes.
    pub stores: Vec<String>,
}

impl SubTopology {
    /// How many tasks run this sub-topology: one per partition of its source topics (which
    /// are co-partitioned; the largest count should they differ), given each topic's partition
    /// count by resolved name. `None` when a count is unknown, or it reads no topic.
    pub fn task_count(&self, application_id: &str, partitions: impl Fn(&str) -> Option<i32>) -> Option<i32> {
        self.source_topics
            .iter()
            .map(|t| partitions(&t.resolve(application_id)))
            .collect::<Option<Vec<i32>>>()?
            .into_iter()
            .max()
    }

    /// [`SubTopology::task_count`] from the source topics whose count is known (`None` when
    /// none is). For repartition topics that feed each other in a cycle, as the two topics of
    /// a foreign-key join do: since a sub-topology's topics are co-partitioned, one known count
    /// gives the others.
    pub fn known_task_count(
        &self,
        application_id: &str,
        partitions: impl Fn(&str) -> Option<i32>,
    ) -> Option<i32> {
        self.source_topics.iter().filter_map(|t| partitions(&t.resolve(application_id))).max()
    }
}

/// The logical graph of a stream processing application.
#[derive(Default)]
pub struct Topology {
    nodes: Vec<NodeDef>,
    stores: BTreeMap<String, Arc<dyn StoreBuilder>>,
    repartitions: Vec<RepartitionTopic>,
    globals: Vec<GlobalStoreDef>,
    /// The sub-topologies, computed once when first asked for (and again after a change).
    subtopologies: OnceLock<Vec<SubTopology>>,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node of any kind. Parents must already exist.
    pub(crate) fn add_node(
        &mut self,
        name: impl Into<String>,
        kind: NodeKind,
        parents: &[NodeId],
        factory: Arc<dyn NodeFactory>,
    ) -> Result<NodeId> {
        let name = name.into();
        if self.nodes.iter().any(|n| n.name == name) {
            return Err(StreamsError::Topology(format!("duplicate node name `{name}`")));
        }
        for p in parents {
            match self.nodes.get(p.0) {
                None => {
                    return Err(StreamsError::Topology(format!("node `{name}` has unknown parent #{}", p.0)))
                }
                Some(parent) if matches!(parent.kind, NodeKind::Sink { .. }) => {
                    return Err(StreamsError::Topology(format!(
                        "sink `{}` cannot have children",
                        parent.name
                    )))
                }
                Some(_) => {}
            }
        }
        if matches!(kind, NodeKind::Source { .. }) != parents.is_empty() {
            return Err(StreamsError::Topology(format!(
                "node `{name}`: sources, and only sources, have no parents"
            )));
        }
        self.nodes.push(NodeDef {
            name,
            kind,
            parents: parents.iter().map(|p| p.0).collect(),
            stores: Vec::new(),
            factory,
        });
        self.changed();
        Ok(NodeId(self.nodes.len() - 1))
    }

    /// Adds a source reading `topics` with the given serdes.
    pub fn add_source<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: impl Into<String>,
        topics: Vec<TopicRef>,
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
        timestamp: Option<TimestampFn<K, V>>,
    ) -> Result<NodeId> {
        if topics.is_empty() {
            return Err(StreamsError::Topology("a source needs at least one topic".into()));
        }
        let mut taken: BTreeSet<TopicRef> = self.source_topics().into_iter().collect();
        taken.extend(self.global_topics().into_iter().map(TopicRef::External));
        if let Some(t) = topics.iter().find(|t| taken.contains(t)) {
            return Err(StreamsError::Topology(format!("topic `{t}` is already read by another source")));
        }
        let factory = Arc::new(SourceFactory::new(key_serde, value_serde, timestamp));
        self.add_node(name, NodeKind::Source { topics }, &[], factory)
    }

    /// Adds a processor made fresh for each task by `make`.
    pub fn add_processor<P, KIn, VIn, KOut, VOut>(
        &mut self,
        name: impl Into<String>,
        parents: &[NodeId],
        make: impl Fn() -> P + Send + Sync + 'static,
    ) -> Result<NodeId>
    where
        P: Processor<KIn, VIn, KOut, VOut>,
        KIn: 'static,
        VIn: 'static,
        KOut: Clone + 'static,
        VOut: Clone + 'static,
    {
        let factory = Arc::new(ProcessorFactory::<_, P, KIn, VIn, KOut, VOut>::new(make));
        self.add_node(name, NodeKind::Processor, parents, factory)
    }

    /// Adds a sink writing `topic` with the given serdes.
    pub fn add_sink<K: 'static, V: 'static>(
        &mut self,
        name: impl Into<String>,
        topic: TopicRef,
        parents: &[NodeId],
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
    ) -> Result<NodeId> {
        let factory = Arc::new(SinkFactory::new(topic.clone(), key_serde, value_serde));
        self.add_node(name, NodeKind::Sink { topic }, parents, factory)
    }

    /// Registers a store and connects it to `processors`.
    pub fn add_store(&mut self, builder: Arc<dyn StoreBuilder>, processors: &[NodeId]) -> Result<()> {
        let name = builder.name().to_string();
        if self.stores.contains_key(&name) {
            return Err(StreamsError::Topology(format!("duplicate store name `{name}`")));
        }
        self.stores.insert(name.clone(), builder);
        for p in processors {
            self.connect_store(*p, &name)?;
        }
        Ok(())
    }

    /// Gives `node` access to an already registered store.
    pub fn connect_store(&mut self, node: NodeId, store: &str) -> Result<()> {
        if !self.stores.contains_key(store) {
            return Err(StreamsError::Topology(format!("unknown store `{store}`")));
        }
        let def = self
            .nodes
            .get_mut(node.0)
            .ok_or_else(|| StreamsError::Topology(format!("unknown node #{}", node.0)))?;
        if !def.stores.iter().any(|s| s == store) {
            def.stores.push(store.to_string());
        }
        self.changed();
        Ok(())
    }

    /// Registers a global store fed by `topic`: every instance reads all partitions of the
    /// topic into its own copy of the store (see [`crate::GlobalStores`]). `source_name` and
    /// `processor_name` name the nodes shown by [`Topology::describe`]; they are not part of
    /// any sub-topology and generate no tasks. The topic may not be read by any other source.
    pub fn add_global_store(
        &mut self,
        source_name: impl Into<String>,
        topic: impl Into<String>,
        processor_name: impl Into<String>,
        builder: Arc<dyn GlobalStoreBuilder>,
    ) -> Result<()> {
        let (source_name, topic, processor_name) = (source_name.into(), topic.into(), processor_name.into());
        let name = builder.name().to_string();
        if self.stores.contains_key(&name) || self.globals.iter().any(|g| g.builder.name() == name) {
            return Err(StreamsError::Topology(format!("duplicate store name `{name}`")));
        }
        let external = TopicRef::External(topic.clone());
        if self.source_topics().contains(&external) || self.global_topics().contains(&topic) {
            return Err(StreamsError::Topology(format!("topic `{topic}` is already read by another source")));
        }
        for node in [&source_name, &processor_name] {
            if self.nodes.iter().any(|n| &n.name == node)
                || self.globals.iter().any(|g| &g.source_name == node || &g.processor_name == node)
            {
                return Err(StreamsError::Topology(format!("duplicate node name `{node}`")));
            }
        }
        self.globals.push(GlobalStoreDef { source_name, processor_name, topic, builder });
        Ok(())
    }

    /// The registered global stores, in the order they were added.
    pub fn global_stores(&self) -> &[GlobalStoreDef] {
        &self.globals
    }

    /// The topics feeding global stores.
    pub fn global_topics(&self) -> Vec<String> {
        self.globals.iter().map(|g| g.topic.clone()).collect()
    }

    /// Declares an internal repartition topic (its sink and source are added separately).
    pub fn add_repartition_topic(&mut self, topic: RepartitionTopic) {
        if !self.repartitions.iter().any(|r| r.topic == topic.topic) {
            self.repartitions.push(topic);
        }
    }

    /// The graph changed: the sub-topologies are computed again when next asked for.
    fn changed(&mut self) {
        self.subtopologies = OnceLock::new();
    }

    /// The nodes, in the order they were added (parents before children).
    pub(crate) fn nodes(&self) -> &[NodeDef] {
        &self.nodes
    }

    /// The registered store builders by name.
    pub fn stores(&self) -> &BTreeMap<String, Arc<dyn StoreBuilder>> {
        &self.stores
    }

    /// The declared repartition topics.
    pub fn repartition_topics(&self) -> &[RepartitionTopic] {
        &self.repartitions
    }

    /// The children of node `index`, in the order they were added.
    pub(crate) fn children(&self, index: usize) -> Vec<usize> {
        (index + 1..self.nodes.len()).filter(|j| self.nodes[*j].parents.contains(&index)).collect()
    }

    /// Every topic read by a source.
    pub fn source_topics(&self) -> Vec<TopicRef> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Source { topics } => Some(topics.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Every store that writes a changelog, with its changelog topic for this application.
    pub fn changelog_topics(&self, application_id: &str) -> Vec<(String, String)> {
        self.stores
            .values()
            .filter(|b| b.logging_enabled())
            .map(|b| (b.name().to_string(), crate::changelog_topic(application_id, b.name())))
            .collect()
    }

    /// The sub-topologies: connected parts of the graph, numbered in the order of their
    /// first node.
    pub fn subtopologies(&self) -> &[SubTopology] {
        self.subtopologies.get_or_init(|| self.split())
    }

    /// Splits the graph into sub-topologies.
    fn split(&self) -> Vec<SubTopology> {
        let n = self.nodes.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        fn union(p: &mut [usize], a: usize, b: usize) {
            let (ra, rb) = (find(p, a), find(p, b));
            if ra != rb {
                p[ra.max(rb)] = ra.min(rb);
            }
        }
        let mut store_owner: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            for &q in &node.parents {
                union(&mut parent, i, q);
            }
            for s in &node.stores {
                match store_owner.get(s.as_str()) {
                    Some(&o) => union(&mut parent, i, o),
                    None => {
                        store_owner.insert(s, i);
                    }
                }
            }
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..n {
            let root = find(&mut parent, i);
            groups.entry(root).or_default().push(i);
        }
        let mut subs: Vec<Vec<usize>> = groups.into_values().collect();
        subs.sort_by_key(|nodes| nodes[0]);
        subs.into_iter()
            .enumerate()
            .map(|(id, nodes)| {
                let mut source_topics = Vec::new();
                let mut sink_topics = Vec::new();
                let mut stores = BTreeSet::new();
                for &i in &nodes {
                    match &self.nodes[i].kind {
                        NodeKind::Source { topics } => source_topics.extend(topics.iter().cloned()),
                        NodeKind::Sink { topic } => sink_topics.push(topic.clone()),
                        NodeKind::Processor => {}
                    }
                    stores.extend(self.nodes[i].stores.iter().cloned());
                }
                SubTopology {
                    id: id as u32,
                    nodes,
                    source_topics,
                    sink_topics,
                    stores: stores.into_iter().collect(),
                }
            })
            .collect()
    }
}
