//! The Processor API: what the DSL is built on, and what users reach for when the DSL does not
//! cover a need.
//!
//! A [`Processor`] receives typed records, may read and write state stores, forwards records
//! to its children and may schedule punctuations on stream time or wall-clock time. Only
//! [`Processor::process`] is required; the lifecycle hooks default to nothing.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Result, StreamsError};
use crate::record::{Origin, Record};
use crate::task::{TaskId, TaskShared};
use crate::window::millis;

/// When a punctuation fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// When the task's stream time passes the scheduled time (driven by record timestamps).
    StreamTime,
    /// When the wall clock passes the scheduled time.
    WallClockTime,
}

/// A user-defined processing step.
///
/// One instance is created per task (through the factory given to the topology), so mutable
/// fields are task-local; anything that must survive a restart belongs in a state store.
pub trait Processor<KIn, VIn, KOut, VOut>: 'static {
    /// Called once before the first record: look up stores and schedule punctuations here.
    fn init(&mut self, _ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        Ok(())
    }

    /// Handles one record.
    fn process(&mut self, record: Record<KIn, VIn>, ctx: &mut ProcessorContext<'_, KOut, VOut>)
        -> Result<()>;

    /// Called for each schedule made with [`ProcessorContext::schedule`] when it is due.
    fn punctuate(
        &mut self,
        _kind: PunctuationType,
        _timestamp: i64,
        _ctx: &mut ProcessorContext<'_, KOut, VOut>,
    ) -> Result<()> {
        Ok(())
    }

    /// Called once when the task closes.
    fn close(&mut self, _ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        Ok(())
    }
}

/// Static facts about a node, handed to its context.
#[derive(Debug, Clone)]
pub struct NodeMeta {
    /// The node's name.
    pub name: Rc<str>,
    /// Its index in the topology.
    pub index: usize,
}

/// A typed handle to a node's input.
pub type InputRef<K, V> = Rc<RefCell<dyn Input<K, V>>>;

/// Anything that accepts typed records: processor nodes and sinks.
pub trait Input<K, V> {
    /// Handles one record.
    fn process(&mut self, record: Record<K, V>, task: &mut TaskShared) -> Result<()>;
}

/// Accepts raw records read from a topic: source nodes.
pub trait RawInput {
    /// Deserializes and forwards one record.
    fn process_raw(&mut self, record: &crate::record::RawRecord, task: &mut TaskShared) -> Result<()>;
}

/// Lifecycle hooks of an instantiated node.
pub trait NodeLifecycle {
    /// Initializes the node.
    fn init(&mut self, task: &mut TaskShared) -> Result<()>;
    /// Runs a due punctuation.
    fn punctuate(&mut self, kind: PunctuationType, timestamp: i64, task: &mut TaskShared) -> Result<()>;
    /// Closes the node.
    fn close(&mut self, task: &mut TaskShared) -> Result<()>;
}

/// What a processor sees of the task while it runs.
pub struct ProcessorContext<'a, K, V> {
    node: &'a NodeMeta,
    children: &'a [InputRef<K, V>],
    task: &'a mut TaskShared,
}

impl<'a, K: Clone, V: Clone> ProcessorContext<'a, K, V> {
    /// A context for `node` forwarding to `children`.
    pub fn new(node: &'a NodeMeta, children: &'a [InputRef<K, V>], task: &'a mut TaskShared) -> Self {
        Self { node, children, task }
    }

    /// Sends a record to every child.
    pub fn forward(&mut self, record: Record<K, V>) -> Result<()> {
        match self.children {
            [] => Ok(()),
            [only] => only.borrow_mut().process(record, self.task),
            [rest @ .., last] => {
                for child in rest {
                    child.borrow_mut().process(record.clone(), self.task)?;
                }
                last.borrow_mut().process(record, self.task)
            }
        }
    }

    /// Sends a record to the child at `index` only (children are numbered in the order they
    /// were added; this is how `split` routes branches).
    pub fn forward_to(&mut self, index: usize, record: Record<K, V>) -> Result<()> {
        match self.children.get(index) {
            Some(child) => child.borrow_mut().process(record, self.task),
            None => Err(StreamsError::process(
                self.node.name.as_ref(),
                format!("no child {index} (node has {})", self.children.len()),
            )),
        }
    }

    /// Number of children.
    pub fn child_count(&self) -> usize {
        self.children.len()
    }
}

impl<K, V> ProcessorContext<'_, K, V> {
    /// The node's name.
    pub fn node_name(&self) -> &str {
        &self.node.name
    }

    /// The task this processor runs in.
    pub fn task_id(&self) -> TaskId {
        self.task.task_id()
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        self.task.application_id()
    }

    /// The task's stream time: the highest record timestamp it has seen, the time by which
    /// windows close.
    pub fn stream_time(&self) -> i64 {
        self.task.stream_time()
    }

    /// The wall-clock time in ms as the task sees it (mockable in the test driver).
    pub fn wall_clock_time(&self) -> i64 {
        self.task.wall_clock_time()
    }

    /// Where the record being processed was read from, if it came from a topic.
    pub fn origin(&self) -> Option<&Origin> {
        self.task.origin()
    }

    /// A typed handle to a state store connected to this processor.
    pub fn store<T: 'static>(&self, name: &str) -> Result<Rc<RefCell<T>>> {
        self.task.store::<T>(name)
    }

    /// A handle to a global store: every instance holds the whole of its topic, and tasks
    /// only read it (updates come from the global topic). Reachable from every processor,
    /// without connecting it.
    pub fn global_store(&self, name: &str) -> Result<crate::global::GlobalStore> {
        self.task.global_store(name)
    }

    /// Schedules [`Processor::punctuate`] every `interval`, on stream time or wall-clock time.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> Result<()> {
        let ms = millis(interval);
        if ms <= 0 {
            return Err(StreamsError::process(
                self.node.name.as_ref(),
                "punctuation interval must be positive",
            ));
        }
        self.task.schedule(self.node.index, ms, kind);
        Ok(())
    }

    /// The task's metrics, to count what the processor drops or rejects.
    pub fn metrics(&mut self) -> &mut crate::metrics::TaskMetrics {
        self.task.metrics_mut()
    }
}

/// A node running a [`Processor`].
pub struct ProcessorNode<P, KOut, VOut> {
    meta: NodeMeta,
    processor: P,
    children: Vec<InputRef<KOut, VOut>>,
}

impl<P, KOut, VOut> ProcessorNode<P, KOut, VOut> {
    /// Wraps a processor instance.
    pub fn new(meta: NodeMeta, processor: P, children: Vec<InputRef<KOut, VOut>>) -> Self {
        Self { meta, processor, children }
    }
}

impl<KIn, VIn, KOut: Clone, VOut: Clone, P: Processor<KIn, VIn, KOut, VOut>> Input<KIn, VIn>
    for ProcessorNode<P, KOut, VOut>
{
    fn process(&mut self, record: Record<KIn, VIn>, task: &mut TaskShared) -> Result<()> {
        let mut ctx = ProcessorContext::new(&self.meta, &self.children, task);
        self.processor.process(record, &mut ctx)
    }
}

/// Lifecycle of a processor node; generic over the input types only through `P`.
pub struct Lifecycle<P, KIn, VIn, KOut, VOut> {
    node: Rc<RefCell<ProcessorNode<P, KOut, VOut>>>,
    _in: std::marker::PhantomData<fn(KIn, VIn)>,
}

impl<KIn, VIn, KOut: Clone, VOut: Clone, P: Processor<KIn, VIn, KOut, VOut>> NodeLifecycle
    for Lifecycle<P, KIn, VIn, KOut, VOut>
{
    fn init(&mut self, task: &mut TaskShared) -> Result<()> {
        let mut node = self.node.borrow_mut();
        let node = &mut *node;
        let mut ctx = ProcessorContext::new(&node.meta, &node.children, task);
        node.processor.init(&mut ctx)
    }
    fn punctuate(&mut self, kind: PunctuationType, timestamp: i64, task: &mut TaskShared) -> Result<()> {
        let mut node = self.node.borrow_mut();
        let node = &mut *node;
        let mut ctx = ProcessorContext::new(&node.meta, &node.children, task);
        node.processor.punctuate(kind, timestamp, &mut ctx)
    }
    fn close(&mut self, task: &mut TaskShared) -> Result<()> {
        let mut node = self.node.borrow_mut();
        let node = &mut *node;
        let mut ctx = ProcessorContext::new(&node.meta, &node.children, task);
        node.processor.close(&mut ctx)
    }
}

/// A node input with its types erased, so the task can wire nodes of any types; the types are
/// checked once, when the task is built, never per record.
#[derive(Clone)]
pub struct ErasedInput(Rc<dyn Any>);

impl ErasedInput {
    /// Erases a typed input.
    pub fn new<K: 'static, V: 'static>(input: InputRef<K, V>) -> Self {
        Self(Rc::new(input))
    }

    /// Recovers the typed input; fails if `node` is wired to a child of other types.
    pub fn typed<K: 'static, V: 'static>(&self, node: &str) -> Result<InputRef<K, V>> {
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
pub struct BuiltNode {
    /// The typed input parents forward to (processors and sinks).
    pub input: Option<ErasedInput>,
    /// The raw input the task feeds (sources).
    pub raw: Option<Rc<RefCell<dyn RawInput>>>,
    /// Lifecycle hooks (processors).
    pub lifecycle: Option<Rc<RefCell<dyn NodeLifecycle>>>,
}

/// What a node factory gets when a task is built.
pub struct BuildContext<'a> {
    /// The node being built.
    pub meta: NodeMeta,
    /// Its children's inputs, in order.
    pub children: &'a [ErasedInput],
    /// The application id, to name internal topics.
    pub application_id: &'a str,
}

impl BuildContext<'_> {
    /// The children as typed inputs.
    pub fn typed_children<K: 'static, V: 'static>(&self) -> Result<Vec<InputRef<K, V>>> {
        self.children.iter().map(|c| c.typed::<K, V>(&self.meta.name)).collect()
    }
}

/// Instantiates a node for each task. Shared by all tasks and threads.
pub trait NodeFactory: Send + Sync {
    /// Builds the node for one task.
    fn build(&self, ctx: BuildContext<'_>) -> Result<BuiltNode>;
}

/// Carries type parameters without owning values of them.
type TypeMarker<T> = std::marker::PhantomData<fn() -> T>;

/// A factory for processor nodes from a closure that makes a fresh processor per task.
pub struct ProcessorFactory<F, P, KIn, VIn, KOut, VOut> {
    make: F,
    _types: TypeMarker<(P, KIn, VIn, KOut, VOut)>,
}

impl<F, P, KIn, VIn, KOut, VOut> ProcessorFactory<F, P, KIn, VIn, KOut, VOut> {
    /// Wraps a processor supplier.
    pub fn new(make: F) -> Self {
        Self { make, _types: std::marker::PhantomData }
    }
}

impl<F, P, KIn, VIn, KOut, VOut> NodeFactory for ProcessorFactory<F, P, KIn, VIn, KOut, VOut>
where
    F: Fn() -> P + Send + Sync,
    P: Processor<KIn, VIn, KOut, VOut>,
    KIn: 'static,
    VIn: 'static,
    KOut: Clone + 'static,
    VOut: Clone + 'static,
{
    fn build(&self, ctx: BuildContext<'_>) -> Result<BuiltNode> {
        let children = ctx.typed_children::<KOut, VOut>()?;
        let node = Rc::new(RefCell::new(ProcessorNode::new(ctx.meta, (self.make)(), children)));
        let input: InputRef<KIn, VIn> = node.clone();
        let lifecycle = Lifecycle::<P, KIn, VIn, KOut, VOut> { node, _in: std::marker::PhantomData };
        Ok(BuiltNode {
            input: Some(ErasedInput::new(input)),
            raw: None,
            lifecycle: Some(Rc::new(RefCell::new(lifecycle))),
        })
    }
}
