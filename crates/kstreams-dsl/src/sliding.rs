//! [`SlidingWindowedKStream`]: aggregations over sliding windows.
use std::sync::Arc;

use kstreams_core::{millis, SlidingWindows, TimeWindowedSerde, Windowed};
use kstreams_core::{BincodeSerde, U64Serde};
use serde::{Deserialize, Serialize};

use crate::aggregator::{Aggregator, Count, Reducer};
use crate::grouped::{KGroupedStream, WindowSpec};
use crate::options::Materialized;
use crate::processors::sliding_aggregate::SlidingWindowAggregate;
use crate::query::{window_view, ResultFn, WithView};
use crate::table::{Change, KTable, TableMeta};
use kstreams_state::WindowStoreBuilder;

/// What a sliding-window store keeps per key and window start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlidingWindowAcc<Acc> {
    /// The aggregator's accumulator over the window's records.
    pub acc: Acc,
    /// The timestamp of the window's latest record.
    pub max_timestamp: i64,
}

impl<K: Clone + 'static, V: Clone + 'static> WindowSpec<K, V> for SlidingWindows {
    type Windowed = SlidingWindowedKStream<K, V>;
    fn window(self, grouped: &KGroupedStream<K, V>) -> SlidingWindowedKStream<K, V> {
        SlidingWindowedKStream { grouped: grouped.clone(), windows: self }
    }
}

/// A grouped stream with sliding windows.
///
/// Sliding-windowed streams (Kafka Streams' KIP-450 sliding windows).
///
/// With a time difference `d`:
///
/// - Every window has size `d` and is inclusive at both ends: `[start, start + d]`.
/// - Each record at `t` has a *left window* `[t - d, t]` and, if another record of its key lies
///   in `(t, t + d]`, a *right window* `[t + 1, t + 1 + d]`. These are the only windows; each
///   holds the aggregate of exactly the records it contains. As in Kafka Streams no window
///   starts before 0: a record at `t < d` has the left window `[0, d]`.
/// - Every window a record creates or updates is emitted, in Kafka Streams' order (the
///   existing windows containing the record by descending start, then the previous record's
///   new right window, the new left window and the record's own new right window), stamped
///   with the window's latest record timestamp. The result table's windowed keys carry
///   `Window { start, end: start + d }`, written with [`TimeWindowedSerde`] of size `d`.
/// - Closing follows Kafka's rule with `close time = stream time - grace`: a window stays open
///   while its end is at or after the close time, and is closed (no longer updated or
///   created) once its end `< close time`, i.e. once stream time `> end + grace`; each window
///   a record cannot update for that reason counts as one late record. A record whose right
///   window would already be closed (`t + 1 + d <= close time`) is dropped whole and counted
///   once. With grace 0, a record at the stream time still updates the windows ending at it.
/// - [`Suppressed::until_window_closes`](crate::Suppressed::until_window_closes) emits each
///   window once it is closed by that rule (stream time `> end + grace`), so exactly once.
/// - Records with a negative timestamp are skipped (counted in `dropped_records`).
///
/// The aggregate is computed incrementally, as Kafka's `KStreamSlidingWindowAggregate` does:
/// the store keeps per window the accumulator and the window's latest record timestamp, and a
/// new window copies the accumulator of the existing window holding exactly its other records.
/// [`Aggregator::merge`] is not needed. The store keeps windows for `2d + grace + 1` of stream
/// time (at least), enough to find those windows for any record that is not late.
pub struct SlidingWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SlidingWindows,
}

impl<K: Clone + 'static, V: Clone + 'static> SlidingWindowedKStream<K, V> {
    /// Aggregates each key's records per sliding window. The store holds
    /// [`SlidingWindowAcc`]`<A::Acc>` per key and window start.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// b.stream("readings", Consumed::with(StringSerde, F64Serde))
    ///     .group_by_key(Grouped::default())
    ///     .windowed_by(SlidingWindows::with_time_difference_and_grace(
    ///         Duration::from_secs(60),
    ///         Duration::from_secs(10),
    ///     ))
    ///     .aggregate(Max::of(|c: &f64| *c), Materialized::as_("max-last-minute"))
    ///     .to_stream()
    ///     .to("max", Produced::with(TimeWindowedSerde::string(Duration::from_secs(60)), F64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn aggregate<A: Aggregator<K, V>>(
        &self,
        aggregator: A,
        materialized: Materialized,
    ) -> KTable<Windowed<K>, A::Output> {
        let g = &self.grouped;
        let store_name = g.store_name(&materialized, "KSTREAM-SLIDING-AGGREGATE-STATE-STORE");
        let graph = g.stream.graph.clone();
        let Some((input, key_serde)) = g.prepare(&store_name) else {
            return KTable::new(graph, g.stream.node, None, None, TableMeta::default());
        };
        let (d, grace) = (self.windows.time_difference_ms, self.windows.grace_ms);
        let needed = d.saturating_mul(2).saturating_add(grace).saturating_add(1);
        let retention = materialized.retention.map(millis).unwrap_or(0).max(needed);
        let store = WindowStoreBuilder::<K, SlidingWindowAcc<A::Acc>>::new(
            materialized.spec(&store_name),
            retention,
            key_serde.clone(),
            Arc::new(BincodeSerde::<SlidingWindowAcc<A::Acc>>::new()),
        );
        let agg = Arc::new(aggregator);
        let a = agg.clone();
        let result: ResultFn<SlidingWindowAcc<A::Acc>, A::Output> =
            Arc::new(move |w: &SlidingWindowAcc<A::Acc>| a.result(&w.acc));
        let store = WithView::new(store, window_view::<K, _, _>(d, result));
        let sn = store_name.clone();
        let windows = self.windows;
        let node = graph.processor::<_, K, V, Windowed<K>, Change<A::Output>>(
            "KSTREAM-SLIDING-WINDOWED-AGGREGATE",
            &[input.node],
            move || SlidingWindowAggregate { agg: agg.clone(), windows, store_name: sn.clone(), store: None },
        );
        // An inclusive end: closed once stream time passes end + grace.
        let windowed_serde = Arc::new(TimeWindowedSerde::of_millis(key_serde, d));
        crate::grouped::windowed_table(graph, node, Arc::new(store), windowed_serde, grace.saturating_add(1))
    }

    /// Counts each key's records per sliding window.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// b.stream("logins", Consumed::with(StringSerde, StringSerde))
    ///     .group_by_key(Grouped::default())
    ///     .windowed_by(SlidingWindows::with_time_difference_and_grace(
    ///         Duration::from_secs(60),
    ///         Duration::ZERO,
    ///     ))
    ///     .count(Materialized::as_("logins-per-minute"))
    ///     .suppress(Suppressed::until_window_closes())
    ///     .to_stream()
    ///     .to("login-bursts", Produced::with(TimeWindowedSerde::string(Duration::from_secs(60)), U64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn count(&self, materialized: Materialized) -> KTable<Windowed<K>, u64> {
        let mut t = self.aggregate(Count, materialized);
        t.value_serde = Some(Arc::new(U64Serde));
        t
    }

    /// Combines each key's values per sliding window with `reducer`.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// b.stream("payments", Consumed::with(StringSerde, I64Serde))
    ///     .group_by_key(Grouped::default())
    ///     .windowed_by(SlidingWindows::with_time_difference_and_grace(
    ///         Duration::from_secs(3600),
    ///         Duration::from_secs(60),
    ///     ))
    ///     .reduce(|a: &i64, b: &i64| a + b, Materialized::as_("spent-per-hour"))
    ///     .to_stream()
    ///     .to("spent", Produced::with(TimeWindowedSerde::string(Duration::from_secs(3600)), I64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn reduce(
        &self,
        reducer: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized,
    ) -> KTable<Windowed<K>, V>
    where
        V: Serialize + serde::de::DeserializeOwned,
    {
        let mut t = self.aggregate(Reducer::new(reducer), materialized);
        t.value_serde = self.grouped.value_serde.clone();
        t
    }
}
