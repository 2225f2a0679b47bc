//! How `cache.max.bytes` and the RocksDB settings of a [`StreamsConfig`] become the
//! [`StoreSettings`] every task of the instance builds its stores with.
//!
//! `cache.max.bytes` bounds the record caches of the whole instance: it is split evenly over
//! every (task, store) pair of the topology's task layout, as if this instance ran every
//! task. An instance that runs a share of the tasks therefore uses a share of the budget;
//! caches are not resized when tasks move (Kafka Streams resizes per thread on rebalance).
//! `0` disables caching: every write goes to the store and its changelog at once.

use kstreams_core::{StoreSettings, Topology};

use crate::assignment::TaskLayout;
use crate::config::StreamsConfig;

/// The store settings of the instance's tasks.
pub(crate) fn store_settings(
    config: &StreamsConfig,
    topology: &Topology,
    layout: &TaskLayout,
) -> StoreSettings {
    let subtopologies = topology.subtopologies();
    let store_instances: u64 = layout
        .tasks()
        .map(|id| subtopologies.iter().find(|s| s.id == id.subtopology).map_or(0, |s| s.stores.len() as u64))
        .sum();
    StoreSettings {
        cache_max_bytes: Some(per_store_cache(config.cache_max_bytes(), store_instances)),
        rocksdb_block_cache_bytes: config.rocksdb_block_cache_bytes().map(to_usize),
        rocksdb_write_buffer_bytes: config.rocksdb_write_buffer_bytes().map(to_usize),
    }
}

fn to_usize(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// `total` split over `stores` store instances. Never 0 unless `total` is: a budget too small
/// to split leaves each store a 1-byte cache, in effect write-through.
fn per_store_cache(total: u64, stores: u64) -> usize {
    let share = if total == 0 { 0 } else { (total / stores.max(1)).max(1) };
    usize::try_from(share).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_budget_is_split_over_store_instances() {
        assert_eq!(per_store_cache(10 * 1024 * 1024, 0), 10 * 1024 * 1024);
        assert_eq!(per_store_cache(1000, 4), 250);
        assert_eq!(per_store_cache(3, 4), 1);
        assert_eq!(per_store_cache(0, 4), 0, "0 disables caching");
    }
}
