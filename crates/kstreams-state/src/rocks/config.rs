//! Memory and file bounds of a task database.

use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options};

const MIB: usize = 1024 * 1024;

/// Tuning of one task database. The defaults bound memory to roughly
/// `block_cache_bytes + total_write_buffer_bytes` per task.
#[derive(Debug, Clone, PartialEq)]
pub struct RocksConfig {
    /// Size of the LRU block cache shared by all column families of the database
    /// (index and filter blocks are charged to it too). Default 64 MiB.
    pub block_cache_bytes: usize,
    /// Memtable size per column family. Default 16 MiB.
    pub write_buffer_bytes: usize,
    /// Memtables per column family before writes stall. Default 3.
    pub max_write_buffers: i32,
    /// Cap on the memtables of all column families together. Default 64 MiB.
    pub total_write_buffer_bytes: usize,
    /// Size of the write-ahead log that forces flushes of old memtables. Default 64 MiB.
    pub max_total_wal_bytes: u64,
    /// Open SST files kept by the table cache (`-1` = unlimited). Default 512.
    pub max_open_files: i32,
    /// Background flush and compaction threads. Default 2.
    pub max_background_jobs: i32,
    /// Bloom filter bits per key for point lookups (0 disables). Default 10.
    pub bloom_filter_bits_per_key: f64,
}

impl Default for RocksConfig {
    fn default() -> Self {
        Self {
            block_cache_bytes: 64 * MIB,
            write_buffer_bytes: 16 * MIB,
            max_write_buffers: 3,
            total_write_buffer_bytes: 64 * MIB,
            max_total_wal_bytes: 64 * MIB as u64,
            max_open_files: 512,
            max_background_jobs: 2,
            bloom_filter_bits_per_key: 10.0,
        }
    }
}

impl RocksConfig {
    /// Options for every column family, sharing one block cache.
    pub(crate) fn column_family_options(&self, cache: &Cache) -> Options {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(cache);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        if self.bloom_filter_bits_per_key > 0.0 {
            table.set_bloom_filter(self.bloom_filter_bits_per_key, false);
        }
        let mut opts = Options::default();
        opts.set_block_based_table_factory(&table);
        opts.set_write_buffer_size(self.write_buffer_bytes);
        opts.set_max_write_buffer_number(self.max_write_buffers);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts
    }

    /// Options for the database itself, on top of the column family defaults.
    pub(crate) fn db_options(&self, cf_options: &Options) -> Options {
        let mut opts = cf_options.clone();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_db_write_buffer_size(self.total_write_buffer_bytes);
        opts.set_max_total_wal_size(self.max_total_wal_bytes);
        opts.set_max_open_files(self.max_open_files);
        opts.set_max_background_jobs(self.max_background_jobs);
        opts.set_keep_log_file_num(2);
        opts.set_max_log_file_size(MIB);
        opts
    }
}
