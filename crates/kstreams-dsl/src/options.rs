//! Option structs for DSL operators: [`Consumed`], [`Produced`], [`Grouped`], [`Repartitioned`],
//! [`Materialized`], [`Joined`]. Each has a `Default` and builder methods instead of overloads.

use std::sync::Arc;
use std::time::Duration;

pub use kstreams_state::StoreType;

use kstreams_core::Serde;
use kstreams_core::TimestampFn;

/// Where a stream or table is read from: serdes and event-time extraction.
pub struct Consumed<K, V> {
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) value_serde: Arc<dyn Serde<V>>,
    pub(crate) timestamp: Option<TimestampFn<K, V>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Consumed<K, V> {
    /// Reads keys and values with these serdes; event time is the Kafka record timestamp.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self {
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            timestamp: None,
            name: None,
        }
    }

    /// Takes event time (ms since the epoch) from the record instead: `f(key, value,
    /// record_timestamp)`. A negative result drops the record as invalid (counted and logged).
    pub fn with_timestamp_extractor(
        mut self,
        f: impl Fn(&K, &V, i64) -> i64 + Send + Sync + 'static,
    ) -> Self {
        self.timestamp = Some(Arc::new(f));
        self
    }

    /// Names the source node.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// How a stream is written to a topic.
pub struct Produced<K, V> {
    pub(crate) key_serde: Option<Arc<dyn Serde<K>>>,
    pub(crate) value_serde: Option<Arc<dyn Serde<V>>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Default for Produced<K, V> {
    fn default() -> Self {
        Self { key_serde: None, value_serde: None, name: None }
    }
}

impl<K, V> Produced<K, V> {
    /// Writes keys and values with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self { key_serde: Some(Arc::new(key_serde)), value_serde: Some(Arc::new(value_serde)), name: None }
    }

    /// Names the sink node.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// How a stream is grouped: serdes for the repartition topic (needed when the key changed) and
/// the repartition topic's name.
pub struct Grouped<K, V> {
    pub(crate) key_serde: Option<Arc<dyn Serde<K>>>,
    pub(crate) value_serde: Option<Arc<dyn Serde<V>>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Default for Grouped<K, V> {
    fn default() -> Self {
        Self { key_serde: None, value_serde: None, name: None }
    }
}

impl<K, V> Grouped<K, V> {
    /// Groups with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self { key_serde: Some(Arc::new(key_serde)), value_serde: Some(Arc::new(value_serde)), name: None }
    }

    /// Names the grouping; the repartition topic becomes `<application.id>-<name>-repartition`.
    pub fn as_(name: impl Into<String>) -> Self {
        Self { name: Some(name.into()), ..Self::default() }
    }

    /// Sets the name on options that already have serdes.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// How a stream is repartitioned through an internal topic.
pub struct Repartitioned<K, V> {
    pub(crate) key_serde: Option<Arc<dyn Serde<K>>>,
    pub(crate) value_serde: Option<Arc<dyn Serde<V>>>,
    pub(crate) name: Option<String>,
    pub(crate) partitions: Option<i32>,
}

impl<K, V> Default for Repartitioned<K, V> {
    fn default() -> Self {
        Self { key_serde: None, value_serde: None, name: None, partitions: None }
    }
}

impl<K, V> Repartitioned<K, V> {
    /// Repartitions with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            ..Self::default()
        }
    }

    /// Names the repartition topic `<application.id>-<name>-repartition`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the repartition topic's partition count (default: that of the upstream topics).
    pub fn with_partitions(mut self, partitions: i32) -> Self {
        self.partitions = Some(partitions);
        self
    }
}

/// How an aggregation or table is stored: store name, implementation, retention, changelog and
/// write cache.
#[derive(Debug, Clone)]
pub struct Materialized {
    pub(crate) name: Option<String>,
    pub(crate) store_type: StoreType,
    pub(crate) retention: Option<Duration>,
    pub(crate) logging: bool,
    pub(crate) caching: bool,
    /// History retention (ms) of a versioned table store.
    pub(crate) versioned: Option<i64>,
}

impl Default for Materialized {
    fn default() -> Self {
        Self {
            name: None,
            store_type: StoreType::RocksDb,
            retention: None,
            logging: true,
            caching: true,
            versioned: None,
        }
    }
}

impl Materialized {
    /// The store these options make, named `name`.
    pub(crate) fn spec(&self, name: &str) -> kstreams_state::StoreSpec {
        kstreams_state::StoreSpec {
            name: name.to_string(),
            store_type: self.store_type,
            logging: self.logging,
            caching: self.caching,
        }
    }

    /// A store with this name (queryable under it), RocksDB-backed, logged and cached.
    pub fn as_(name: impl Into<String>) -> Self {
        Self { name: Some(name.into()), ..Self::default() }
    }

    /// Chooses RocksDB or in-memory.
    pub fn with_store_type(mut self, store_type: StoreType) -> Self {
        self.store_type = store_type;
        self
    }

    /// Keeps an in-memory store.
    pub fn in_memory(self) -> Self {
        self.with_store_type(StoreType::InMemory)
    }

    /// How long windows are kept (window stores; at least size + grace).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Turns the changelog topic on or off (off: state is lost with the local disk).
    pub fn with_logging(mut self, enabled: bool) -> Self {
        self.logging = enabled;
        self
    }

    /// Turns the write cache on or off.
    pub fn with_caching(mut self, enabled: bool) -> Self {
        self.caching = enabled;
        self
    }

    /// Keeps a table in a versioned store with `history` of history (Kafka's
    /// `Materialized.as(Stores.persistentVersionedKeyValueStore(name, history))`, KIP-889):
    /// a stream-table join then reads the table as of each stream record's timestamp
    /// (KIP-914). Only for [`crate::StreamsBuilder::table`]; see
    /// `kstreams_state::VersionedKeyValueStore` for the store's rules.
    pub fn versioned(mut self, history: Duration) -> Self {
        self.versioned = Some(kstreams_core::millis(history));
        self
    }
}

/// Serdes and store options of the two sides of a join.
pub struct Joined<K, V, VO> {
    pub(crate) key_serde: Option<Arc<dyn Serde<K>>>,
    pub(crate) value_serde: Option<Arc<dyn Serde<V>>>,
    pub(crate) other_value_serde: Option<Arc<dyn Serde<VO>>>,
    pub(crate) name: Option<String>,
    pub(crate) store_type: StoreType,
    pub(crate) grace: Option<i64>,
}

impl<K, V, VO> Default for Joined<K, V, VO> {
    fn default() -> Self {
        Self {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            name: None,
            store_type: StoreType::RocksDb,
            grace: None,
        }
    }
}

impl<K, V, VO> Joined<K, V, VO> {
    /// Join with these serdes (key, this side's value, other side's value).
    pub fn with(
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
        other_value_serde: impl Serde<VO>,
    ) -> Self {
        Self {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            other_value_serde: Some(Arc::new(other_value_serde)),
            ..Self::default()
        }
    }

    /// Names the join (its stores become `<name>-this-join-store` / `<name>-other-join-store`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A stream-table join with a versioned table waits `grace` of stream time before joining
    /// each stream record, so table updates arriving out of order within it are seen
    /// (Kafka's `Joined.withGracePeriod`, KIP-923). Stream records wait in the store
    /// `<name>-buffer-store`; one already older than stream time − grace is joined at once.
    /// Building fails if the table is not versioned or its history is shorter than `grace`.
    pub fn with_grace_period(mut self, grace: Duration) -> Self {
        self.grace = Some(kstreams_core::millis(grace));
        self
    }

    /// Keeps the join buffers in memory.
    pub fn in_memory(mut self) -> Self {
        self.store_type = StoreType::InMemory;
        self
    }
}
