//! A [`Processor`] as a node of a task: its typed input, its lifecycle hooks, and the factory
//! that makes a fresh processor for each task.

use std::cell::RefCell;
use std::rc::Rc;

use crate::context::TaskContext;
use crate::error::Result;
use crate::node::{
    BuildContext, BuiltNode, ErasedInput, Input, InputRef, NodeFactory, NodeLifecycle, NodeMeta,
};
use crate::processor::{Processor, ProcessorContext};
use crate::punctuation::PunctuationType;
use crate::record::Record;

/// A node running a [`Processor`].
struct ProcessorNode<P, KOut, VOut> {
    meta: NodeMeta,
    processor: P,
    children: Vec<InputRef<KOut, VOut>>,
}

impl<KIn, VIn, KOut: Clone, VOut: Clone, P: Processor<KIn, VIn, KOut, VOut>> Input<KIn, VIn>
    for ProcessorNode<P, KOut, VOut>
{
    fn process(&mut self, record: Record<KIn, VIn>, ctx: &mut TaskContext) -> Result<()> {
        let mut pctx = ProcessorContext::new(&self.meta, &self.children, ctx);
        self.processor.process(record, &mut pctx)
    }
}

/// Lifecycle of a processor node; generic over the input types only through `P`.
struct Lifecycle<P, KIn, VIn, KOut, VOut> {
    node: Rc<RefCell<ProcessorNode<P, KOut, VOut>>>,
    _in: std::marker::PhantomData<fn(KIn, VIn)>,
}

impl<P, KIn, VIn, KOut, VOut> Lifecycle<P, KIn, VIn, KOut, VOut> {
    /// Runs `f` on the processor with a context for its node.
    fn with<R>(
        &mut self,
        ctx: &mut TaskContext,
        f: impl FnOnce(&mut P, &mut ProcessorContext<'_, KOut, VOut>) -> R,
    ) -> R {
        let mut node = self.node.borrow_mut();
        let node = &mut *node;
        let mut pctx = ProcessorContext::new(&node.meta, &node.children, ctx);
        f(&mut node.processor, &mut pctx)
    }
}

impl<KIn, VIn, KOut: Clone, VOut: Clone, P: Processor<KIn, VIn, KOut, VOut>> NodeLifecycle
    for Lifecycle<P, KIn, VIn, KOut, VOut>
{
    fn init(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.with(ctx, |p, pctx| p.init(pctx))
    }
    fn punctuate(&mut self, kind: PunctuationType, timestamp: i64, ctx: &mut TaskContext) -> Result<()> {
        self.with(ctx, |p, pctx| p.punctuate(kind, timestamp, pctx))
    }
    fn close(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.with(ctx, |p, pctx| p.close(pctx))
    }
}

/// Carries type parameters without owning values of them.
type TypeMarker<T> = std::marker::PhantomData<fn() -> T>;

/// A factory for processor nodes from a closure that makes a fresh processor per task.
pub(crate) struct ProcessorFactory<F, P, KIn, VIn, KOut, VOut> {
    make: F,
    _types: TypeMarker<(P, KIn, VIn, KOut, VOut)>,
}

impl<F, P, KIn, VIn, KOut, VOut> ProcessorFactory<F, P, KIn, VIn, KOut, VOut> {
    /// Wraps a processor supplier.
    pub(crate) fn new(make: F) -> Self {
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
        let node =
            Rc::new(RefCell::new(ProcessorNode { meta: ctx.meta, processor: (self.make)(), children }));
        let input: InputRef<KIn, VIn> = node.clone();
        let lifecycle = Lifecycle::<P, KIn, VIn, KOut, VOut> { node, _in: std::marker::PhantomData };
        Ok(BuiltNode {
            input: Some(ErasedInput::new(input)),
            raw: None,
            lifecycle: Some(Rc::new(RefCell::new(lifecycle))),
        })
    }
}
