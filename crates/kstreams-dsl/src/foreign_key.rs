//! Foreign-key table-table joins (Kafka's `KTable#join(other, foreignKeyExtractor, ..)`,
//! KIP-213): each row of this table joins the row of `other` whose key its foreign key names.
//!
//! Like Kafka Streams, the join runs through two repartition topics: the left rows' subscriptions,
//! keyed by foreign key (`<name>-subscription-registration-repartition`), and the right side's
//! answers, keyed by the left key (`<name>-subscription-response-repartition`); the right side
//! keeps who subscribes to what in the store `<name>-subscription-store`. Results are
//! stamped as Kafka's: a left update with the later of both rows' timestamps, a right update
//! with its own. Unlike Kafka, which sizes the subscription topic like the right table's
//! topic, kstreams derives it from the left side: both tables' topics must have the same
//! partition count.

use std::sync::Arc;

use kstreams_core::{BytesSerde, Serde, StreamsError};

use crate::options::Materialized;
use crate::processors::foreign_key::{
    FkJoiner, ForeignTableJoin, Response, ResponseJoin, ResponseSerde, RightSpec, Subscription,
    SubscriptionReceive, SubscriptionSend, SubscriptionSerde,
};
use crate::processors::stateless::PassThrough;
use crate::stream::KStream;
use crate::table::{Change, KTable, TableMeta};
use kstreams_state::KeyValueStoreBuilder;

/// Options of a foreign-key join (Kafka's `TableJoined`): its name, which names its internal
/// topics and store.
#[derive(Debug, Clone, Default)]
pub struct TableJoined {
    name: Option<String>,
}

impl TableJoined {
    /// A join named `name`.
    pub fn as_(name: impl Into<String>) -> Self {
        Self { name: Some(name.into()) }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    /// Inner foreign-key join: each row joins the row of `other` keyed by `foreign_key(value)`;
    /// a row whose foreign key has no match has no result (a tombstone when it had one).
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// // order -> product id; product id -> name
    /// let orders = b.table("orders", Consumed::with(StringSerde, StringSerde), Materialized::as_("orders"));
    /// let products = b.table("products", Consumed::with(StringSerde, StringSerde), Materialized::as_("products"));
    /// orders
    ///     .join_foreign_key(&products, |product_id| product_id.clone(), |_pid, name| name.clone(), TableJoined::as_("order-product"))
    ///     .to_changelog_stream()
    ///     .to("order-product-names", Produced::with(StringSerde, OptionSerde(StringSerde)));
    /// # b.build().unwrap();
    /// ```
    pub fn join_foreign_key<KO, VO, VR>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> KO + Send + Sync + 'static,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        joined: TableJoined,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        let joiner: FkJoiner<V, VO, VR> = Arc::new(move |v: &V, vo: Option<&VO>| vo.map(|vo| joiner(v, vo)));
        self.foreign_key_join(other, Arc::new(foreign_key), joiner, false, joined)
    }

    /// Left foreign-key join: like [`KTable::join_foreign_key`], and a row whose foreign key
    /// has no match joins with `None`.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// let orders = b.table("orders", Consumed::with(StringSerde, StringSerde), Materialized::as_("orders"));
    /// let products = b.table("products", Consumed::with(StringSerde, StringSerde), Materialized::as_("products"));
    /// orders
    ///     .left_join_foreign_key(
    ///         &products,
    ///         |product_id| product_id.clone(),
    ///         |pid, name| name.cloned().unwrap_or_else(|| format!("unknown {pid}")),
    ///         TableJoined::default(),
    ///     )
    ///     .to_stream()
    ///     .to("order-labels", Produced::with(StringSerde, StringSerde));
    /// # b.build().unwrap();
    /// ```
    pub fn left_join_foreign_key<KO, VO, VR>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> KO + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        joined: TableJoined,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        let joiner: FkJoiner<V, VO, VR> = Arc::new(move |v: &V, vo: Option<&VO>| Some(joiner(v, vo)));
        self.foreign_key_join(other, Arc::new(foreign_key), joiner, true, joined)
    }

    fn foreign_key_join<KO, VO, VR>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: crate::processors::foreign_key::ForeignKeyFn<V, KO>,
        joiner: FkJoiner<V, VO, VR>,
        left_join: bool,
        joined: TableJoined,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        let graph = self.graph.clone();
        let name = joined.name.unwrap_or_else(|| graph.name("KTABLE-FK-JOIN"));
        let operation = format!("foreign-key join `{name}`");
        let failed = || KTable::new(graph.clone(), self.node, None, None, TableMeta::default());
        let (Some(ks), Some(vs), Some(kos), Some(vos)) = (
            self.key_serde.clone(),
            self.value_serde.clone(),
            other.key_serde.clone(),
            other.value_serde.clone(),
        ) else {
            graph.fail(StreamsError::Topology(format!(
                "{operation} needs the key and value serdes of both tables (for its internal topics); a table \
                 whose value type changed (map_values, ...) can be given them with .materialize(..) first"
            )));
            return failed();
        };
        let (Some((left, left_store)), Some((right, right_store))) =
            (self.joinable(&operation), other.joinable(&operation))
        else {
            return failed();
        };

        // Left: subscribe each row to its foreign key.
        let (fk, value_serde) = (foreign_key, vs.clone());
        let send = graph.processor::<_, K, Change<V>, KO, Subscription<K>>(
            "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION",
            &[left.node],
            move || SubscriptionSend { fk: fk.clone(), value_serde: value_serde.clone(), left_join },
        );
        let subscription_serde: Arc<dyn Serde<Subscription<K>>> = Arc::new(SubscriptionSerde(ks.clone()));
        let subscriptions = KStream::new(graph.clone(), send, None, None, true).repartition_through(
            &format!("{name}-subscription-registration"),
            Some(kos.clone()),
            Some(subscription_serde),
            None,
        );

        // Right: record and answer subscriptions; answer again on every right update.
        let spec = Arc::new(RightSpec {
            subscription_store: format!("{name}-subscription-store"),
            right_store: right_store.clone(),
            key_serde: ks.clone(),
            foreign_key_serde: kos,
        });
        let s = spec.clone();
        let receive = graph.processor::<_, KO, Subscription<K>, K, Response<VO>>(
            "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR",
            &[subscriptions.node],
            move || SubscriptionReceive::<K, KO, VO> { spec: s.clone(), subscriptions: None, right: None },
        );
        let s = spec.clone();
        let foreign = graph.processor::<_, KO, Change<VO>, K, Response<VO>>(
            "KTABLE-FK-JOIN-FOREIGN-PROCESSOR",
            &[right.node],
            move || ForeignTableJoin::<K, KO> { spec: s.clone(), subscriptions: None },
        );
        let store = KeyValueStoreBuilder::<Vec<u8>, Vec<u8>>::new(
            Materialized::default().spec(&spec.subscription_store),
            Arc::new(BytesSerde),
            Arc::new(BytesSerde),
        );
        graph.store(Arc::new(store), &[receive, foreign]);
        graph.with(|t| t.connect_store(receive, &right_store));
        let answers = graph.processor::<_, K, Response<VO>, K, Response<VO>>(
            "KTABLE-FK-JOIN-MERGE",
            &[receive, foreign],
            || PassThrough,
        );
        let response_serde: Arc<dyn Serde<Response<VO>>> = Arc::new(ResponseSerde(vos));
        let responses = KStream::new(graph.clone(), answers, None, None, true).repartition_through(
            &format!("{name}-subscription-response"),
            Some(ks.clone()),
            Some(response_serde),
            None,
        );

        // Left: join each current answer with the left row.
        let ls = left_store.clone();
        let node = graph.processor::<_, K, Response<VO>, K, Change<VR>>(
            "KTABLE-FK-JOIN-OUTPUT",
            &[responses.node],
            move || ResponseJoin::<K, V, VO, VR> {
                left_store: ls.clone(),
                value_serde: vs.clone(),
                joiner: joiner.clone(),
                left: None,
            },
        );
        graph.with(|t| t.connect_store(node, &left_store));
        KTable::new(graph, node, Some(ks), None, TableMeta::default())
    }
}
