//! Aggregation of grouped streams, without windows and with time windows.

use std::sync::Arc;

use kstreams_core::Record;
use kstreams_core::Result;
use kstreams_core::{Processor, ProcessorContext};
use kstreams_core::{TimeWindows, Windowed};

use crate::aggregator::Aggregator;
use crate::processors::StoreHandle;
use crate::table::Change;
use kstreams_state::{KeyValueStore, WindowStore};

/// Folds every record of a key into the key's accumulator and emits the new result, stamped
/// with the largest timestamp of the records aggregated (see [`result_timestamp`]).
pub(crate) struct KvAggregate<A: Aggregator<K, V>, K, V> {
    pub(crate) agg: Arc<A>,
    pub(crate) store_name: String,
    pub(crate) store: Option<StoreHandle<KeyValueStore<K, A::Acc>>>,
}

impl<K: Clone + 'static, V: 'static, A: Aggregator<K, V>> Processor<K, V, K, Change<A::Output>>
    for KvAggregate<A, K, V>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A::Output>>) -> Result<()> {
        self.store = Some(ctx.store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, Change<A::Output>>,
    ) -> Result<()> {
        let Some(store) = &self.store else { return Ok(()) };
        let (new, old, timestamp) = {
            let mut s = store.borrow_mut();
            let old = s.get_with_timestamp(&r.key)?;
            let timestamp = result_timestamp(r.timestamp, old.as_ref().map(|(_, ts)| *ts));
            let old = old.map(|(acc, _)| acc);
            let mut acc = old.clone().unwrap_or_else(|| self.agg.init());
            self.agg.add(&mut acc, &r.key, &r.value);
            s.put_with_timestamp(&r.key, &acc, timestamp)?;
            (self.agg.result(&acc), old.and_then(|o| self.agg.result(&o)), timestamp)
        };
        ctx.forward(Record { key: r.key, value: Change { new, old }, timestamp, headers: r.headers })
    }
}

/// Folds each record into every time window containing it, unless the window has closed
/// (stream time >= window end + grace), in which case the record is dropped and counted late.
pub(crate) struct TimeWindowAggregate<A: Aggregator<K, V>, K, V> {
    pub(crate) agg: Arc<A>,
    pub(crate) windows: TimeWindows,
    pub(crate) store_name: String,
    pub(crate) store: Option<StoreHandle<WindowStore<K, A::Acc>>>,
}

impl<K: Clone + 'static, V: 'static, A: Aggregator<K, V>> Processor<K, V, Windowed<K>, Change<A::Output>>
    for TimeWindowAggregate<A, K, V>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A::Output>>) -> Result<()> {
        self.store = Some(ctx.store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A::Output>>,
    ) -> Result<()> {
        let Some(store) = self.store.clone() else { return Ok(()) };
        let close_time = ctx.stream_time().saturating_sub(self.windows.grace_ms);
        for window in self.windows.windows_for(r.timestamp) {
            if window.end <= close_time {
                tracing::debug!(
                    processor = ctx.node_name(),
                    window_start = window.start,
                    window_end = window.end,
                    timestamp = r.timestamp,
                    stream_time = ctx.stream_time(),
                    "dropping late record: its window closed"
                );
                let name = ctx.node_name().to_string();
                ctx_record_late(ctx, &name);
                continue;
            }
            let (new, old, timestamp) = {
                let mut s = store.borrow_mut();
                let old = s.fetch_with_timestamp(&r.key, window.start)?;
                let timestamp = result_timestamp(r.timestamp, old.as_ref().map(|(_, ts)| *ts));
                let old = old.map(|(acc, _)| acc);
                let mut acc = old.clone().unwrap_or_else(|| self.agg.init());
                self.agg.add(&mut acc, &r.key, &r.value);
                if !s.put_with_timestamp(&r.key, window.start, Some(&acc), timestamp)? {
                    drop(s);
                    let name = ctx.node_name().to_string();
                    ctx_record_late(ctx, &name);
                    continue;
                }
                (self.agg.result(&acc), old.and_then(|o| self.agg.result(&o)), timestamp)
            };
            ctx.forward(Record {
                key: Windowed::new(r.key.clone(), window),
                value: Change { new, old },
                timestamp,
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}

/// The timestamp of an aggregation result, as Kafka Streams stamps it: the record's for a new
/// aggregate, else the later of the record's and the aggregate's (the largest timestamp of
/// the records aggregated).
pub(crate) fn result_timestamp(record: i64, stored: Option<i64>) -> i64 {
    stored.map_or(record, |ts| ts.max(record))
}

/// Counts a late record in the task metrics and the metrics facade.
pub(crate) fn ctx_record_late<K, V>(ctx: &mut ProcessorContext<'_, K, V>, processor: &str) {
    let task = ctx.task_id().to_string();
    ctx.metrics().record_late(&task, processor);
}
