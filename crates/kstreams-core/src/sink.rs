//! Sink nodes: typed records in, serialized records to the task's collector.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::context::TaskContext;
use crate::error::{Result, StreamsError};
use crate::node::{BuildContext, BuiltNode, ErasedInput, Input, InputRef, NodeFactory};
use crate::record::{OutputRecord, Record};
use crate::serde::Serde;
use crate::topic::TopicRef;

/// Builds sink nodes.
pub(crate) struct SinkFactory<K, V> {
    topic: TopicRef,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K, V> SinkFactory<K, V> {
    /// A sink writing to `topic` with these serdes.
    pub(crate) fn new(topic: TopicRef, key_serde: Arc<dyn Serde<K>>, value_serde: Arc<dyn Serde<V>>) -> Self {
        Self { topic, key_serde, value_serde }
    }
}

struct SinkNode<K, V> {
    topic: String,
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
}

impl<K: 'static, V: 'static> Input<K, V> for SinkNode<K, V> {
    fn process(&mut self, record: Record<K, V>, ctx: &mut TaskContext) -> Result<()> {
        let key = self.key_serde.serialize_nullable(&record.key).map_err(|e| StreamsError::Serialize {
            topic: self.topic.clone(),
            detail: format!("key: {e}"),
        })?;
        let value = self.value_serde.serialize_nullable(&record.value).map_err(|e| {
            StreamsError::Serialize { topic: self.topic.clone(), detail: format!("value: {e}") }
        })?;
        ctx.collector.borrow_mut().send(OutputRecord {
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
