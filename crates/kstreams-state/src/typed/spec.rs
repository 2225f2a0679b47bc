//! What a store is to be: [`StoreSpec`] (the DSL's `Materialized` resolves to one).

/// Where a store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreType {
    /// RocksDB on local disk (one database per task): survives restarts, restored from the
    /// checkpoint on.
    #[default]
    RocksDb,
    /// In memory: restored from the changelog in full whenever its task starts.
    InMemory,
}

/// A store's name and layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    /// The store's name, unique in the topology (also names its changelog topic).
    pub name: String,
    /// RocksDB or memory.
    pub store_type: StoreType,
    /// Whether writes go to the changelog topic `<application.id>-<name>-changelog`.
    pub logging: bool,
    /// Whether a write cache sits on top (flushed at commit).
    pub caching: bool,
}

impl StoreSpec {
    /// A RocksDB store `name`, logged and cached (Kafka Streams' defaults).
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), store_type: StoreType::RocksDb, logging: true, caching: true }
    }

    /// The same store kept in memory.
    pub fn in_memory(mut self) -> Self {
        self.store_type = StoreType::InMemory;
        self
    }

    /// The same store with its changelog on or off.
    pub fn with_logging(mut self, enabled: bool) -> Self {
        self.logging = enabled;
        self
    }

    /// The same store with its write cache on or off.
    pub fn with_caching(mut self, enabled: bool) -> Self {
        self.caching = enabled;
        self
    }
}
