//! Per-task counters.
//!
//! Counting on the hot path is a plain integer add; rare events (late records, bad input) are
//! also reported at once through the `metrics` facade so an exporter shows them, and the runtime
//! publishes the per-record counters periodically.

/// Counters kept by one task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskMetrics {
    /// Records read from source topics and processed.
    pub records_processed: u64,
    /// Records dropped because their window had already closed.
    pub late_records_dropped: u64,
    /// Records whose key or value could not be deserialized.
    pub deserialization_errors: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Records dropped because their timestamp was negative.
    pub invalid_timestamps: u64,
    /// Records dropped by joins or aggregations because their key or value was missing, and
    /// repartitioned records dropped as duplicates of an upstream replay.
    pub dropped_records: u64,
    /// Punctuations run.
    pub punctuations: u64,
    /// Records whose processing failed and that the processing handler let pass.
    pub processing_errors: u64,
}

impl TaskMetrics {
    /// Counts a record dropped as late by `processor` and reports it.
    pub fn record_late(&mut self, task: &str, processor: &str) {
        self.late_records_dropped += 1;
        metrics::counter!("kstreams_late_records_dropped_total", "task" => task.to_string(), "processor" => processor.to_string())
            .increment(1);
    }

    /// Counts a record that failed deserialization and reports it.
    pub fn record_deserialization_error(&mut self, task: &str, topic: &str) {
        self.deserialization_errors += 1;
        metrics::counter!("kstreams_deserialization_errors_total", "task" => task.to_string(), "topic" => topic.to_string())
            .increment(1);
    }

    /// Counts a record whose processing failed and reports it.
    pub fn record_processing_error(&mut self, task: &str, topic: &str) {
        self.processing_errors += 1;
        metrics::counter!("kstreams_processing_errors_total", "task" => task.to_string(), "topic" => topic.to_string())
            .increment(1);
    }

    /// Adds another task's counters to these.
    pub fn add(&mut self, other: &TaskMetrics) {
        self.records_processed += other.records_processed;
        self.late_records_dropped += other.late_records_dropped;
        self.deserialization_errors += other.deserialization_errors;
        self.dead_lettered += other.dead_lettered;
        self.invalid_timestamps += other.invalid_timestamps;
        self.processing_errors += other.processing_errors;
        self.dropped_records += other.dropped_records;
        self.punctuations += other.punctuations;
    }
}
