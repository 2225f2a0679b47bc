//! The Processor API: what the DSL is built on, and what users reach for when the DSL does not
//! cover a need.
//!
//! A [`Processor`] receives typed records, may read and write state stores, forwards records
//! to its children and may schedule punctuations on stream time or wall-clock time. Only
//! [`Processor::process`] is required; the lifecycle hooks default to nothing.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::context::TaskContext;
use crate::error::{Result, StreamsError};
use crate::id::TaskId;
use crate::node::{InputRef, NodeMeta};
use crate::punctuation::{Cancellable, PunctuationType};
use crate::record::{Origin, Record};
use crate::window::millis;

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

/// What a processor sees of the task while it runs.
pub struct ProcessorContext<'a, K, V> {
    node: &'a NodeMeta,
    children: &'a [InputRef<K, V>],
    task: &'a mut TaskContext,
}

impl<'a, K, V> ProcessorContext<'a, K, V> {
    /// A context for `node` forwarding to `children`.
    pub(crate) fn new(node: &'a NodeMeta, children: &'a [InputRef<K, V>], task: &'a mut TaskContext) -> Self {
        Self { node, children, task }
    }
}

impl<K: Clone, V: Clone> ProcessorContext<'_, K, V> {
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
        self.task.task_id
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.task.application_id
    }

    /// The task's stream time: the highest record timestamp it has seen, the time by which
    /// windows close.
    pub fn stream_time(&self) -> i64 {
        self.task.stream_time()
    }

    /// The wall-clock time in ms as the task sees it (mockable in the test driver).
    pub fn wall_clock_time(&self) -> i64 {
        self.task.wall_clock
    }

    /// Where the record being processed was read from, if it came from a topic.
    pub fn origin(&self) -> Option<&Origin> {
        self.task.origin.as_ref()
    }

    /// A typed handle to a state store connected to this processor.
    pub fn store<T: 'static>(&self, name: &str) -> Result<Rc<RefCell<T>>> {
        self.task.store::<T>(name)
    }

    /// A handle to a global store: every instance holds the whole of its topic, and tasks
    /// only read it (updates come from the global topic). Reachable from every processor,
    /// without connecting it.
    pub fn global_store(&self, name: &str) -> Result<crate::GlobalStore> {
        self.task.global_store(name)
    }

    /// Schedules [`Processor::punctuate`] every `interval`, on stream time or wall-clock time,
    /// as Kafka Streams does: a stream-time schedule fires on multiples of `interval` from 0
    /// (first as soon as the task has a stream time) and is passed the stream time; a
    /// wall-clock one fires `interval` after the task's wall-clock time when it was made and
    /// is passed the wall-clock time. Each fires at most once per check, skipping missed
    /// intervals. The returned [`Cancellable`] stops it.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> Result<Cancellable> {
        let ms = millis(interval);
        if ms <= 0 {
            return Err(StreamsError::process(
                self.node.name.as_ref(),
                "punctuation interval must be positive",
            ));
        }
        Ok(self.task.schedule(self.node.index, ms, kind))
    }

    /// The task's metrics, to count what the processor drops or rejects.
    pub fn metrics(&mut self) -> &mut crate::TaskMetrics {
        &mut self.task.metrics
    }
}
