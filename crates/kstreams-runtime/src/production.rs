//! The production exception handler: records that cannot be written to their topic.
//!
//! Two kinds of refusal go to [`kstreams_core::ProductionHandler`]:
//! - **before sending**, what a broker would refuse anyway: a record larger than the
//!   producer's `message.max.bytes`, or a timestamp that is negative or further ahead of the
//!   wall clock than `event.time.max.future.ms` (brokers refuse those by default). Checked for
//!   every record, so these never make a transaction fail;
//! - **after sending**, under at-least-once, the deliveries the broker refused for good
//!   (message too large, invalid timestamp or record, policy violation, not authorized).
//!   Under exactly-once such a refusal aborts the transaction instead (the records of an
//!   aborted transaction cannot be picked apart), and the thread retries it until
//!   `task.timeout.ms`; the checks before sending keep that rare.
//!
//! Transient failures (a broker that is down, a request that timed out) are never the
//! handler's: the thread goes back to the committed offsets and tries again.

use kstreams_core::{dead_letter_headers as h, now_ms, OutputRecord, ProductionHandler};
use rdkafka::error::RDKafkaErrorCode;

use crate::error::{Result, RuntimeError};

/// Why a record cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Larger than the producer's `message.max.bytes`.
    TooLarge(usize),
    /// Negative, or too far ahead of the wall clock.
    Timestamp(i64),
    /// The broker refused it.
    Broker(RDKafkaErrorCode),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(n) => {
                write!(f, "the record has {n} bytes, more than the producer's message.max.bytes")
            }
            Self::Timestamp(t) if *t < 0 => write!(f, "negative timestamp {t}"),
            Self::Timestamp(t) => {
                write!(f, "timestamp {t} is more than event.time.max.future.ms ahead of the wall clock")
            }
            Self::Broker(code) => write!(f, "the broker refused it: {code}"),
        }
    }
}

/// Whether a failed delivery is a refusal for good (else transient: retried).
pub(crate) fn permanent(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidTimestamp
            | C::InvalidRecord
            | C::InvalidMessage
            | C::PolicyViolation
            | C::TopicAuthorizationFailed
    )
}

/// Applies the production handler.
pub(crate) struct ProductionGuard {
    handler: ProductionHandler,
    max_bytes: usize,
    max_future_ms: Option<i64>,
    thread: String,
}

impl ProductionGuard {
    pub(crate) fn new(
        handler: ProductionHandler,
        max_bytes: usize,
        max_future_ms: Option<i64>,
        thread: &str,
    ) -> Self {
        Self { handler, max_bytes, max_future_ms, thread: thread.to_string() }
    }

    /// Whether `topic` is the handler's dead-letter topic.
    pub(crate) fn is_dead_letter_topic(&self, topic: &str) -> bool {
        matches!(&self.handler, ProductionHandler::DeadLetter { topic: t } if t == topic)
    }

    /// What a broker would refuse about `record`, if anything.
    pub(crate) fn check(&self, record: &OutputRecord) -> Option<Refusal> {
        let size = record.key.as_ref().map_or(0, Vec::len)
            + record.value.as_ref().map_or(0, Vec::len)
            + record
                .headers
                .iter()
                .map(|h| h.key.len() + h.value.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
        if size > self.max_bytes {
            return Some(Refusal::TooLarge(size));
        }
        let future = self.max_future_ms.is_some_and(|m| record.timestamp > now_ms().saturating_add(m));
        (record.timestamp < 0 || future).then_some(Refusal::Timestamp(record.timestamp))
    }

    /// The handler's answer for `record`, refused because of `why`: an error (fail), nothing
    /// (dropped), or the dead-letter record to send instead.
    pub(crate) fn decide(&self, record: &OutputRecord, why: &Refusal) -> Result<Option<OutputRecord>> {
        metrics::counter!("kstreams_production_errors_total", "thread" => self.thread.clone(),
            "topic" => record.topic.clone())
        .increment(1);
        match &self.handler {
            ProductionHandler::Fail => {
                Err(RuntimeError::Refused { topic: record.topic.clone(), reason: why.to_string() })
            }
            ProductionHandler::LogAndContinue => {
                tracing::warn!(thread = %self.thread, topic = %record.topic, "dropping a record that cannot be written: {why}");
                Ok(None)
            }
            ProductionHandler::DeadLetter { topic } => {
                tracing::warn!(thread = %self.thread, topic = %record.topic, dead_letter_topic = %topic,
                    "a record that cannot be written goes to the dead-letter topic: {why}");
                Ok(Some(self.dead_letter(record, topic, why)))
            }
        }
    }

    /// `record` on its way to the dead-letter `topic`: its key, value and headers, plus headers
    /// naming the reason and the topic it was meant for. A value too large is left out (its
    /// size is in the error header), and a timestamp the broker would refuse is replaced by now.
    fn dead_letter(&self, record: &OutputRecord, topic: &str, why: &Refusal) -> OutputRecord {
        let mut headers = record.headers.clone();
        headers.add(h::KIND, "production");
        headers.add(h::ERROR, why.to_string());
        headers.add(h::TARGET_TOPIC, record.topic.as_bytes());
        let mut dlq = OutputRecord {
            topic: topic.to_string(),
            partition: None,
            key: record.key.clone(),
            value: record.value.clone(),
            timestamp: record.timestamp,
            headers,
        };
        if matches!(why, Refusal::Timestamp(_)) {
            dlq.timestamp = now_ms();
        }
        self.fit(&mut dlq);
        dlq
    }

    /// Whether `record` is a dead letter (of any handler): it carries the error kind header.
    pub(crate) fn is_dead_letter(record: &OutputRecord) -> bool {
        record.headers.last(h::KIND).is_some()
    }

    /// Makes a dead letter writable: a timestamp the broker would refuse becomes now, and a
    /// record too large loses its value, then its key (the error header keeps the reason, and
    /// the source headers where it came from). A dead letter is never itself refused.
    pub(crate) fn fit(&self, dlq: &mut OutputRecord) {
        if let Some(Refusal::Timestamp(_)) = self.check(dlq) {
            dlq.timestamp = now_ms();
        }
        if let Some(Refusal::TooLarge(n)) = self.check(dlq) {
            dlq.value = None;
            dlq.headers.add(h::TRUNCATED, format!("value left out: the record had {n} bytes"));
            if let Some(Refusal::TooLarge(_)) = self.check(dlq) {
                dlq.key = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kstreams_core::Headers;

    use super::*;

    fn record(value_len: usize, timestamp: i64) -> OutputRecord {
        OutputRecord {
            topic: "out".into(),
            partition: None,
            key: Some(b"k".to_vec()),
            value: Some(vec![b'x'; value_len]),
            timestamp,
            headers: Headers::new(),
        }
    }

    #[test]
    fn records_a_broker_would_refuse_are_found_before_sending() {
        let guard = ProductionGuard::new(ProductionHandler::Fail, 1000, Some(3_600_000), "t");
        assert_eq!(guard.check(&record(10, now_ms())), None);
        assert_eq!(guard.check(&record(2000, now_ms())), Some(Refusal::TooLarge(2001)));
        assert_eq!(guard.check(&record(10, -1)), Some(Refusal::Timestamp(-1)));
        let far = now_ms() + 7_200_000;
        assert_eq!(guard.check(&record(10, far)), Some(Refusal::Timestamp(far)));
        let off = ProductionGuard::new(ProductionHandler::Fail, 1000, None, "t");
        assert_eq!(off.check(&record(10, far)), None, "no future guard when it is off");
    }

    #[test]
    fn the_handler_fails_drops_or_dead_letters() {
        let why = Refusal::TooLarge(2001);
        let big = record(2000, now_ms());
        let fail = ProductionGuard::new(ProductionHandler::Fail, 1000, None, "t");
        let err = fail.decide(&big, &why).unwrap_err().to_string();
        assert!(err.contains("`out`") && err.contains("message.max.bytes"), "{err}");
        let skip = ProductionGuard::new(ProductionHandler::LogAndContinue, 1000, None, "t");
        assert_eq!(skip.decide(&big, &why).unwrap(), None);
        let dlq =
            ProductionGuard::new(ProductionHandler::DeadLetter { topic: "dlq".into() }, 1000, None, "t");
        let sent = dlq.decide(&big, &why).unwrap().unwrap();
        assert_eq!(
            (sent.topic.as_str(), sent.value.as_ref()),
            ("dlq", None),
            "the too-large value is left out"
        );
        assert_eq!(sent.headers.last(h::TARGET_TOPIC), Some(&b"out"[..]));
        assert_eq!(sent.headers.last(h::KIND), Some(&b"production"[..]));
        let late = dlq.decide(&record(1, -5), &Refusal::Timestamp(-5)).unwrap().unwrap();
        assert!(late.timestamp > 0, "a dead letter carries a timestamp the broker accepts");
        assert_eq!(late.value, Some(vec![b'x']));
        assert!(
            permanent(RDKafkaErrorCode::InvalidTimestamp) && !permanent(RDKafkaErrorCode::MessageTimedOut)
        );
    }
}
