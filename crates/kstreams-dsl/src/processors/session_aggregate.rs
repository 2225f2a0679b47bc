//! Session-window aggregation: merge a record with the sessions it touches.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use kstreams_core::Record;
use kstreams_core::{Processor, ProcessorContext};
use kstreams_core::{Result, StreamsError};
use kstreams_core::{SessionWindows, Window, Windowed};

use crate::aggregator::Aggregator;
use crate::processors::aggregate::ctx_record_late;
use crate::table::Change;
use kstreams_state::SessionStore;

/// For a record at `t`: finds the key's sessions with `end >= t - gap` and `start <= t + gap`,
/// merges them and the record into `[min start, max end]`, removes the merged-away sessions
/// (emitting a deletion for each, stamped with its end) and stores and emits the merged one,
/// stamped with its end. As in Kafka Streams, drops the record as late if the merged session
/// ends before stream time − gap − grace (the session has closed); one ending exactly then
/// is still accepted.
pub(crate) struct SessionWindowAggregate<A: Aggregator<K, V>, K, V> {
    pub(crate) agg: Arc<A>,
    pub(crate) windows: SessionWindows,
    pub(crate) store_name: String,
    pub(crate) store: Option<StoreHandle<K, A::Acc>>,
}

type StoreHandle<K, Acc> = Rc<RefCell<SessionStore<K, Acc>>>;

impl<A: Aggregator<K, V>, K: Clone + 'static, V: 'static> SessionWindowAggregate<A, K, V> {
    fn drop_late(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A::Output>>,
        timestamp: i64,
        session: Window,
        close_time: i64,
    ) {
        tracing::debug!(
            processor = ctx.node_name(),
            session_start = session.start,
            session_end = session.end,
            timestamp,
            close_time,
            stream_time = ctx.stream_time(),
            "dropping late record: its session has closed"
        );
        let name = ctx.node_name().to_string();
        ctx_record_late(ctx, &name);
    }

    /// Folds the accumulators of the sessions being merged, in store order. Merging is only
    /// needed from the second session on.
    fn merge_all<'a>(
        &self,
        ctx: &ProcessorContext<'_, Windowed<K>, Change<A::Output>>,
        accs: impl Iterator<Item = &'a A::Acc>,
    ) -> Result<A::Acc> {
        let mut merged: Option<A::Acc> = None;
        for acc in accs {
            merged = Some(match merged {
                None => acc.clone(),
                Some(m) => self.agg.merge(&m, acc).ok_or_else(|| {
                    StreamsError::process(
                        ctx.node_name(),
                        format!(
                            "a record bridges two sessions of store `{}` but the aggregator cannot merge \
                             them (Aggregator::merge returned None); session windows need an aggregator \
                             with merge, e.g. FnAggregator::with_merger",
                            self.store_name
                        ),
                    )
                })?,
            });
        }
        Ok(merged.unwrap_or_else(|| self.agg.init()))
    }
}

impl<K: Clone + 'static, V: 'static, A: Aggregator<K, V>> Processor<K, V, Windowed<K>, Change<A::Output>>
    for SessionWindowAggregate<A, K, V>
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
        let t = r.timestamp;
        let gap = self.windows.gap_ms;
        let close_time = ctx.stream_time().saturating_sub(gap).saturating_sub(self.windows.grace_ms);
        let found = store.borrow_mut().find_sessions(&r.key, t.saturating_sub(gap), t.saturating_add(gap))?;
        let merged =
            found.iter().fold(Window::new(t, t), |w, (s, e, _)| Window::new(w.start.min(*s), w.end.max(*e)));
        if merged.end < close_time {
            self.drop_late(ctx, t, merged, close_time);
            return Ok(());
        }
        let mut acc = self.merge_all(ctx, found.iter().map(|(_, _, a)| a))?;
        self.agg.add(&mut acc, &r.key, &r.value);

        // Store first: if the merged session were already expired nothing else changes.
        if !store.borrow_mut().put(&r.key, merged.start, merged.end, Some(&acc))? {
            self.drop_late(ctx, t, merged, close_time);
            return Ok(());
        }
        let mut old = None;
        for (start, end, prev) in found {
            if (start, end) == (merged.start, merged.end) {
                // Same bounds: overwritten in place by the put above.
                old = self.agg.result(&prev);
                continue;
            }
            store.borrow_mut().put(&r.key, start, end, None)?;
            ctx.forward(Record {
                key: Windowed::new(r.key.clone(), Window::new(start, end)),
                value: Change { new: None, old: self.agg.result(&prev) },
                timestamp: end,
                headers: r.headers.clone(),
            })?;
        }
        ctx.forward(Record {
            key: Windowed::new(r.key, merged),
            value: Change { new: self.agg.result(&acc), old },
            timestamp: merged.end,
            headers: r.headers,
        })
    }
}
