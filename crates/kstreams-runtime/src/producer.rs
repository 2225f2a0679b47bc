//! A stream thread's producer: sends the records its tasks drain, tracks deliveries (and the
//! offsets they landed at, for changelog checkpoints), and wraps the transactional calls of
//! exactly-once processing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kstreams_core::{OutputRecord, TopicPartition};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::TopicPartitionList;

use crate::config::{ClientKind, StreamsConfig};
use crate::error::{Result, RuntimeError};
use crate::production::{permanent, ProductionGuard, Refusal};

/// Counts deliveries, remembers the last offset written to each partition, and keeps the
/// records the broker refused for good.
#[derive(Default)]
pub(crate) struct DeliveryTracker {
    delivered: AtomicU64,
    /// Deliveries that failed for a reason that may pass (broker down, timed out).
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
    /// Records the broker refused for good (see [`permanent`]), with the reason.
    refused: Mutex<Vec<(OutputRecord, RDKafkaErrorCode)>>,
    /// Topic → partition → the highest offset delivered (looked up by `&str`: a delivery
    /// allocates only for the first record of a topic).
    last_offsets: Mutex<HashMap<String, HashMap<i32, i64>>>,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                let mut offsets = self.last_offsets.lock().unwrap_or_else(|e| e.into_inner());
                let partitions = match offsets.get_mut(m.topic()) {
                    Some(p) => p,
                    None => offsets.entry(m.topic().to_string()).or_default(),
                };
                let slot = partitions.entry(m.partition()).or_insert(m.offset());
                *slot = (*slot).max(m.offset());
            }
            Err((KafkaError::MessageProduction(code), m)) if permanent(*code) => {
                let mut headers = kstreams_core::Headers::new();
                if let Some(hs) = m.headers() {
                    for h in rdkafka::message::Headers::iter(hs) {
                        match h.value {
                            Some(v) => headers.add(h.key, v),
                            None => headers.add_null(h.key),
                        };
                    }
                }
                let record = OutputRecord {
                    topic: m.topic().to_string(),
                    partition: None,
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    timestamp: m.timestamp().to_millis().unwrap_or(0),
                    headers,
                };
                self.refused.lock().unwrap_or_else(|e| e.into_inner()).push((record, *code));
            }
            Err((e, m)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_none() {
                    *first = Some(format!("{}-{}: {e}", m.topic(), m.partition()));
                }
            }
        }
    }
}

/// The producer of one stream thread.
pub(crate) struct RecordProducer {
    inner: BaseProducer<DeliveryTracker>,
    /// The configuration `inner` was created from, to create it again ([`Self::reset`]).
    config: ClientConfig,
    thread: String,
    transactional_id: Option<String>,
    in_transaction: bool,
    /// How long a transactional call (send offsets, commit, abort) or a flush may take.
    timeout: Duration,
    /// How long `init_transactions` is retried (`task.timeout.ms`): a producer recreated
    /// during a broker outage waits for the broker to come back.
    init_deadline: Duration,
    /// `kstreams_records_produced_total` of this thread (registered once, not per record).
    produced: metrics::Counter,
    /// The production handler and the checks made before sending.
    guard: ProductionGuard,
    /// Fingerprints of records the broker refused inside a transaction (which was aborted):
    /// when the retry produces them again, the handler decides before they are sent.
    refused_before: HashMap<u64, Refusal>,
}

impl RecordProducer {
    /// An idempotent producer partitioning keys like the Java client (murmur2); transactional
    /// with `transactional_id` under exactly-once.
    pub(crate) fn new(
        config: &StreamsConfig,
        thread: &str,
        transactional_id: Option<String>,
    ) -> Result<Self> {
        let mut base = vec![
            ("client.id", format!("{thread}-producer")),
            ("enable.idempotence", "true".to_string()),
            ("partitioner", "murmur2_random".to_string()),
            ("linger.ms", "5".to_string()),
        ];
        if let Some(id) = &transactional_id {
            base.push(("transactional.id", id.clone()));
        }
        let mut cfg = config.client_config(ClientKind::Producer, &base);
        if let Some(id) = &transactional_id {
            // Set last so that no pass-through setting can change it.
            cfg.set("transactional.id", id);
        }
        // Transactional calls may take as long as a transaction may stay open.
        let timeout = cfg
            .get("transaction.timeout.ms")
            .and_then(|ms| ms.parse::<u64>().ok())
            .map_or(DEFAULT_TXN_TIMEOUT, Duration::from_millis);
        let init_deadline = config.task_timeout().max(timeout);
        let max_bytes = cfg
            .get("message.max.bytes")
            .and_then(|b| b.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
        let guard = ProductionGuard::new(
            config.production_handler().clone(),
            max_bytes,
            config.event_time().max_future_ms,
            thread,
        );
        let inner = create(&cfg, thread, transactional_id.as_deref(), timeout, init_deadline)?;
        let produced = metrics::counter!("kstreams_records_produced_total", "thread" => thread.to_string());
        Ok(Self {
            inner,
            config: cfg,
            thread: thread.to_string(),
            transactional_id,
            in_transaction: false,
            timeout,
            init_deadline,
            produced,
            guard,
            refused_before: HashMap::new(),
        })
    }

    /// Replaces the producer with a new one of the same configuration. Under exactly-once the
    /// new producer's `init_transactions` bumps the epoch of the transactional id: every
    /// request the old one still has on the wire is fenced, and the transaction it left is
    /// completed (if its commit reached the coordinator) or aborted. This is the only safe
    /// continuation after a fatal error or a commit whose outcome is unknown: librdkafka does
    /// not implement KIP-890, so with the same epoch a late EndTxn or Produce of one
    /// transaction could land in the next.
    pub(crate) fn reset(&mut self) -> Result<()> {
        tracing::warn!(thread = %self.thread, transactional_id = ?self.transactional_id, "recreating the producer");
        metrics::counter!("kstreams_producer_resets_total", "thread" => self.thread.clone()).increment(1);
        self.in_transaction = false;
        self.inner = create(
            &self.config,
            &self.thread,
            self.transactional_id.as_deref(),
            self.timeout,
            self.init_deadline,
        )?;
        Ok(())
    }

    /// Whether this producer is transactional.
    pub(crate) fn is_transactional(&self) -> bool {
        self.transactional_id.is_some()
    }

    /// Whether a transaction is open.
    pub(crate) fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Opens a transaction if the producer is transactional and none is open.
    pub(crate) fn begin(&mut self) -> Result<()> {
        if let (Some(id), false) = (&self.transactional_id, self.in_transaction) {
            self.inner.begin_transaction().map_err(|e| txn_error("begin", id, e))?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Hands `record` to librdkafka, waiting while its queue is full. A record the broker
    /// would refuse (too large, an implausible timestamp) goes to the production handler
    /// instead: dropped, dead-lettered, or an error.
    pub(crate) fn send(&mut self, record: &OutputRecord) -> Result<()> {
        if ProductionGuard::is_dead_letter(record) {
            // A dead letter the broker would refuse is made to fit, never refused.
            if self.guard.check(record).is_some() {
                let mut fitted = record.clone();
                self.guard.fit(&mut fitted);
                return self.send_unchecked(&fitted);
            }
            return self.send_unchecked(record);
        }
        let refusal = match self.guard.check(record) {
            Some(why) => Some(why),
            None if !self.refused_before.is_empty() => self.refused_before.get(&fingerprint(record)).cloned(),
            None => None,
        };
        match refusal {
            None => self.send_unchecked(record),
            Some(why) => match self.guard.decide(record, &why)? {
                Some(dead_letter) => self.send_unchecked(&dead_letter),
                None => Ok(()),
            },
        }
    }

    fn send_unchecked(&mut self, record: &OutputRecord) -> Result<()> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for h in record.headers.iter() {
            headers = headers.insert(Header { key: &h.key, value: h.value.as_deref() });
        }
        let mut rec: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(&record.topic).timestamp(record.timestamp).headers(headers);
        if let Some(k) = &record.key {
            rec = rec.key(k.as_slice());
        }
        if let Some(v) = &record.value {
            rec = rec.payload(v.as_slice());
        }
        if let Some(p) = record.partition {
            rec = rec.partition(p);
        }
        loop {
            match self.inner.send(rec) {
                Ok(()) => {
                    self.produced.increment(1);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    rec = back;
                    self.inner.poll(Duration::from_millis(50));
                }
                Err((source, _)) => {
                    return Err(RuntimeError::Produce {
                        topic: record.topic.clone(),
                        partition: record.partition,
                        source,
                    })
                }
            }
        }
    }

    /// Serves delivery callbacks without blocking.
    pub(crate) fn poll(&self) {
        self.inner.poll(Duration::ZERO);
    }

    /// Waits until every record sent so far is acknowledged; fails if any was not delivered.
    pub(crate) fn flush(&mut self) -> Result<()> {
        // Not `BaseProducer::flush`: it waits in polls of 100 ms that the last delivery report
        // does not end, and every commit took 100 ms (measured on the broker bench). Short
        // polls instead: the wait ends within a millisecond of the last acknowledgement.
        // (`in_flight_count` is no test either: it counts the client's own requests too,
        // which after a broker restart can stay pending.)
        // At-least-once waits as long as a task may fail (`task.timeout.ms`): librdkafka keeps
        // retrying through a broker outage, and giving up earlier would only send the same
        // records again. A transaction cannot outlive its timeout.
        let wait = if self.is_transactional() { self.timeout } else { self.init_deadline };
        let deadline = Instant::now() + wait;
        loop {
            // A zero-timeout flush answers whether records are still unacknowledged.
            match self.inner.flush(Duration::ZERO) {
                Ok(()) => break,
                Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) if Instant::now() < deadline => {
                    self.inner.poll(Duration::from_millis(1));
                }
                Err(source) => match &self.transactional_id {
                    // The transaction cannot be committed in time: abort it and start over.
                    Some(id) => {
                        return Err(RuntimeError::TransactionAbortable {
                            transactional_id: id.clone(),
                            operation: "flush",
                            detail: format!("records still unacknowledged after {wait:?}: {source}"),
                        })
                    }
                    None => return Err(RuntimeError::Flush { source }),
                },
            }
        }
        self.check_deliveries()
    }

    fn check_deliveries(&mut self) -> Result<()> {
        let refused =
            std::mem::take(&mut *self.inner.context().refused.lock().unwrap_or_else(|e| e.into_inner()));
        let failed = self.inner.context().failed.swap(0, Ordering::SeqCst);
        if failed > 0 {
            // Deliveries fail (purged) when the producer hit a fatal error such as fencing:
            // report the cause, not the symptom.
            if let (Some(id), Some((code, reason))) =
                (&self.transactional_id, self.inner.client().fatal_error())
            {
                return Err(RuntimeError::Fenced {
                    transactional_id: id.clone(),
                    operation: "produce",
                    detail: format!("{code:?}: {reason}"),
                });
            }
        }
        if let Some(id) = &self.transactional_id {
            if failed == 0 && refused.is_empty() {
                return Ok(());
            }
            // The transaction misses records: it must not commit. Refused records are
            // remembered, so that the retry hands them to the handler before sending.
            for (record, code) in &refused {
                self.refused_before.insert(fingerprint(record), Refusal::Broker(*code));
            }
            let first = match refused.first() {
                Some((record, code)) => format!("{}: {code}", record.topic),
                None => self.take_first_failure(),
            };
            return Err(RuntimeError::TransactionAbortable {
                transactional_id: id.clone(),
                operation: "produce",
                detail: format!(
                    "{} record(s) were not delivered; first failure: {first}",
                    failed as usize + refused.len()
                ),
            });
        }
        if failed > 0 {
            return Err(RuntimeError::Delivery { failed, first: self.take_first_failure() });
        }
        // At-least-once: the handler decides about each refused record now; dead letters are
        // sent and waited for before the offsets are committed.
        let mut sent = false;
        for (record, code) in refused {
            let why = Refusal::Broker(code);
            if self.guard.is_dead_letter_topic(&record.topic) {
                return Err(RuntimeError::Refused { topic: record.topic, reason: why.to_string() });
            }
            if let Some(dead_letter) = self.guard.decide(&record, &why)? {
                self.send_unchecked(&dead_letter)?;
                sent = true;
            }
        }
        if sent {
            return self.flush();
        }
        Ok(())
    }

    fn take_first_failure(&self) -> String {
        self.inner
            .context()
            .first_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default()
    }

    /// The highest offset delivered to `partition` so far.
    pub(crate) fn last_offset(&self, partition: &TopicPartition) -> Option<i64> {
        let offsets = self.inner.context().last_offsets.lock().unwrap_or_else(|e| e.into_inner());
        offsets.get(partition.topic()).and_then(|p| p.get(&partition.partition())).copied()
    }

    /// Adds the consumed offsets to the open transaction and commits it.
    ///
    /// A commit that timed out has an unknown outcome: it fails with
    /// [`RuntimeError::TransactionAmbiguous`], and the caller must [`Self::reset`] the producer
    /// and go back to the committed offsets.
    pub(crate) fn commit_transaction(
        &mut self,
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
    ) -> Result<()> {
        let Some(id) = self.transactional_id.clone() else { return Ok(()) };
        if !self.in_transaction {
            return Ok(());
        }
        if offsets.count() > 0 {
            self.inner
                .send_offsets_to_transaction(offsets, group, self.timeout)
                .map_err(|e| txn_error("send_offsets", &id, e))?;
        }
        match self.inner.commit_transaction(self.timeout) {
            Ok(()) => {}
            Err(KafkaError::Transaction(e)) if e.is_retriable() => {
                return Err(RuntimeError::TransactionAmbiguous {
                    transactional_id: id,
                    detail: e.to_string(),
                })
            }
            Err(e) => return Err(txn_error("commit", &id, e)),
        }
        self.in_transaction = false;
        metrics::counter!("kstreams_transactions_committed_total", "thread" => self.thread.clone())
            .increment(1);
        self.check_deliveries()
    }

    /// Aborts the open transaction, if any: nothing written in it becomes visible to
    /// read-committed consumers. librdkafka waits for the transaction's in-flight records
    /// (purging them would leave gaps in the idempotent sequence, or let a late batch land in
    /// the next transaction) and fails those still queued; their delivery reports are served
    /// between attempts. A fatal error (fenced) is returned: the producer must be reset.
    pub(crate) fn abort_transaction(&mut self) -> Result<()> {
        let Some(id) = self.transactional_id.clone() else { return Ok(()) };
        if !self.in_transaction {
            return Ok(());
        }
        self.in_transaction = false;
        metrics::counter!("kstreams_transactions_aborted_total", "thread" => self.thread.clone())
            .increment(1);
        tracing::warn!(thread = %self.thread, transactional_id = %id, "aborting the open transaction");
        let deadline = Instant::now() + self.timeout;
        let result = loop {
            match self.inner.abort_transaction(Duration::from_millis(200)) {
                Ok(()) => break Ok(()),
                Err(KafkaError::Transaction(e)) if e.is_retriable() && Instant::now() < deadline => {
                    self.inner.poll(Duration::from_millis(10));
                }
                Err(e) => break Err(txn_error("abort", &id, e)),
            }
        };
        // Deliveries failed by the abort are expected.
        self.inner.poll(Duration::ZERO);
        self.inner.context().failed.store(0, Ordering::SeqCst);
        result
    }
}

/// librdkafka's default `message.max.bytes`.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Identifies a record across a retried transaction (the replay from the committed offsets
/// produces the same topic, key, value and timestamp).
fn fingerprint(record: &OutputRecord) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&record.topic, &record.key, &record.value, record.timestamp).hash(&mut h);
    h.finish()
}

/// How long transactional calls may take unless `producer.transaction.timeout.ms` says
/// otherwise (librdkafka's default transaction timeout).
const DEFAULT_TXN_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates the rdkafka producer and, when transactional, initializes its transactions
/// (retrying while the coordinator is busy completing the previous owner's transaction).
fn create(
    cfg: &ClientConfig,
    thread: &str,
    transactional_id: Option<&str>,
    timeout: Duration,
    init_deadline: Duration,
) -> Result<BaseProducer<DeliveryTracker>> {
    let inner: BaseProducer<DeliveryTracker> = cfg
        .create_with_context(DeliveryTracker::default())
        .map_err(|source| RuntimeError::CreateClient { client: "producer", source })?;
    if let Some(id) = transactional_id {
        let deadline = Instant::now() + init_deadline;
        loop {
            match inner.init_transactions(timeout) {
                Ok(()) => break,
                Err(KafkaError::Transaction(e)) if e.is_retriable() && Instant::now() < deadline => {
                    tracing::warn!(thread, transactional_id = %id, error = %e, "init_transactions: retrying");
                }
                Err(e) => return Err(txn_error("init", id, e)),
            }
        }
        tracing::info!(thread, transactional_id = %id, "transactional producer ready");
    }
    Ok(inner)
}

/// Classifies a transactional failure: fencing (another producer with our id) is
/// [`RuntimeError::Fenced`]. Other fatal errors are not: a broker without transactions
/// answers `init` with a fatal `TransactionalIdAuthorizationFailed`, which must not read as
/// "fenced by a newer producer".
fn txn_error(operation: &'static str, transactional_id: &str, e: KafkaError) -> RuntimeError {
    let fenced = match &e {
        KafkaError::Transaction(rd) => matches!(
            rd.code(),
            RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
        ),
        _ => false,
    };
    if fenced {
        RuntimeError::Fenced {
            transactional_id: transactional_id.to_string(),
            operation,
            detail: e.to_string(),
        }
    } else {
        RuntimeError::Transaction { operation, transactional_id: transactional_id.to_string(), source: e }
    }
}
