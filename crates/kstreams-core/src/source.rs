//! Source nodes: bytes in, typed records out.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::context::TaskContext;
use crate::error::Result;
use crate::node::{BuildContext, BuiltNode, DecodeError, InputRef, NodeFactory, NodeMeta, RawInput};
use crate::processor::ProcessorContext;
use crate::record::{RawRecord, Record};
use crate::serde::Serde;

/// Extracts the event time (ms) of a record from its key, value and the Kafka record timestamp.
pub type TimestampFn<K, V> = Arc<dyn Fn(&K, &V, i64) -> i64 + Send + Sync>;

/// Builds source nodes.
pub(crate) struct SourceFactory<K, V> {
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    timestamp: Option<TimestampFn<K, V>>,
}

impl<K, V> SourceFactory<K, V> {
    /// A source decoding with these serdes; event time from `timestamp`, or the Kafka record
    /// timestamp when `None`.
    pub(crate) fn new(
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
    /// The record [`RawInput::decode`] produced, until it is forwarded.
    decoded: Option<Record<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> RawInput for SourceNode<K, V> {
    fn decode(&mut self, raw: &RawRecord) -> std::result::Result<i64, DecodeError> {
        let key = self.key_serde.deserialize_nullable(raw.key.as_deref()).map_err(DecodeError::Key)?;
        let value =
            self.value_serde.deserialize_nullable(raw.value.as_deref()).map_err(DecodeError::Value)?;
        let timestamp = match &self.timestamp {
            Some(f) => f(&key, &value, raw.timestamp),
            None => raw.timestamp,
        };
        self.decoded = Some(Record { key, value, timestamp, headers: raw.headers.clone() });
        Ok(timestamp)
    }

    fn forward(&mut self, ctx: &mut TaskContext) -> Result<()> {
        match self.decoded.take() {
            Some(record) => ProcessorContext::new(&self.meta, &self.children, ctx).forward(record),
            None => Ok(()),
        }
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
            decoded: None,
        };
        Ok(BuiltNode { raw: Some(Rc::new(RefCell::new(node))), ..BuiltNode::default() })
    }
}
