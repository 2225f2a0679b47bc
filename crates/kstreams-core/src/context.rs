//! [`TaskContext`]: what every node of a task sees while it runs — its clocks, stores,
//! collector, counters, punctuation schedules and the record being processed. Private to the
//! crate; processors see it through [`crate::ProcessorContext`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::collector::SharedCollector;
use crate::error::{Result, StreamsError};
use crate::global::{GlobalStore, GlobalStores};
use crate::id::TaskId;
use crate::metrics::TaskMetrics;
use crate::punctuation::Punctuations;
use crate::punctuation::{Cancellable, PunctuationType};
use crate::record::Origin;
use crate::store::BuiltStore;

/// The running state of one task that its nodes share.
pub(crate) struct TaskContext {
    pub(crate) task_id: TaskId,
    pub(crate) application_id: Rc<str>,
    /// The task id as text, for logs and metric labels.
    pub(crate) task_name: Rc<str>,
    /// Highest timestamp seen.
    pub(crate) observed: i64,
    /// Minimum watermark of the active upstream tasks (`None`: unbounded).
    bound: Option<i64>,
    /// The stream time, `max(previous, min(observed, bound))`: what windows close on. Shared
    /// with the task's stores, which expire segments by it.
    clock: Arc<AtomicI64>,
    pub(crate) wall_clock: i64,
    pub(crate) stores: HashMap<String, BuiltStore>,
    pub(crate) collector: SharedCollector,
    pub(crate) metrics: TaskMetrics,
    /// Where the record being processed came from.
    pub(crate) origin: Option<Origin>,
    pub(crate) punctuations: Punctuations,
    pub(crate) globals: GlobalStores,
}

impl TaskContext {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        task_id: TaskId,
        application_id: &str,
        bound: Option<i64>,
        clock: Arc<AtomicI64>,
        stores: HashMap<String, BuiltStore>,
        collector: SharedCollector,
        globals: GlobalStores,
    ) -> Self {
        Self {
            task_id,
            application_id: Rc::from(application_id),
            task_name: Rc::from(task_id.to_string().as_str()),
            observed: i64::MIN,
            bound,
            clock,
            wall_clock: 0,
            stores,
            collector,
            metrics: TaskMetrics::default(),
            origin: None,
            punctuations: Punctuations::new(),
            globals,
        }
    }

    /// The task's stream time: the highest record timestamp seen so far, held back (when
    /// the task reads repartition topics) to the slowest active upstream task's watermark
    /// (`i64::MIN` before the first record). Windows close and records are late by this time.
    pub(crate) fn stream_time(&self) -> i64 {
        self.clock.load(Ordering::Relaxed)
    }

    /// Notes a record timestamp; stream time advances to it if it is later and no upstream
    /// watermark holds it back.
    pub(crate) fn observe_timestamp(&mut self, timestamp: i64) {
        if timestamp > self.observed {
            self.observed = timestamp;
            self.advance_stream_time();
        }
    }

    /// Sets stream time (and the highest timestamp seen) to at least `t`, whatever the bound:
    /// a committed stream time was within the bound when it was committed.
    pub(crate) fn resume_stream_time(&mut self, t: i64) {
        self.observed = self.observed.max(t);
        if t > self.stream_time() {
            self.clock.store(t, Ordering::Relaxed);
        }
    }

    /// Sets the upstream watermark bound (see [`crate::watermark`]).
    pub(crate) fn set_bound(&mut self, bound: Option<i64>) {
        self.bound = bound;
        self.advance_stream_time();
    }

    /// Moves stream time to `min(observed, bound)` if that is later.
    fn advance_stream_time(&mut self) {
        let t = self.bound.map_or(self.observed, |b| self.observed.min(b));
        if t > self.stream_time() {
            self.clock.store(t, Ordering::Relaxed);
        }
    }

    /// A typed store handle.
    pub(crate) fn store<T: 'static>(&self, name: &str) -> Result<Rc<RefCell<T>>> {
        let built = self.stores.get(name).ok_or_else(|| {
            StreamsError::Topology(format!("store `{name}` is not part of task {}", self.task_id))
        })?;
        built.typed::<T>().ok_or_else(|| {
            StreamsError::Topology(format!("store `{name}` is not a {}", std::any::type_name::<T>()))
        })
    }

    /// A handle to a global store of the instance (read-only for tasks).
    pub(crate) fn global_store(&self, name: &str) -> Result<GlobalStore> {
        self.globals.get(name).cloned().ok_or_else(|| {
            StreamsError::Topology(format!(
                "global store `{name}` is not available to task {}: it is not registered on the topology, \
                 or the global stores were not built (TaskConfig::global_stores)",
                self.task_id
            ))
        })
    }

    /// Schedules the punctuations of node `node`.
    pub(crate) fn schedule(&mut self, node: usize, interval: i64, kind: PunctuationType) -> Cancellable {
        self.punctuations.add(node, interval, kind, self.wall_clock)
    }
}
