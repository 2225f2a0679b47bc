//! Source nodes (bytes in, typed records out) and sink nodes (typed records in, bytes out).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::error::Result;
use crate::processor::Input;
use crate::processor::{
    BuildContext, BuiltNode, ErasedInput, InputRef, NodeFactory, NodeMeta, ProcessorContext, RawInput,
};
use crate::record::{OutputRecord, RawRecord, Record};
use crate::serde::Serde;
use crate::task::TaskShared;
use crate::topology::TopicRef;

/// Extracts the event time (ms) of a record from its key, value and the Kafka record timestamp.
pub type TimestampFn<K, V> = Arc<dyn Fn(&K, &V, i64) -> i64 + Send + Sync>;

/// Builds source nodes.
pub struct SourceFactory<K, V> {
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    timestamp: Option<TimestampFn<K, V>>,
}

impl<K, V> SourceFactory<K, V> {
    /// A source decoding with these serdes; event time from `timestamp`, or the Kafka record
    /// timestamp when `None`.
    pub fn new(
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
        timestamp: Option<TimestampFn<K, V>>,
    ) -> Self {
        Self { key_serde, value_serde, timestamp }
    }
}

struct SourceNode<K, V> {
    meta: NodeMeta,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    timestamp: Option<TimestampFn<K, V>>,
    children: Vec<InputRef<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> RawInput for SourceNode<K, V> {
    fn process_raw(&mut self, raw: &RawRecord, task: &mut TaskShared) -> Result<()> {
        let key = match self.key_serde.deserialize_nullable(raw.key.as_deref()) {
            Ok(k) => k,
            Err(e) => return task.on_deserialization_error(raw, "key", &e),
        };
        let value = match self.value_serde.deserialize_nullable(raw.value.as_deref()) {
            Ok(v) => v,
            Err(e) => return task.on_deserialization_error(raw, "value", &e),
        };
        let timestamp = match &self.timestamp {
            Some(f) => f(&key, &value, raw.timestamp),
            None => raw.timestamp,
        };
        if timestamp < 0 {
            task.on_invalid_timestamp(raw, timestamp);
            return Ok(());
        }
        task.observe_timestamp(timestamp);
        let record = Record { key, value, timestamp, headers: raw.headers.clone() };
        ProcessorContext::new(&self.meta, &self.children, task).forward(record)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> NodeFactory for SourceFactory<K, V> {
    fn build(&self, ctx: BuildContext<'_>) -> Result<BuiltNode> {
        let children = ctx.typed_children::<K, V>()?;
        let node = SourceNode {
            meta: ctx.meta,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            timestamp: self.timestamp.clone(),
            children,
        };
        Ok(BuiltNode { raw: Some(Rc::new(RefCell::new(node))), ..BuiltNode::default() })
    }
}

/// Builds sink nodes.
pub struct SinkFactory<K, V> {
    topic: TopicRef,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K, V> SinkFactory<K, V> {
    /// A sink writing to `topic` with these serdes.
    pub fn new(topic: TopicRef, key_serde: Arc<dyn Serde<K>>, value_serde: Arc<dyn Serde<V>>) -> Self {
        Self { topic, key_serde, value_serde }
    }
}

struct SinkNode<K, V> {
    topic: String,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K: 'static, V: 'static> Input<K, V> for SinkNode<K, V> {
    fn process(&mut self, record: Record<K, V>, task: &mut TaskShared) -> Result<()> {
        let key = self.key_serde.serialize_nullable(&record.key).map_err(|e| {
            crate::error::StreamsError::Serialize { topic: self.topic.clone(), detail: format!("key: {e}") }
        })?;
        let value = self.value_serde.serialize_nullable(&record.value).map_err(|e| {
            crate::error::StreamsError::Serialize { topic: self.topic.clone(), detail: format!("value: {e}") }
        })?;
        task.collector().borrow_mut().send(OutputRecord {
            topic: self.topic.clone(),
            partition: None,
            key,
            value,
            timestamp: record.timestamp,
            headers: record.headers,
        });
        Ok(())
    }
}

impl<K: 'static, V: 'static> NodeFactory for SinkFactory<K, V> {
    fn build(&self, ctx: BuildContext<'_>) -> Result<BuiltNode> {
        let node: InputRef<K, V> = Rc::new(RefCell::new(SinkNode {
            topic: self.topic.resolve(ctx.application_id),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }));
        Ok(BuiltNode { input: Some(ErasedInput::new(node)), ..BuiltNode::default() })
    }
}
