//! [`KGroupedTable`]: a table re-grouped by a new key (`KTable::group_by`), aggregated with an
//! adder and a subtractor.

use std::sync::Arc;

use kstreams_core::{BincodeSerde, Serde, StreamsError, U64Serde};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::options::{Grouped, Materialized};
use crate::processors::table_aggregate::{
    AddFn, ChangeSerde, SubtractFn, TableAggregate, TableRepartitionMap,
};
use crate::query::{identity, kv_view, WithView};
use crate::stream::KStream;
use crate::table::{Change, KTable, TableMeta};
use kstreams_state::KeyValueStoreBuilder;

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    /// Re-groups the table by a new key: `selector(key, value)` gives each row's new key and
    /// value, and the changes travel through the repartition topic
    /// `<application.id>-<name>-repartition` (name from [`Grouped`], else the store's) to be
    /// aggregated with [`KGroupedTable::count`], [`KGroupedTable::reduce`] or
    /// [`KGroupedTable::aggregate`]. An update removes the row's old value from the aggregate
    /// of its old key and adds the new value to that of its new key (Kafka's
    /// `KTable#groupBy`): both in one change when the key stays, else the old key first.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// // user -> region; how many users per region?
    /// b.table("users", Consumed::with(StringSerde, StringSerde), Materialized::as_("users"))
    ///     .group_by(|_user, region| (region.clone(), ()), Grouped::with(StringSerde, UnitSerde))
    ///     .count(Materialized::as_("users-per-region"))
    ///     .to_stream()
    ///     .to("region-counts", Produced::with(StringSerde, U64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn group_by<K2: Clone + PartialEq + 'static, V2: Clone + 'static>(
        &self,
        selector: impl Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
        grouped: Grouped<K2, V2>,
    ) -> KGroupedTable<K2, V2> {
        let selector: crate::processors::table_aggregate::Selector<K, V, K2, V2> = Arc::new(selector);
        let node = self.graph.processor::<_, K, Change<V>, K2, Change<V2>>(
            "KTABLE-SELECT",
            &[self.node],
            move || TableRepartitionMap { selector: selector.clone() },
        );
        let mapped = KStream::<K2, Change<V2>>::new(self.graph.clone(), node, None, None, true);
        KGroupedTable {
            mapped,
            key_serde: grouped.key_serde,
            value_serde: grouped.value_serde,
            name: grouped.name,
        }
    }
}

/// A table re-grouped by a new key ([`KTable::group_by`]), ready to aggregate.
pub struct KGroupedTable<K, V> {
    mapped: KStream<K, Change<V>>,
    key_serde: Option<Arc<dyn Serde<K>>>,
    value_serde: Option<Arc<dyn Serde<V>>>,
    name: Option<String>,
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedTable<K, V> {
    /// Repartitions the changes by the new key and aggregates them into the store `A`.
    fn aggregate_into<A: Clone + 'static>(
        &self,
        materialized: Materialized,
        value_serde: impl FnOnce(Option<Arc<dyn Serde<V>>>) -> Option<Arc<dyn Serde<A>>>,
        add: AddFn<K, V, A>,
        subtract: SubtractFn<K, V, A>,
    ) -> KTable<K, A> {
        let graph = self.mapped.graph.clone();
        let store_name =
            materialized.name.clone().unwrap_or_else(|| graph.name("KTABLE-AGGREGATE-STATE-STORE"));
        let (Some(ks), Some(vs)) = (self.key_serde.clone(), self.value_serde.clone()) else {
            graph.fail(StreamsError::Topology(format!(
                "table aggregation `{store_name}`: re-grouping a table repartitions it, which needs the new key \
                 and value serdes; pass them with Grouped::with"
            )));
            return KTable::new(graph, self.mapped.node, None, None, TableMeta::default());
        };
        let Some(agg_serde) = value_serde(Some(vs.clone())) else {
            graph.fail(StreamsError::Topology(format!(
                "table aggregation `{store_name}` needs a value serde"
            )));
            return KTable::new(graph, self.mapped.node, None, None, TableMeta::default());
        };
        let topic = self.name.clone().unwrap_or_else(|| store_name.clone());
        let change_serde: Arc<dyn Serde<Change<V>>> = Arc::new(ChangeSerde(vs));
        let input = self.mapped.repartition_through(&topic, Some(ks.clone()), Some(change_serde), None);
        let store = WithView::new(
            KeyValueStoreBuilder::<K, A>::new(materialized.spec(&store_name), ks.clone(), agg_serde.clone())
                .timestamped(),
            kv_view::<K, A, A>(identity::<A>()),
        );
        let sn = store_name.clone();
        let node =
            graph.processor::<_, K, Change<V>, K, Change<A>>("KTABLE-AGGREGATE", &[input.node], move || {
                TableAggregate {
                    add: add.clone(),
                    subtract: subtract.clone(),
                    store_name: sn.clone(),
                    store: None,
                }
            });
        graph.store(Arc::new(store), &[node]);
        let meta = TableMeta { store: Some(store_name), sends_old_values: true, ..TableMeta::default() };
        KTable::new(graph, node, Some(ks), Some(agg_serde), meta)
    }

    /// Counts the rows per new key: +1 for each value added, −1 for each removed (Kafka's
    /// `KGroupedTable#count`). A key whose rows all left keeps the count 0.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// b.table("orders", Consumed::with(StringSerde, StringSerde), Materialized::as_("orders"))
    ///     .group_by(|_order, status| (status.clone(), ()), Grouped::with(StringSerde, UnitSerde))
    ///     .count(Materialized::as_("orders-per-status"))
    ///     .to_stream()
    ///     .to("status-counts", Produced::with(StringSerde, U64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn count(&self, materialized: Materialized) -> KTable<K, u64> {
        let count_serde: Arc<dyn Serde<u64>> = Arc::new(U64Serde);
        self.aggregate_into(
            materialized,
            |_| Some(count_serde),
            Arc::new(|_k: &K, _v: &V, n: Option<u64>| n.unwrap_or(0) + 1),
            Arc::new(|_k: &K, _v: &V, n: u64| n.saturating_sub(1)),
        )
    }

    /// Combines the values per new key with `adder(aggregate, value)`, and takes a removed
    /// value back out with `subtractor(aggregate, value)` (Kafka's `KGroupedTable#reduce`).
    /// The first value of a key is its aggregate.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// // account -> (branch, balance); total balance per branch
    /// b.table("accounts", Consumed::with(StringSerde, JsonSerde::<(String, i64)>::new()), Materialized::as_("accounts"))
    ///     .group_by(|_account, (branch, balance)| (branch.clone(), *balance), Grouped::with(StringSerde, I64Serde))
    ///     .reduce(|total, b| total + b, |total, b| total - b, Materialized::as_("balance-per-branch"))
    ///     .to_stream()
    ///     .to("branch-balances", Produced::with(StringSerde, I64Serde));
    /// # b.build().unwrap();
    /// ```
    pub fn reduce(
        &self,
        adder: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        subtractor: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized,
    ) -> KTable<K, V> {
        self.aggregate_into(
            materialized,
            |vs| vs,
            Arc::new(move |_k: &K, v: &V, agg: Option<V>| match agg {
                Some(a) => adder(&a, v),
                None => v.clone(),
            }),
            Arc::new(move |_k: &K, v: &V, agg: V| subtractor(&agg, v)),
        )
    }

    /// Aggregates the values per new key: starting from `initializer()`, `adder(key, value,
    /// aggregate)` adds a value and `subtractor(key, value, aggregate)` removes one (Kafka's
    /// `KGroupedTable#aggregate`). The aggregate is stored with bincode.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// // product -> category; the set of products per category
    /// b.table("products", Consumed::with(StringSerde, StringSerde), Materialized::as_("products"))
    ///     .group_by(|product, category| (category.clone(), product.clone()), Grouped::with(StringSerde, StringSerde))
    ///     .aggregate(
    ///         Vec::<String>::new,
    ///         |_category, product, mut list| { list.push(product.clone()); list },
    ///         |_category, product, mut list| { list.retain(|p| p != product); list },
    ///         Materialized::as_("products-per-category"),
    ///     )
    ///     .to_stream()
    ///     .to("categories", Produced::with(StringSerde, JsonSerde::new()));
    /// # b.build().unwrap();
    /// ```
    pub fn aggregate<A: Clone + Serialize + DeserializeOwned + 'static>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        adder: impl Fn(&K, &V, A) -> A + Send + Sync + 'static,
        subtractor: impl Fn(&K, &V, A) -> A + Send + Sync + 'static,
        materialized: Materialized,
    ) -> KTable<K, A> {
        let agg_serde: Arc<dyn Serde<A>> = Arc::new(BincodeSerde::<A>::new());
        self.aggregate_into(
            materialized,
            |_| Some(agg_serde),
            Arc::new(move |k: &K, v: &V, agg: Option<A>| adder(k, v, agg.unwrap_or_else(&initializer))),
            Arc::new(subtractor),
        )
    }
}
