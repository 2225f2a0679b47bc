//! [`TestInputTopic`] and [`TestOutputTopic`]: typed handles to pipe records into a
//! [`TopologyTestDriver`] and to read what it wrote.

use std::collections::VecDeque;
use std::sync::Arc;

use kstreams_core::Serde;
use kstreams_core::{Headers, OutputRecord, Record};
use kstreams_core::{Result, StreamsError};

use crate::TopologyTestDriver;

/// A typed input topic of a [`TopologyTestDriver`].
pub struct TestInputTopic<K, V> {
    pub(crate) driver: TopologyTestDriver,
    pub(crate) topic: String,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) value_serde: Arc<dyn Serde<V>>,
    /// The timestamp of the next record piped without one.
    pub(crate) time: std::cell::Cell<i64>,
    pub(crate) auto_advance_ms: i64,
}

impl<K: 'static, V: 'static> TestInputTopic<K, V> {
    /// Pipes a record with this key, value and timestamp (ms).
    pub fn pipe(&self, key: K, value: V, timestamp: i64) -> Result<()> {
        self.pipe_record(Record::new(key, value, timestamp), None)
    }

    /// Pipes a record into a given partition.
    pub fn pipe_record(&self, record: Record<K, V>, partition: Option<i32>) -> Result<()> {
        let key = self.key_serde.serialize_nullable(&record.key).map_err(|e| self.serialize_error(e))?;
        let value =
            self.value_serde.serialize_nullable(&record.value).map_err(|e| self.serialize_error(e))?;
        self.driver.pipe_raw(&self.topic, partition, key, value, record.timestamp, record.headers)
    }

    fn serialize_error(&self, e: kstreams_core::SerdeError) -> StreamsError {
        StreamsError::Serialize { topic: self.topic.clone(), detail: e.to_string() }
    }

    /// The topic's time, and moves it on by the auto-advance step.
    fn next_time(&self) -> i64 {
        let t = self.time.get();
        self.time.set(t.saturating_add(self.auto_advance_ms));
        t
    }

    /// Pipes a record stamped with the topic's time, which then advances by the
    /// auto-advance step (Kafka's `pipeInput(key, value)`).
    pub fn pipe_key_value(&self, key: K, value: V) -> Result<()> {
        let ts = self.next_time();
        self.pipe(key, value, ts)
    }

    /// Pipes a record with a null key, stamped with the topic's time (Kafka's
    /// `pipeInput(value)`).
    pub fn pipe_value(&self, value: V) -> Result<()> {
        let ts = self.next_time();
        let bytes = self.value_serde.serialize_nullable(&value).map_err(|e| self.serialize_error(e))?;
        self.driver.pipe_raw(&self.topic, None, None, bytes, ts, Headers::new())
    }

    /// Pipes a tombstone: `key` with a null value, at `timestamp` (Kafka's
    /// `pipeInput(key, null, timestamp)`), whatever the value serde.
    pub fn pipe_tombstone(&self, key: K, timestamp: i64) -> Result<()> {
        let key = self.key_serde.serialize_nullable(&key).map_err(|e| self.serialize_error(e))?;
        self.driver.pipe_raw(&self.topic, None, key, None, timestamp, Headers::new())
    }

    /// Pipes `(key, value)` records stamped with the topic's advancing time.
    pub fn pipe_key_values(&self, records: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        for (k, v) in records {
            self.pipe_key_value(k, v)?;
        }
        Ok(())
    }

    /// Moves the topic's time forward by `ms` (Kafka's `advanceTime`).
    ///
    /// # Panics
    /// If `ms` is negative, as Kafka's driver refuses a negative duration.
    pub fn advance_time(&self, ms: i64) {
        assert!(ms >= 0, "advance_time: the duration must not be negative");
        self.time.set(self.time.get().saturating_add(ms));
    }

    /// The timestamp the next record piped without one gets.
    pub fn current_time(&self) -> i64 {
        self.time.get()
    }

    /// Pipes several `(key, value, timestamp)` records in order.
    pub fn pipe_all(&self, records: impl IntoIterator<Item = (K, V, i64)>) -> Result<()> {
        for (k, v, ts) in records {
            self.pipe(k, v, ts)?;
        }
        Ok(())
    }
}

/// A typed output topic of a [`TopologyTestDriver`].
pub struct TestOutputTopic<K, V> {
    pub(crate) driver: TopologyTestDriver,
    pub(crate) topic: String,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) value_serde: Arc<dyn Serde<V>>,
}

impl<K: 'static, V: 'static> TestOutputTopic<K, V> {
    fn decode_error(&self, r: &OutputRecord, e: kstreams_core::SerdeError) -> StreamsError {
        StreamsError::Deserialize {
            topic: self.topic.clone(),
            partition: r.partition.unwrap_or(-1),
            offset: -1,
            detail: e.to_string(),
        }
    }

    fn decode(&self, r: OutputRecord) -> Result<Record<K, Option<V>>> {
        let key =
            self.key_serde.deserialize_nullable(r.key.as_deref()).map_err(|e| self.decode_error(&r, e))?;
        let value = match r.value.as_deref() {
            Some(b) => Some(self.value_serde.deserialize(b).map_err(|e| self.decode_error(&r, e))?),
            None => self.value_serde.deserialize_null().ok(),
        };
        Ok(Record { key, value, timestamp: r.timestamp, headers: r.headers })
    }

    fn decode_non_null(&self, r: OutputRecord) -> Result<Record<K, V>> {
        let err = |e| self.decode_error(&r, e);
        Ok(Record {
            key: self.key_serde.deserialize_nullable(r.key.as_deref()).map_err(err)?,
            value: self.value_serde.deserialize_nullable(r.value.as_deref()).map_err(err)?,
            timestamp: r.timestamp,
            headers: r.headers.clone(),
        })
    }

    /// Reads (and consumes) every record written so far, in order.
    pub fn read_records(&self) -> Result<Vec<Record<K, V>>> {
        self.driver.read_raw(&self.topic).into_iter().map(|r| self.decode_non_null(r)).collect()
    }

    /// Reads every record with its value as an `Option`: a tombstone (null value) is `None`,
    /// whatever the value serde.
    pub fn read_nullable_records(&self) -> Result<Vec<Record<K, Option<V>>>> {
        self.driver.read_raw(&self.topic).into_iter().map(|r| self.decode(r)).collect()
    }

    /// Reads every record as `(key, value or None for a tombstone)`.
    pub fn read_nullable_key_values(&self) -> Result<Vec<(K, Option<V>)>> {
        Ok(self.read_nullable_records()?.into_iter().map(|r| (r.key, r.value)).collect())
    }

    /// Reads the next record (Kafka's `readRecord`); an error if none is left.
    pub fn read_record(&self) -> Result<Record<K, V>> {
        let r = self.driver.inner.borrow_mut().pop(&self.topic)?;
        self.decode_non_null(r)
    }

    /// Reads the next record's key and value (`readKeyValue`).
    pub fn read_key_value(&self) -> Result<(K, V)> {
        self.read_record().map(|r| (r.key, r.value))
    }

    /// Reads the next record's value (`readValue`).
    pub fn read_value(&self) -> Result<V> {
        self.read_record().map(|r| r.value)
    }

    /// Reads the next record, a tombstone's value as `None`.
    pub fn read_nullable_record(&self) -> Result<Record<K, Option<V>>> {
        let r = self.driver.inner.borrow_mut().pop(&self.topic)?;
        self.decode(r)
    }

    /// How many records are waiting to be read (`getQueueSize`).
    pub fn queue_size(&self) -> usize {
        self.driver.inner.borrow().outputs.get(&self.topic).map_or(0, VecDeque::len)
    }

    /// Whether no record is waiting to be read (`isEmpty`).
    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }

    /// Reads every record's value (Kafka's `readValuesToList`).
    pub fn read_values(&self) -> Result<Vec<V>> {
        Ok(self.read_records()?.into_iter().map(|r| r.value).collect())
    }

    /// Reads every record as `(key, value)` pairs.
    pub fn read_key_values(&self) -> Result<Vec<(K, V)>> {
        Ok(self.read_records()?.into_iter().map(|r| (r.key, r.value)).collect())
    }
}
