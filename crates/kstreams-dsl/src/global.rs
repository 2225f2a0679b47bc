//! [`GlobalKTable`]: a table every instance holds in full, and the stream joins against it.
//!
//! Unlike a [`crate::KTable`], a global table is not partitioned among tasks: each instance
//! reads every partition of the topic into one global store, which all its tasks read. So a
//! stream joins it on any key it computes from its records (no co-partitioning, no
//! repartition), and the table's topic may have any partition count. The topic is the store's
//! changelog: nothing else is logged, and the store is rebuilt from the topic at start.
//! Updates of the table emit nothing; a stream record sees the value current when it is
//! processed.

use std::marker::PhantomData;
use std::sync::Arc;

use kstreams_core::NodeId;
use kstreams_core::Serde;
use kstreams_core::{GlobalStateStore, GlobalStoreBuilder, GlobalStoreContext};
use kstreams_core::{Result, StreamsError};
use kstreams_state::{
    KeyValueBytesStore, MemoryKeyValueStore, RocksConfig, RocksDbTaskDb, RocksKeyValueStore,
};

use crate::builder::StreamsBuilder;
use crate::options::{Consumed, Materialized, StoreType};
use crate::processors::join_global::{GlobalJoin, GlobalJoinSpec, GlobalJoiner, KeyMapper};
use crate::stream::KStream;

/// A table of the latest value per key of a whole topic, replicated to every instance.
///
/// Made by [`StreamsBuilder::global_table`]; used by [`KStream::join_global`] and
/// [`KStream::left_join_global`]. Its store is queryable in the test driver with
/// `with_global_store(table.store_name(), ..)`.
pub struct GlobalKTable<K, V> {
    store_name: String,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K, V> Clone for GlobalKTable<K, V> {
    fn clone(&self) -> Self {
        Self {
            store_name: self.store_name.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

impl<K, V> GlobalKTable<K, V> {
    /// The name of the global store holding the table.
    pub fn store_name(&self) -> &str {
        &self.store_name
    }
}

impl StreamsBuilder {
    /// A global table of `topic`: every instance reads all partitions of the topic (no
    /// consumer group) into a global store and keeps it up to date while it runs; null values
    /// (tombstones) delete. The store is named by `materialized` (RocksDB under
    /// `<state.dir>/<application.id>/global`, or in memory); its logging and caching settings
    /// do not apply: the topic itself is the changelog.
    ///
    /// ```
    /// use kstreams_dsl::prelude::*;
    ///
    /// let mut b = StreamsBuilder::new();
    /// let countries = b.global_table(
    ///     "countries",
    ///     Consumed::with(StringSerde, StringSerde),
    ///     Materialized::as_("countries").in_memory(),
    /// );
    /// assert_eq!(countries.store_name(), "countries");
    /// let topology = b.build().unwrap();
    /// assert!(topology.describe().to_string().contains("for global store (will not generate tasks)"));
    /// ```
    pub fn global_table<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized,
    ) -> GlobalKTable<K, V> {
        let graph = &self.graph;
        let source = consumed.name.clone().unwrap_or_else(|| graph.name("KSTREAM-SOURCE"));
        let processor = graph.name("KTABLE-SOURCE");
        let store_name = materialized.name.clone().unwrap_or_else(|| graph.name("KTABLE-SOURCE-STATE-STORE"));
        let builder = GlobalKvStoreBuilder::<K, V> {
            name: store_name.clone(),
            store_type: materialized.store_type,
            key_serde: consumed.key_serde.clone(),
            value_serde: consumed.value_serde.clone(),
        };
        graph.with(|t| t.add_global_store(source, topic, processor, Arc::new(builder)));
        GlobalKTable { store_name, key_serde: consumed.key_serde, value_serde: consumed.value_serde }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Inner join with a global table: each record looks up the table's current value under
    /// `key_mapper(key, value)` and, if there is one, emits `joiner(key, value, table value)`
    /// with the record's key and timestamp; records without a match are dropped. The stream
    /// is never repartitioned, and table updates emit nothing.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Clone, Serialize, Deserialize)]
    /// struct Order { product: String, qty: i64 }
    ///
    /// let mut b = StreamsBuilder::new();
    /// let products = b.global_table("products", Consumed::with(StringSerde, StringSerde), Materialized::as_("products"));
    /// b.stream("orders", Consumed::with(StringSerde, JsonSerde::<Order>::new()))
    ///     .join_global(&products, |_id, o| o.product.clone(), |_id, o, name| format!("{} x {name}", o.qty))
    ///     .to("order-lines", Produced::with(StringSerde, StringSerde));
    /// # b.build().unwrap();
    /// ```
    pub fn join_global<KG: 'static, VG: 'static, VR: Clone + 'static>(
        &self,
        table: &GlobalKTable<KG, VG>,
        key_mapper: impl Fn(&K, &V) -> KG + Send + Sync + 'static,
        joiner: impl Fn(&K, &V, &VG) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let joiner: GlobalJoiner<K, V, VG, VR> =
            Arc::new(move |k: &K, v: &V, g: Option<&VG>| g.map(|g| joiner(k, v, g)));
        self.global_join(table, Arc::new(key_mapper), joiner, "KSTREAM-JOIN")
    }

    /// Left join with a global table: like [`KStream::join_global`], but a record without a
    /// match is joined with `None` instead of dropped.
    ///
    /// ```
    /// # use kstreams_dsl::prelude::*;
    /// let mut b = StreamsBuilder::new();
    /// let names = b.global_table("user-names", Consumed::with(StringSerde, StringSerde), Materialized::as_("user-names"));
    /// b.stream("clicks", Consumed::with(StringSerde, I64Serde))
    ///     .left_join_global(&names, |user, _n| user.clone(), |user, n, name| {
    ///         format!("{}: {n}", name.cloned().unwrap_or_else(|| user.clone()))
    ///     })
    ///     .to("named-clicks", Produced::with(StringSerde, StringSerde));
    /// # b.build().unwrap();
    /// ```
    pub fn left_join_global<KG: 'static, VG: 'static, VR: Clone + 'static>(
        &self,
        table: &GlobalKTable<KG, VG>,
        key_mapper: impl Fn(&K, &V) -> KG + Send + Sync + 'static,
        joiner: impl Fn(&K, &V, Option<&VG>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let joiner: GlobalJoiner<K, V, VG, VR> =
            Arc::new(move |k: &K, v: &V, g: Option<&VG>| Some(joiner(k, v, g)));
        self.global_join(table, Arc::new(key_mapper), joiner, "KSTREAM-LEFTJOIN")
    }

    fn global_join<KG: 'static, VG: 'static, VR: Clone + 'static>(
        &self,
        table: &GlobalKTable<KG, VG>,
        key_mapper: KeyMapper<K, V, KG>,
        joiner: GlobalJoiner<K, V, VG, VR>,
        prefix: &str,
    ) -> KStream<K, VR> {
        let spec = Arc::new(GlobalJoinSpec {
            store_name: table.store_name.clone(),
            key_serde: table.key_serde.clone(),
            value_serde: table.value_serde.clone(),
            key_mapper,
            joiner,
        });
        let node: NodeId = self.graph.processor::<_, K, V, K, VR>(prefix, &[self.node], move || GlobalJoin {
            spec: spec.clone(),
            view: None,
        });
        KStream::new(self.graph.clone(), node, self.key_serde.clone(), None, self.repartition_required)
    }
}

/// Builds the byte store of a [`GlobalKTable`], once per instance.
struct GlobalKvStoreBuilder<K, V> {
    name: String,
    store_type: StoreType,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K: 'static, V: 'static> GlobalStoreBuilder for GlobalKvStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.name
    }

    fn build(&self, ctx: GlobalStoreContext<'_>) -> Result<Box<dyn GlobalStateStore>> {
        let store_err = |e: kstreams_state::StoreError| StreamsError::store(self.name.as_str(), "open", e);
        let inner: Box<dyn KeyValueBytesStore> = match self.store_type {
            StoreType::InMemory => Box::new(MemoryKeyValueStore::new(self.name.clone())),
            StoreType::RocksDb => {
                let path = ctx.global_dir.join("rocksdb");
                let db = ctx.resources.get_or_try_insert(|| {
                    RocksDbTaskDb::open(&path, &RocksConfig::default())
                        .map(Arc::new)
                        .map_err(|e| StreamsError::store(path.display().to_string(), "open", e))
                })?;
                Box::new(RocksKeyValueStore::open(db, &self.name).map_err(store_err)?)
            }
        };
        Ok(Box::new(GlobalKvStore {
            inner,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            _types: PhantomData,
        }))
    }
}

/// A global store over a byte store. Records whose key or value the table's serdes cannot
/// read are skipped (logged and counted), so one bad record cannot break every lookup.
struct GlobalKvStore<K, V> {
    inner: Box<dyn KeyValueBytesStore>,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: 'static, V: 'static> GlobalKvStore<K, V> {
    fn readable(&self, key: &[u8], value: Option<&[u8]>) -> bool {
        let error = match (self.key_serde.deserialize(key), value.map(|v| self.value_serde.deserialize(v))) {
            (Err(e), _) => format!("key: {e}"),
            (Ok(_), Some(Err(e))) => format!("value: {e}"),
            _ => return true,
        };
        tracing::warn!(
            store = self.inner.name(),
            "skipping global table record that failed deserialization: {error}"
        );
        metrics::counter!("kstreams_global_skipped_records_total", "store" => self.inner.name().to_string())
            .increment(1);
        false
    }

    fn err(&self, operation: &'static str) -> impl Fn(kstreams_state::StoreError) -> StreamsError + '_ {
        move |e| StreamsError::store(self.inner.name(), operation, e)
    }
}

impl<K: 'static, V: 'static> GlobalStateStore for GlobalKvStore<K, V> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key).map_err(self.err("get"))
    }

    fn all(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for entry in self.inner.all().map_err(self.err("all"))? {
            out.push(entry.map_err(self.err("all"))?);
        }
        Ok(out)
    }

    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        if !self.readable(key, value) {
            return Ok(());
        }
        let result = match value {
            Some(v) => self.inner.put(key, v),
            None => self.inner.delete(key),
        };
        result.map_err(|e| StreamsError::store(self.inner.name(), "apply", e))
    }

    fn apply_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        let readable: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            records.iter().filter(|(k, v)| self.readable(k, v.as_deref())).cloned().collect();
        self.inner.write_batch(&readable).map_err(|e| StreamsError::store(self.inner.name(), "apply", e))
    }

    fn flush(&mut self) -> Result<()> {
        self.inner.flush().map_err(|e| StreamsError::store(self.inner.name(), "flush", e))
    }

    fn close(&mut self) -> Result<()> {
        self.inner.close().map_err(|e| StreamsError::store(self.inner.name(), "close", e))
    }

    fn approximate_entries(&self) -> u64 {
        self.inner.approximate_num_entries().unwrap_or(0)
    }
}
