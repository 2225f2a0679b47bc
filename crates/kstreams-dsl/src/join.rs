//! Joins: windowed stream-stream joins, stream-table lookups and table-table joins, with
//! Kafka Streams semantics.
//!
//! Both inputs of a join must be co-partitioned: a stream whose key may have changed upstream
//! (`map`, `select_key`, ...) is repartitioned first, with serdes from [`Joined`] or the stream.
//! Joiners get the key and both values; for left and outer joins a missing side is `None`.

use std::sync::Arc;

use kstreams_core::JoinWindows;
use kstreams_core::StreamsError;
use kstreams_core::{BytesSerde, Serde};

use crate::options::{Joined, Materialized};
use crate::processors::join_stream::{JoinFns, NonJoined, Side, SideSpec, StreamJoinSide};
use crate::processors::join_table::{CombineFn, TableJoinSide};
use crate::processors::stateless::PassThrough;
use crate::processors::table::TableMaterialize;
use crate::stream::KStream;
use crate::table::{Change, KTable, TableMeta};
use kstreams_state::{KeyValueStoreBuilder, WindowStoreBuilder};

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Inner windowed join with another stream: a record at `t` joins each record of `other`
    /// with the same key in `[t - before, t + after]` (and `other`'s records join this stream's
    /// in the mirrored window). The result carries the later of the two timestamps.
    ///
    /// Each side is buffered in a window store (`<name>-this-join-store`,
    /// `<name>-other-join-store`) kept for `before + after + grace`. A record arriving after
    /// its window closed (stream time past `t + after + grace`, `t + before + grace` for
    /// `other`) is dropped and counted late; an out-of-order record joins only partners whose
    /// own window is still open, so two records join while both windows are open.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// let clicks = b.stream("clicks", Consumed::with(StringSerde, StringSerde));
    /// let views = b.stream("views", Consumed::with(StringSerde, StringSerde));
    /// clicks
    ///     .join(&views, |_user, c, v| format!("{c}/{v}"), JoinWindows::of(Duration::from_secs(5)), Joined::default())
    ///     .to("clicked-views", Produced::with(StringSerde, StringSerde));
    /// # b.build().unwrap();
    /// ```
    pub fn join<VO: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&K, &V, &VO) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: Joined<K, V, VO>,
    ) -> KStream<K, VR> {
        let fns = JoinFns { both: Box::new(joiner), left_only: None, right_only: None };
        self.stream_stream_join(other, fns, windows, joined, "KSTREAM-JOIN")
    }

    /// Left windowed join with another stream: like [`KStream::join`], and a record of this
    /// stream that found no partner is emitted with `None` once its join window has closed
    /// (stream time past `t + after + grace`), never before: a partner may still arrive until
    /// then. These records wait in the store `<name>-outer-shared-join-store`.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// let orders = b.stream("orders", Consumed::with(StringSerde, I64Serde));
    /// let payments = b.stream("payments", Consumed::with(StringSerde, I64Serde));
    /// orders
    ///     .left_join(
    ///         &payments,
    ///         |_id, amount, paid| paid.is_some_and(|p| p >= amount),
    ///         JoinWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(10)),
    ///         Joined::default().named("order-payments"),
    ///     )
    ///     .map_values(|ok| ok.to_string())
    ///     .to("order-paid", Produced::with(StringSerde, StringSerde));
    /// # b.build().unwrap();
    /// ```
    pub fn left_join<VO: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&K, &V, Option<&VO>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: Joined<K, V, VO>,
    ) -> KStream<K, VR> {
        let f = Arc::new(joiner);
        let g = f.clone();
        let fns = JoinFns {
            both: Box::new(move |k: &K, v: &V, vo: &VO| f(k, v, Some(vo))),
            left_only: Some(Box::new(move |k: &K, v: &V| g(k, v, None))),
            right_only: None,
        };
        self.stream_stream_join(other, fns, windows, joined, "KSTREAM-LEFTJOIN")
    }

    /// Outer windowed join with another stream: like [`KStream::left_join`], and records of
    /// `other` without a partner are emitted too (with `None` for this side) once their window
    /// closed (stream time past `t + before + grace`).
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// let a = b.stream("a", Consumed::with(StringSerde, I64Serde));
    /// let c = b.stream("c", Consumed::with(StringSerde, I64Serde));
    /// a.outer_join(
    ///     &c,
    ///     |_k, x, y| x.copied().unwrap_or(0) + y.copied().unwrap_or(0),
    ///     JoinWindows::of(Duration::from_secs(1)),
    ///     Joined::default(),
    /// )
    /// .to("sums", Produced::with(StringSerde, I64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn outer_join<VO: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&K, Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: Joined<K, V, VO>,
    ) -> KStream<K, VR> {
        let f = Arc::new(joiner);
        let (g, h) = (f.clone(), f.clone());
        let fns = JoinFns {
            both: Box::new(move |k: &K, v: &V, vo: &VO| f(k, Some(v), Some(vo))),
            left_only: Some(Box::new(move |k: &K, v: &V| g(k, Some(v), None))),
            right_only: Some(Box::new(move |k: &K, vo: &VO| h(k, None, Some(vo)))),
        };
        self.stream_stream_join(other, fns, windows, joined, "KSTREAM-OUTERJOIN")
    }

    /// A placeholder result after a recorded error (`build()` will fail).
    pub(crate) fn failed_join<VR: Clone + 'static>(&self) -> KStream<K, VR> {
        KStream::new(self.graph.clone(), self.node, None, None, false)
    }

    /// This stream repartitioned through `<name>-repartition` if its key may have changed.
    pub(crate) fn co_partitioned(
        &self,
        name: &str,
        key_serde: &Arc<dyn Serde<K>>,
        value_serde: &Arc<dyn Serde<V>>,
    ) -> KStream<K, V> {
        if self.repartition_required {
            self.repartition_through(name, Some(key_serde.clone()), Some(value_serde.clone()), None)
        } else {
            self.clone()
        }
    }

    fn stream_stream_join<VO: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KStream<K, VO>,
        fns: JoinFns<K, V, VO, VR>,
        windows: JoinWindows,
        joined: Joined<K, V, VO>,
        prefix: &str,
    ) -> KStream<K, VR> {
        let graph = self.graph.clone();
        let name = joined.name.clone().unwrap_or_else(|| graph.name(prefix));
        let key_serde =
            joined.key_serde.clone().or_else(|| self.key_serde.clone()).or_else(|| other.key_serde.clone());
        let left_serde = joined.value_serde.clone().or_else(|| self.value_serde.clone());
        let right_serde = joined.other_value_serde.clone().or_else(|| other.value_serde.clone());
        let (Some(ks), Some(ls), Some(rs)) = (key_serde, left_serde, right_serde) else {
            graph.fail(StreamsError::Topology(format!(
                "stream-stream join `{name}` needs a key serde and the value serdes of both sides for its window \
                 stores (and any repartition): a key or value type changed upstream, so pass them with Joined::with"
            )));
            return self.failed_join();
        };
        let left = self.co_partitioned(&format!("{name}-left"), &ks, &ls);
        let right = other.co_partitioned(&format!("{name}-right"), &ks, &rs);

        let retention = windows.before_ms.saturating_add(windows.after_ms).saturating_add(windows.grace_ms);
        let materialized = Materialized::default().with_store_type(joined.store_type);
        let this_name = format!("{name}-this-join-store");
        let other_name = format!("{name}-other-join-store");
        let this_store =
            WindowStoreBuilder::<K, V>::new(materialized.spec(&this_name), retention, ks.clone(), ls.clone())
                .retain_duplicates();
        let other_store = WindowStoreBuilder::<K, VO>::new(
            materialized.spec(&other_name),
            retention,
            ks.clone(),
            rs.clone(),
        )
        .retain_duplicates();

        let (left_buffered, right_buffered) = (fns.left_only.is_some(), fns.right_only.is_some());
        let fns = Arc::new(fns);
        let non_joined = (left_buffered || right_buffered).then(|| {
            Arc::new(NonJoined {
                store_name: format!("{name}-outer-shared-join-store"),
                key_serde: ks.clone(),
                left_serde: ls.clone(),
                right_serde: rs.clone(),
                fns: fns.clone(),
                windows,
            })
        });
        let f = fns.clone();
        let left_spec = Arc::new(SideSpec::<K, V, VO, VR> {
            side: Side::Left,
            windows,
            this_store: this_name.clone(),
            other_store: other_name.clone(),
            join: Box::new(move |k: &K, v: &V, vo: &VO| (f.both)(k, v, vo)),
            this_buffered: left_buffered,
            other_buffered: right_buffered,
            this_serde: ls,
        });
        let right_spec = Arc::new(SideSpec::<K, VO, V, VR> {
            side: Side::Right,
            windows,
            this_store: other_name,
            other_store: this_name,
            join: Box::new(move |k: &K, vo: &VO, v: &V| (fns.both)(k, v, vo)),
            this_buffered: right_buffered,
            other_buffered: left_buffered,
            this_serde: rs,
        });
        let nj = non_joined.clone();
        let left_node = graph.processor::<_, K, V, K, VR>("KSTREAM-JOINTHIS", &[left.node], move || {
            StreamJoinSide::<K, V, VO, V, VO, VR>::new(left_spec.clone(), nj.clone())
        });
        let nj = non_joined.clone();
        let right_node = graph.processor::<_, K, VO, K, VR>("KSTREAM-JOINOTHER", &[right.node], move || {
            StreamJoinSide::<K, VO, V, V, VO, VR>::new(right_spec.clone(), nj.clone())
        });
        let both = [left_node, right_node];
        graph.store(Arc::new(this_store), &both);
        graph.store(Arc::new(other_store), &both);
        if let Some(nj) = &non_joined {
            // Not cached: entries are few and short-lived, and emission scans them in order.
            let buffer = KeyValueStoreBuilder::<Vec<u8>, Vec<Vec<u8>>>::bincode(
                materialized.clone().with_caching(false).spec(&nj.store_name),
                Arc::new(BytesSerde),
            );
            graph.store(Arc::new(buffer), &both);
        }
        let merge = graph.processor::<_, K, VR, K, VR>("KSTREAM-MERGE", &both, || PassThrough);
        KStream::new(graph, merge, Some(ks), None, false)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    /// Inner join with another table: the result has a row for each key present in both.
    /// An update on either side looks up the other side's current value and emits the new
    /// and old result; when a side's row is deleted the result row is deleted.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// let names = b.table("names", Consumed::with(StringSerde, StringSerde), Materialized::as_("names"));
    /// let ages = b.table("ages", Consumed::with(StringSerde, I64Serde), Materialized::as_("ages"));
    /// names
    ///     .join(&ages, |_id, name, age| format!("{name} ({age})"))
    ///     .to_changelog_stream()
    ///     .to("people", Produced::with(StringSerde, OptionSerde(StringSerde)));
    /// # b.build().unwrap();
    /// ```
    pub fn join<VO: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&K, &V, &VO) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let fns = JoinFns { both: Box::new(joiner), left_only: None, right_only: None };
        self.table_table_join(other, fns, "KTABLE-JOIN")
    }

    /// Left join with another table: a row for each key of this table, joined with `None`
    /// while `other` has no row for it.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// let names = b.table("names", Consumed::with(StringSerde, StringSerde), Materialized::as_("names"));
    /// let ages = b.table("ages", Consumed::with(StringSerde, I64Serde), Materialized::as_("ages"));
    /// names
    ///     .left_join(&ages, |_id, name, age| format!("{name} ({age:?})"))
    ///     .to_stream()
    ///     .to("people", Produced::with(StringSerde, StringSerde));
    /// # b.build().unwrap();
    /// ```
    pub fn left_join<VO: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&K, &V, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let f = Arc::new(joiner);
        let g = f.clone();
        let fns = JoinFns {
            both: Box::new(move |k: &K, v: &V, vo: &VO| f(k, v, Some(vo))),
            left_only: Some(Box::new(move |k: &K, v: &V| g(k, v, None))),
            right_only: None,
        };
        self.table_table_join(other, fns, "KTABLE-LEFTJOIN")
    }

    /// Outer join with another table: a row for each key present in either table.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// let x = b.table("x", Consumed::with(StringSerde, I64Serde), Materialized::as_("x"));
    /// let y = b.table("y", Consumed::with(StringSerde, I64Serde), Materialized::as_("y"));
    /// x.outer_join(&y, |_k, a, b| a.copied().unwrap_or(0) + b.copied().unwrap_or(0))
    ///     .to_stream()
    ///     .to("x-plus-y", Produced::with(StringSerde, I64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn outer_join<VO: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&K, Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let f = Arc::new(joiner);
        let (g, h) = (f.clone(), f.clone());
        let fns = JoinFns {
            both: Box::new(move |k: &K, v: &V, vo: &VO| f(k, Some(v), Some(vo))),
            left_only: Some(Box::new(move |k: &K, v: &V| g(k, Some(v), None))),
            right_only: Some(Box::new(move |k: &K, vo: &VO| h(k, None, Some(vo)))),
        };
        self.table_table_join(other, fns, "KTABLE-OUTERJOIN")
    }

    /// This table with its current values in a timestamped key-value store, and the store's
    /// name. A table that is not materialized yet (or is versioned: joins read its latest
    /// values) is materialized here with its own serdes.
    pub(crate) fn joinable(&self, operation: &str) -> Option<(KTable<K, V>, String)> {
        if let (Some(store), None) = (&self.meta.store, self.meta.versioned) {
            return Some((self.clone(), store.clone()));
        }
        let (Some(ks), Some(vs)) = (self.key_serde.clone(), self.value_serde.clone()) else {
            self.graph.fail(StreamsError::Topology(format!(
                "{operation}: the table is not materialized and its serdes are unknown; call \
                 .materialize(Materialized::as_(..)) on it before joining"
            )));
            return None;
        };
        let name = self.graph.name("KTABLE-MATERIALIZE-STATE-STORE");
        let store = crate::query::WithView::new(
            KeyValueStoreBuilder::<K, V>::new(Materialized::default().spec(&name), ks, vs.clone())
                .timestamped(),
            crate::query::kv_view::<K, V, V>(crate::query::identity::<V>()),
        );
        let sn = name.clone();
        let node = self.graph.processor::<_, K, Change<V>, K, Change<V>>(
            "KTABLE-MATERIALIZE",
            &[self.node],
            move || TableMaterialize::<K, V> { store_name: sn.clone(), store: None },
        );
        self.graph.store(Arc::new(store), &[node]);
        let meta = TableMeta { store: Some(name.clone()), versioned: None, ..self.meta.clone() };
        Some((KTable::new(self.graph.clone(), node, self.key_serde.clone(), Some(vs), meta), name))
    }

    fn table_table_join<VO: Clone + 'static, VR: Clone + 'static>(
        &self,
        other: &KTable<K, VO>,
        fns: JoinFns<K, V, VO, VR>,
        prefix: &str,
    ) -> KTable<K, VR> {
        let graph = self.graph.clone();
        let operation = format!("table-table join `{}`", graph.name(prefix));
        let (Some((left, left_store)), Some((right, right_store))) =
            (self.joinable(&operation), other.joinable(&operation))
        else {
            return KTable::new(graph, self.node, None, None, TableMeta::default());
        };
        let fns = Arc::new(fns);
        let f = fns.clone();
        let left_combine: CombineFn<K, V, VO, VR> =
            Arc::new(move |k: &K, v: Option<&V>, vo: Option<&VO>| f.combine(k, v, vo));
        let right_combine: CombineFn<K, VO, V, VR> =
            Arc::new(move |k: &K, vo: Option<&VO>, v: Option<&V>| fns.combine(k, v, vo));
        let rs = right_store.clone();
        let left_node =
            graph.processor::<_, K, Change<V>, K, Change<VR>>("KTABLE-JOINTHIS", &[left.node], move || {
                TableJoinSide::<K, V, VO, VR> {
                    other_store: rs.clone(),
                    combine: left_combine.clone(),
                    other: None,
                }
            });
        let ls = left_store.clone();
        let right_node = graph.processor::<_, K, Change<VO>, K, Change<VR>>(
            "KTABLE-JOINOTHER",
            &[right.node],
            move || TableJoinSide::<K, VO, V, VR> {
                other_store: ls.clone(),
                combine: right_combine.clone(),
                other: None,
            },
        );
        graph.with(|t| t.connect_store(left_node, &right_store));
        graph.with(|t| t.connect_store(right_node, &left_store));
        let merge = graph.processor::<_, K, Change<VR>, K, Change<VR>>(
            "KTABLE-MERGE",
            &[left_node, right_node],
            || PassThrough,
        );
        let key_serde = left.key_serde.clone().or_else(|| right.key_serde.clone());
        KTable::new(
            graph,
            merge,
            key_serde,
            None,
            TableMeta { sends_old_values: true, ..TableMeta::default() },
        )
    }
}
