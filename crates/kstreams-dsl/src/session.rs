//! [`SessionWindowedKStream`]: aggregations over session windows.
use std::sync::Arc;

use kstreams_core::{millis, SessionWindowedSerde, SessionWindows, Windowed};
use kstreams_core::{BincodeSerde, U64Serde};

use crate::aggregator::{Aggregator, Count, Reducer};
use crate::grouped::{KGroupedStream, WindowSpec};
use crate::options::Materialized;
use crate::processors::session_aggregate::SessionWindowAggregate;
use crate::query::{session_view, WithView};
use crate::table::{Change, KTable, TableMeta};
use kstreams_state::SessionStoreBuilder;

impl<K: Clone + 'static, V: Clone + 'static> WindowSpec<K, V> for SessionWindows {
    type Windowed = SessionWindowedKStream<K, V>;
    fn window(self, grouped: &KGroupedStream<K, V>) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream { grouped: grouped.clone(), windows: self }
    }
}

/// A grouped stream with session windows.
///
/// Session-windowed streams: per key, records closer than an inactivity gap form one session.
///
/// Semantics follow Kafka Streams:
///
/// - A session is `[start, end]`, both inclusive: the timestamps of its first and last record.
///   The windowed keys of the resulting table carry exactly these bounds.
/// - A record at `t` joins every session of its key with `end >= t - gap` and
///   `start <= t + gap` (touching at the boundary counts: records exactly `gap` apart belong to
///   one session). All of them and the record merge into one session
///   `[min start, max end]`; the merged-away sessions are removed from the store and emitted as
///   deletions (`Change { new: None, old: Some(..) }`), then the merged session is emitted. A
///   session whose bounds do not change is updated in place: no deletion, `old` is its
///   previous value.
/// - Merging needs [`Aggregator::merge`]. Aggregators without it (an [`FnAggregator`] without
///   `with_merger`) work as long as no record bridges two sessions; the first record that does
///   fails processing with an error naming the processor.
/// - Results are stamped with the session's end; the deletion of a merged-away session with
///   that session's end (Kafka's `KStreamSessionWindowAggregate`). Windowed keys are written
///   with [`SessionWindowedSerde`] (key, end, start), Kafka's session-windowed format.
/// - As in Kafka Streams, with `close time = stream time - gap - grace`, a record whose merged
///   session would end *before* the close time is dropped and counted as late; a session
///   ending exactly at the close time is still updated. The store keeps sessions for
///   `gap + grace` of stream time.
/// - [`Suppressed::until_window_closes`](crate::Suppressed::until_window_closes) emits each
///   session once stream time passes `end + gap + grace` (when no record can change it any
///   more; Kafka's suppression emits at equality, and may then emit a session twice), and never
///   emits the deletions of merged-away sessions. As in Kafka Streams a closed session can
///   still be *merged into a new one*: a record less than `gap` after its end whose own session
///   is still open bridges to it, the closed session is deleted and the merged session (a
///   different windowed key) is emitted when it closes.
///
/// [`FnAggregator`]: crate::FnAggregator
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
}

impl<K: Clone + 'static, V: Clone + 'static> SessionWindowedKStream<K, V> {
    /// Aggregates each key's records per session. The aggregator must support
    /// [`Aggregator::merge`] for sessions that a record bridges; if it returns `None` when a
    /// merge is needed, processing fails with an error. A record whose session has closed
    /// (it would end before stream time − gap − grace) is dropped and counted as late.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// b.stream("clicks", Consumed::with(StringSerde, F64Serde))
    ///     .group_by_key(Grouped::default())
    ///     .windowed_by(SessionWindows::with_inactivity_gap(Duration::from_secs(300)))
    ///     .aggregate(Sum::of(|x: &f64| *x), Materialized::as_("spend-per-session"))
    ///     .to_stream()
    ///     .to("spend", Produced::with(SessionWindowedSerde::string(), F64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn aggregate<A: Aggregator<K, V>>(
        &self,
        aggregator: A,
        materialized: Materialized,
    ) -> KTable<Windowed<K>, A::Output> {
        let g = &self.grouped;
        let store_name = g.store_name(&materialized, "KSTREAM-SESSION-AGGREGATE-STATE-STORE");
        let graph = g.stream.graph.clone();
        let Some((input, key_serde)) = g.prepare(&store_name) else {
            return KTable::new(graph, g.stream.node, None, None, TableMeta::default());
        };
        let closes_after = self.windows.gap_ms.saturating_add(self.windows.grace_ms);
        let retention = materialized.retention.map(millis).unwrap_or(0).max(closes_after);
        let store = SessionStoreBuilder::<K, A::Acc>::new(
            materialized.spec(&store_name),
            retention,
            key_serde.clone(),
            Arc::new(BincodeSerde::<A::Acc>::new()),
        );
        let agg = Arc::new(aggregator);
        let store = WithView::new(store, session_view::<K, _, _>(crate::grouped::results(&agg)));
        let sn = store_name.clone();
        let windows = self.windows;
        let node = graph.processor::<_, K, V, Windowed<K>, Change<A::Output>>(
            "KSTREAM-SESSION-WINDOWED-AGGREGATE",
            &[input.node],
            move || SessionWindowAggregate { agg: agg.clone(), windows, store_name: sn.clone(), store: None },
        );
        // An inclusive end: closed once stream time passes end + gap + grace.
        let windowed_serde = Arc::new(SessionWindowedSerde::of(key_serde));
        crate::grouped::windowed_table(
            graph,
            node,
            Arc::new(store),
            windowed_serde,
            closes_after.saturating_add(1),
        )
    }

    /// Counts each key's records per session.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// b.stream("clicks", Consumed::with(StringSerde, StringSerde))
    ///     .group_by_key(Grouped::default())
    ///     .windowed_by(SessionWindows::with_inactivity_gap(Duration::from_secs(300)).grace(Duration::from_secs(60)))
    ///     .count(Materialized::as_("clicks-per-session"))
    ///     .suppress(Suppressed::until_window_closes())
    ///     .to_stream()
    ///     .to("sessions", Produced::with(SessionWindowedSerde::string(), U64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn count(&self, materialized: Materialized) -> KTable<Windowed<K>, u64> {
        let mut t = self.aggregate(Count, materialized);
        t.value_serde = Some(Arc::new(U64Serde));
        t
    }

    /// Combines each key's values per session with `reducer`; merging two sessions reduces
    /// their two results.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// b.stream("pages", Consumed::with(StringSerde, StringSerde))
    ///     .group_by_key(Grouped::default())
    ///     .windowed_by(SessionWindows::with_inactivity_gap(Duration::from_secs(300)))
    ///     .reduce(|a: &String, b: &String| format!("{a},{b}"), Materialized::as_("paths"))
    ///     .to_stream()
    ///     .to("paths", Produced::with(SessionWindowedSerde::string(), StringSerde));
    /// # b.build().unwrap();
    /// ```
    pub fn reduce(
        &self,
        reducer: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized,
    ) -> KTable<Windowed<K>, V>
    where
        V: serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut t = self.aggregate(Reducer::new(reducer), materialized);
        t.value_serde = self.grouped.value_serde.clone();
        t
    }
}
