//! The plumbing that wires a task's node instances together: typed inputs, the raw input of
//! sources, lifecycle hooks, and the factories that build them for each task. Private to the
//! crate: users see [`crate::Processor`] and [`crate::ProcessorContext`].

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use crate::context::TaskContext;
use crate::error::{Result, SerdeError, StreamsError};
use crate::punctuation::PunctuationType;
use crate::record::{RawRecord, Record};

/// Static facts about a node, handed to its context.
#[derive(Debug, Clone)]
pub(crate) struct NodeMeta {
    /// The node's name.
    pub(crate) name: Rc<str>,
    /// Its index in the topology.
    pub(crate) index: usize,
}

/// A typed handle to a node's input.
pub(crate) type InputRef<K, V> = Rc<RefCell<dyn Input<K, V>>>;

/// Anything that accepts typed records: processor nodes and sinks.
pub(crate) trait Input<K, V> {
    /// Handles one record.
    fn process(&mut self, record: Record<K, V>, ctx: &mut TaskContext) -> Result<()>;
}

/// Which part of a raw record could not be deserialized.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The key.
    Key(SerdeError),
    /// The value.
    Value(SerdeError),
}

/// Accepts raw records read from a topic: source nodes. The task drives them in two steps,
/// so that it, not the source, applies the error policy and moves stream time.
pub(crate) trait RawInput {
    /// Deserializes `raw` and extracts its event time; keeps the record for [`Self::forward`].
    fn decode(&mut self, raw: &RawRecord) -> std::result::Result<i64, DecodeError>;
    /// Forwards the record decoded last to the source's children.
    fn forward(&mut self, ctx: &mut TaskContext) -> Result<()>;
}

/// Lifecycle hooks of an instantiated node.
pub(crate) trait NodeLifecycle {
    /// Initializes the node.
    fn init(&mut self, ctx: &mut TaskContext) -> Result<()>;
    /// Runs a due punctuation.
    fn punctuate(&mut self, kind: PunctuationType, timestamp: i64, ctx: &mut TaskContext) -> Result<()>;
    /// Closes the node.
    fn close(&mut self, ctx: &mut TaskContext) -> Result<()>;
}

/// A node input with its types erased, so the task can wire nodes of any types; the types are
/// checked once, when the task is built, never per record.
#[derive(Clone)]
pub(crate) struct ErasedInput(Rc<dyn Any>);

impl ErasedInput {
    /// Erases a typed input.
    pub(crate) fn new<K: 'static, V: 'static>(input: InputRef<K, V>) -> Self {
        Self(Rc::new(input))
    }

    /// Recovers the typed input; fails if `node` is wired to a child of other types.
    pub(crate) fn typed<K: 'static, V: 'static>(&self, node: &str) -> Result<InputRef<K, V>> {
        self.0.downcast_ref::<InputRef<K, V>>().cloned().ok_or_else(|| {
            StreamsError::Topology(format!(
                "node `{node}` forwards ({}, {}) but a child expects other types",
                std::any::type_name::<K>(),
                std::any::type_name::<V>()
            ))
        })
    }
}

/// A node instantiated for one task.
#[derive(Default)]
pub(crate) struct BuiltNode {
    /// The typed input parents forward to (processors and sinks).
    pub(crate) input: Option<ErasedInput>,
    /// The raw input the task feeds (sources).
    pub(crate) raw: Option<Rc<RefCell<dyn RawInput>>>,
    /// Lifecycle hooks (processors).
    pub(crate) lifecycle: Option<Rc<RefCell<dyn NodeLifecycle>>>,
}

/// What a node factory gets when a task is built.
pub(crate) struct BuildContext<'a> {
    /// The node being built.
    pub(crate) meta: NodeMeta,
    /// Its children's inputs, in order.
    pub(crate) children: &'a [ErasedInput],
    /// The application id, to name internal topics.
    pub(crate) application_id: &'a str,
}

impl BuildContext<'_> {
    /// The children as typed inputs.
    pub(crate) fn typed_children<K: 'static, V: 'static>(&self) -> Result<Vec<InputRef<K, V>>> {
        self.children.iter().map(|c| c.typed::<K, V>(&self.meta.name)).collect()
    }
}

/// Instantiates a node for each task. Shared by all tasks and threads.
pub(crate) trait NodeFactory: Send + Sync {
    /// Builds the node for one task.
    fn build(&self, ctx: BuildContext<'_>) -> Result<BuiltNode>;
}
