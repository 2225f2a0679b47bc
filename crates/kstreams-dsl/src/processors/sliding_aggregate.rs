//! Sliding-window aggregation (KIP-450), computed incrementally.
//!
//! The store holds, per key and window start, the accumulator and the latest record timestamp
//! of each window that exists. For every accepted record the invariant is kept: each record `x`
//! has its left window `[max(x - d, 0), ...]`, and its right window `[x + 1, x + 1 + d]` iff a
//! record lies in `(x, x + d]`. Then, for a new record at `t` (all windows read before it is
//! added):
//!
//! - the windows containing `t` get `t` added;
//! - a missing left window holds the records of `[t - d, t)`. If there are any, they are exactly
//!   the records of the existing window with the largest start among those ending before `t`
//!   (the left window of the previous record `p`, or the right window of the latest record
//!   before `t - d` when that one contains `p`); that window is recognized by its latest record
//!   being `>= t - d`. Otherwise the window starts empty;
//! - a missing right window of `t` holds the records of `(t, t + 1 + d]`; if there are any they
//!   are exactly those of the window with the largest start among those containing `t`, which
//!   is recognized by its latest record being `> t`;
//! - the previous record `p` (the latest record before `t`) needs a right window if `t` is
//!   within `d` of it; if it is missing, `t` is its only record (a record at `p + 1 + d` would
//!   have created it as its left window).
//!
//! Every window needed lies in starts `[t - 2d, t + 1]`, read with one range fetch.
//!
//! As in Kafka Streams (`KStreamSlidingWindowAggregate`), with `close time = stream time -
//! grace`: a record is dropped whole when its right window would end at or before the close
//! time, and a window is updated or created only while its end is at or after the close time
//! (each one skipped counts as a late record). Windows are emitted in Kafka's order (see
//! `updates`), each stamped with the latest timestamp of its records.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use kstreams_core::Record;
use kstreams_core::Result;
use kstreams_core::{Processor, ProcessorContext};
use kstreams_core::{SlidingWindows, Window, Windowed};

use crate::aggregator::Aggregator;
use crate::processors::aggregate::ctx_record_late;
use crate::sliding::SlidingWindowAcc;
use crate::table::Change;
use kstreams_state::WindowStore;

/// Creates and updates the sliding windows of each record; see the module docs.
pub(crate) struct SlidingWindowAggregate<A: Aggregator<K, V>, K, V> {
    pub(crate) agg: Arc<A>,
    pub(crate) windows: SlidingWindows,
    pub(crate) store_name: String,
    pub(crate) store: Option<StoreHandle<K, A::Acc>>,
}

type StoreHandle<K, Acc> = Rc<RefCell<WindowStore<K, SlidingWindowAcc<Acc>>>>;

/// A window to write: its start, its previous accumulator if it existed, and its new content.
type Update<Acc> = (i64, Option<Acc>, SlidingWindowAcc<Acc>);

impl<A: Aggregator<K, V>, K: Clone + 'static, V: 'static> SlidingWindowAggregate<A, K, V> {
    fn drop_late(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A::Output>>,
        timestamp: i64,
        window: Window,
        close_time: i64,
    ) {
        tracing::debug!(
            processor = ctx.node_name(),
            window_start = window.start,
            window_end = window.end,
            timestamp,
            close_time,
            stream_time = ctx.stream_time(),
            "dropping late record: its sliding window has closed"
        );
        let name = ctx.node_name().to_string();
        ctx_record_late(ctx, &name);
    }

    fn added(&self, base: SlidingWindowAcc<A::Acc>, r: &Record<K, V>) -> SlidingWindowAcc<A::Acc> {
        let SlidingWindowAcc { mut acc, max_timestamp } = base;
        self.agg.add(&mut acc, &r.key, &r.value);
        SlidingWindowAcc { acc, max_timestamp: max_timestamp.max(r.timestamp) }
    }

    /// The windows the record at `t` creates or updates, given the existing windows with
    /// starts in `[t - 2d, t + 1]` (ascending), in the order Kafka Streams emits them: for
    /// `t >= d` (`processReverse`) the existing windows containing `t` by descending start,
    /// then the previous record's new right window, the new left window and the record's own
    /// new right window; for an early record `t < d` (`processEarly`) the existing windows
    /// containing `t` other than `[0, d]` by ascending start, the record's own new right
    /// window, the previous record's new right window, and last the window `[0, d]`.
    fn updates(&self, existing: &[(i64, SlidingWindowAcc<A::Acc>)], r: &Record<K, V>) -> Vec<Update<A::Acc>> {
        let d = self.windows.time_difference_ms;
        let t = r.timestamp;
        let earliest = t.saturating_sub(d);
        let left_start = earliest.max(0);
        let right_start = t.saturating_add(1);
        let empty = || SlidingWindowAcc { acc: self.agg.init(), max_timestamp: t };

        let mut containing = Vec::new();
        let mut previous: Option<i64> = None;
        let mut left_base = None;
        let mut right_base = None;
        for (start, w) in existing {
            if w.max_timestamp < t {
                previous = previous.max(Some(w.max_timestamp));
            }
            if start.saturating_add(d) < t {
                left_base = Some(w);
            } else if *start <= t {
                right_base = Some(w);
                containing.push((*start, Some(w.acc.clone()), self.added(w.clone(), r)));
            }
        }
        let exists = |start: i64| existing.iter().any(|(s, _)| *s == start);

        let previous_right = previous
            .filter(|p| *p >= earliest && !exists(p + 1))
            .map(|p| (p + 1, None, self.added(empty(), r)));
        let left = (!exists(left_start)).then(|| {
            let base = match left_base.filter(|w| w.max_timestamp >= earliest) {
                Some(w) => w.clone(),
                None => empty(),
            };
            (left_start, None, self.added(base, r))
        });
        let own_right = right_base
            .filter(|w| !exists(right_start) && w.max_timestamp > t)
            .map(|w| (right_start, None, w.clone()));

        if t >= d {
            containing.reverse();
            containing.extend(previous_right.into_iter().chain(left).chain(own_right));
            containing
        } else {
            let combined = containing.iter().position(|u| u.0 == 0).map(|i| containing.remove(i));
            containing.extend(own_right.into_iter().chain(previous_right).chain(combined).chain(left));
            containing
        }
    }
}

impl<K: Clone + 'static, V: 'static, A: Aggregator<K, V>> Processor<K, V, Windowed<K>, Change<A::Output>>
    for SlidingWindowAggregate<A, K, V>
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
        if t < 0 {
            tracing::warn!(
                processor = ctx.node_name(),
                timestamp = t,
                "skipping record with a negative timestamp"
            );
            ctx.metrics().dropped_records += 1;
            return Ok(());
        }
        let d = self.windows.time_difference_ms;
        let close_time = ctx.stream_time().saturating_sub(self.windows.grace_ms);
        let right = Window::new(t.saturating_add(1), t.saturating_add(1).saturating_add(d));
        if right.end <= close_time {
            self.drop_late(ctx, t, right, close_time);
            return Ok(());
        }
        let existing =
            store.borrow_mut().fetch_range(&r.key, t.saturating_sub(d.saturating_mul(2)), right.start)?;
        for (start, old, new) in self.updates(&existing, &r) {
            let window = Window::new(start, start.saturating_add(d));
            if window.end < close_time || !store.borrow_mut().put(&r.key, start, Some(&new))? {
                self.drop_late(ctx, t, window, close_time);
                continue;
            }
            ctx.forward(Record {
                key: Windowed::new(r.key.clone(), window),
                value: Change { new: self.agg.result(&new.acc), old: old.and_then(|o| self.agg.result(&o)) },
                timestamp: new.max_timestamp,
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}
