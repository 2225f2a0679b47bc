//! Stream-table joins: each stream record looks up the table's value for its key, the
//! current one or, for a versioned table, the one valid at the record's timestamp.

use std::sync::Arc;

use kstreams_core::BytesSerde;
use kstreams_core::StreamsError;

use crate::options::{Joined, Materialized};
use crate::processors::join_stream::JoinFns;
use crate::processors::join_table::StreamTableJoin;
use crate::processors::versioned::{JoinBuffer, VersionedStreamTableJoin};
use crate::stream::KStream;
use crate::table::KTable;
use kstreams_state::KeyValueStoreBuilder;

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Joins each record with the table's current value for its key (no window); records
    /// whose key is not in the table are dropped. Table updates emit nothing; the result
    /// carries the stream record's timestamp. A table that is not materialized yet is
    /// materialized with its own serdes. A versioned table
    /// ([`Materialized::versioned`](crate::Materialized::versioned)) is read as of the stream
    /// record's timestamp (KIP-914); for a grace period see [`KStream::join_table_with`].
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// let users = b.table("users", Consumed::with(StringSerde, StringSerde), Materialized::as_("users"));
    /// b.stream("clicks", Consumed::with(StringSerde, I64Serde))
    ///     .join_table(&users, |_id, clicks, name| format!("{name}: {clicks}"))
    ///     .to("named-clicks", Produced::with(StringSerde, StringSerde));
    /// # b.build().unwrap();
    /// ```
    pub fn join_table<VT: Clone + 'static, VR: Clone + 'static>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&K, &V, &VT) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let fns = JoinFns { both: Box::new(joiner), left_only: None, right_only: None };
        self.stream_table_join(table, fns, Joined::default(), "KSTREAM-JOIN")
    }

    /// Like [`KStream::join_table`], but a record whose key is not in the table is joined
    /// with `None`.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// let users = b.table("users", Consumed::with(StringSerde, StringSerde), Materialized::as_("users"));
    /// b.stream("clicks", Consumed::with(StringSerde, I64Serde))
    ///     .left_join_table(&users, |id, _clicks, name| name.cloned().unwrap_or_else(|| id.clone()))
    ///     .to("clickers", Produced::with(StringSerde, StringSerde));
    /// # b.build().unwrap();
    /// ```
    pub fn left_join_table<VT: Clone + 'static, VR: Clone + 'static>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&K, &V, Option<&VT>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let f = Arc::new(joiner);
        let g = f.clone();
        let fns = JoinFns {
            both: Box::new(move |k: &K, v: &V, t: &VT| f(k, v, Some(t))),
            left_only: Some(Box::new(move |k: &K, v: &V| g(k, v, None))),
            right_only: None,
        };
        self.stream_table_join(table, fns, Joined::default(), "KSTREAM-LEFTJOIN")
    }

    /// [`KStream::join_table`] with options: serdes and a name from [`Joined`], and for a
    /// versioned table a grace period ([`Joined::with_grace_period`], KIP-923): each stream
    /// record waits until stream time is `grace` past it, then joins the table as of its
    /// timestamp, so table updates arriving out of order within the grace are seen.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// let prices = b.table(
    ///     "prices",
    ///     Consumed::with(StringSerde, F64Serde),
    ///     Materialized::as_("prices").versioned(Duration::from_secs(600)),
    /// );
    /// b.stream("orders", Consumed::with(StringSerde, I64Serde))
    ///     .join_table_with(
    ///         &prices,
    ///         |_item, quantity, price| *quantity as f64 * price,
    ///         Joined::with(StringSerde, I64Serde, F64Serde).with_grace_period(Duration::from_secs(60)),
    ///     )
    ///     .to("order-totals", Produced::with(StringSerde, F64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn join_table_with<VT: Clone + 'static, VR: Clone + 'static>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&K, &V, &VT) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        let fns = JoinFns { both: Box::new(joiner), left_only: None, right_only: None };
        self.stream_table_join(table, fns, joined, "KSTREAM-JOIN")
    }

    /// [`KStream::left_join_table`] with the options of [`KStream::join_table_with`].
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use std::time::Duration;
    /// let mut b = StreamsBuilder::new();
    /// let names = b.table(
    ///     "names",
    ///     Consumed::with(StringSerde, StringSerde),
    ///     Materialized::as_("names").versioned(Duration::from_secs(60)),
    /// );
    /// b.stream("clicks", Consumed::with(StringSerde, I64Serde))
    ///     .left_join_table_with(&names, |id, _clicks, name| name.cloned().unwrap_or_else(|| id.clone()), Joined::default())
    ///     .to("clickers", Produced::with(StringSerde, StringSerde));
    /// # b.build().unwrap();
    /// ```
    pub fn left_join_table_with<VT: Clone + 'static, VR: Clone + 'static>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&K, &V, Option<&VT>) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        let f = Arc::new(joiner);
        let g = f.clone();
        let fns = JoinFns {
            both: Box::new(move |k: &K, v: &V, t: &VT| f(k, v, Some(t))),
            left_only: Some(Box::new(move |k: &K, v: &V| g(k, v, None))),
            right_only: None,
        };
        self.stream_table_join(table, fns, joined, "KSTREAM-LEFTJOIN")
    }

    fn stream_table_join<VT: Clone + 'static, VR: Clone + 'static>(
        &self,
        table: &KTable<K, VT>,
        fns: JoinFns<K, V, VT, VR>,
        joined: Joined<K, V, VT>,
        prefix: &str,
    ) -> KStream<K, VR> {
        let graph = self.graph.clone();
        let name = joined.name.clone().unwrap_or_else(|| graph.name(prefix));
        let operation = format!("stream-table join `{name}`");
        let store_name = match (&table.meta.store, table.meta.versioned) {
            (Some(store), Some(_)) => store.clone(),
            _ => match table.joinable(&operation) {
                Some((_, store)) => store,
                None => return self.failed_join(),
            },
        };
        if let Some(grace) = joined.grace {
            let Some(history) = table.meta.versioned else {
                graph.fail(StreamsError::Topology(format!(
                    "{operation}: the table must be versioned (Materialized::versioned) to use a grace period"
                )));
                return self.failed_join();
            };
            if history < grace {
                graph.fail(StreamsError::Topology(format!(
                    "{operation}: the table's history retention ({history} ms) must be at least the grace \
                     period ({grace} ms)"
                )));
                return self.failed_join();
            }
        }
        let key_serde =
            joined.key_serde.clone().or_else(|| self.key_serde.clone()).or_else(|| table.key_serde.clone());
        let input = if self.repartition_required {
            let (Some(ks), Some(vs)) = (key_serde.clone(), self.value_serde.clone()) else {
                graph.fail(StreamsError::Topology(format!(
                    "stream-table join `{name}`: the stream's key may have changed (map, select_key, ...), so it \
                     must be repartitioned, which needs its key and value serdes; call \
                     .repartition(Repartitioned::with(..)) before joining"
                )));
                return self.failed_join();
            };
            self.co_partitioned(&name, &ks, &vs)
        } else {
            self.clone()
        };
        let fns = Arc::new(fns);
        let sn = store_name.clone();
        let node = if table.meta.versioned.is_none() {
            graph.processor::<_, K, V, K, VR>(prefix, &[input.node], move || StreamTableJoin {
                store_name: sn.clone(),
                fns: fns.clone(),
                store: None,
            })
        } else {
            let value_serde = joined.value_serde.clone().or_else(|| self.value_serde.clone());
            let buffer = match (joined.grace, key_serde.clone(), value_serde) {
                (None, _, _) => None,
                (Some(grace_ms), Some(key_serde), Some(value_serde)) => Some(Arc::new(JoinBuffer {
                    store_name: format!("{name}-buffer-store"),
                    grace_ms,
                    key_serde,
                    value_serde,
                })),
                (Some(_), _, _) => {
                    graph.fail(StreamsError::Topology(format!(
                        "{operation}: a grace period buffers stream records, which needs the stream's key and \
                         value serdes; pass them with Joined::with"
                    )));
                    return self.failed_join();
                }
            };
            let b = buffer.clone();
            let node =
                graph.processor::<_, K, V, K, VR>(prefix, &[input.node], move || VersionedStreamTableJoin {
                    table_store: sn.clone(),
                    fns: fns.clone(),
                    buffer: b.clone(),
                    table: None,
                    buffered: None,
                    meta: None,
                });
            if let Some(b) = buffer {
                let store = KeyValueStoreBuilder::<Vec<u8>, Vec<u8>>::new(
                    Materialized::default()
                        .with_store_type(joined.store_type)
                        .with_caching(false)
                        .spec(&b.store_name),
                    Arc::new(BytesSerde),
                    Arc::new(BytesSerde),
                );
                graph.store(Arc::new(store), &[node]);
            }
            node
        };
        graph.with(|t| t.connect_store(node, &store_name));
        KStream::new(graph, node, key_serde, None, false)
    }
}
