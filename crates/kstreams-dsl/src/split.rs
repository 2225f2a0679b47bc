//! [`BranchedKStream`]: splitting a stream into named branches (Kafka's `KStream#split`,
//! KIP-418).

use std::collections::BTreeMap;
use std::sync::Arc;

use kstreams_core::{NodeId, Processor, ProcessorContext, Record, Result};

use crate::processors::stateless::PassThrough;
use crate::stream::KStream;

/// A branch predicate of [`BranchedKStream::branch`].
pub type Predicate<K, V> = Box<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// What becomes of a branch's stream: `None` leaves it out of the result map.
type Chain<K, V> = Box<dyn FnOnce(KStream<K, V>) -> Option<KStream<K, V>>>;

/// How a branch is named and what is done with its stream (Kafka's `Branched`).
pub struct Branched<K, V> {
    name: Option<String>,
    chain: Option<Chain<K, V>>,
}

impl<K, V> Default for Branched<K, V> {
    fn default() -> Self {
        Self { name: None, chain: None }
    }
}

impl<K: 'static, V: 'static> Branched<K, V> {
    /// A branch named `name`: its key in the result map is the split's prefix + `name`.
    pub fn as_(name: impl Into<String>) -> Self {
        Self { name: Some(name.into()), chain: None }
    }

    /// A branch whose stream is passed through `f`; the map holds what `f` returns.
    pub fn with_function(f: impl FnOnce(KStream<K, V>) -> KStream<K, V> + 'static) -> Self {
        Self { name: None, chain: Some(Box::new(move |s| Some(f(s)))) }
    }

    /// A branch whose stream is handed to `f` (e.g. to write it out); it has no entry in the
    /// map.
    pub fn with_consumer(f: impl FnOnce(KStream<K, V>) + 'static) -> Self {
        Self {
            name: None,
            chain: Some(Box::new(move |s| {
                f(s);
                None
            })),
        }
    }

    /// Names a branch made with [`Branched::with_function`] or [`Branched::with_consumer`].
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// The branches of a split stream, built one [`BranchedKStream::branch`] at a time and
/// finished with [`BranchedKStream::default_branch`] or [`BranchedKStream::no_default_branch`].
///
/// Each record goes to the first branch whose predicate matches; records matching none go to
/// the default branch, or are dropped without one. The result maps names to streams, as Kafka
/// Streams names them: the split's prefix ([`KStream::split_named`], else the generated name
/// of the split node, e.g. `KSTREAM-BRANCH-0000000001`) followed by the branch's name, or by
/// its position from 1 when it has none; the default branch's position is 0.
///
/// ```
/// # use kstreams_dsl::prelude::*;
/// let mut b = StreamsBuilder::new();
/// let branches = b
///     .stream("readings", Consumed::with(StringSerde, F64Serde))
///     .split_named("temp-")
///     .branch(|_sensor, c| *c < 0.0, Branched::as_("freezing"))
///     .branch(|_sensor, c| *c > 40.0, Branched::with_consumer(|hot| hot.to("alerts", Produced::default())))
///     .default_branch(Branched::as_("normal"));
/// assert_eq!(branches.keys().collect::<Vec<_>>(), ["temp-freezing", "temp-normal"]);
/// branches["temp-freezing"].to("freezing", Produced::default());
/// # b.build().unwrap();
/// ```
pub struct BranchedKStream<K, V> {
    source: KStream<K, V>,
    prefix: String,
    node_name: String,
    branches: Vec<(Predicate<K, V>, Branched<K, V>)>,
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Splits the stream into branches (see [`BranchedKStream`]); their names start with the
    /// split node's generated name.
    pub fn split(&self) -> BranchedKStream<K, V> {
        let name = self.graph.name("KSTREAM-BRANCH");
        BranchedKStream { source: self.clone(), prefix: name.clone(), node_name: name, branches: Vec::new() }
    }

    /// Splits the stream into branches named `name` + each branch's name (Kafka's
    /// `split(Named.as(name))`); the split node is named `name`.
    pub fn split_named(&self, name: &str) -> BranchedKStream<K, V> {
        BranchedKStream {
            source: self.clone(),
            prefix: name.to_string(),
            node_name: name.to_string(),
            branches: Vec::new(),
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> BranchedKStream<K, V> {
    /// Adds a branch taking the records for which `predicate` is true (and no earlier
    /// branch's).
    pub fn branch(
        mut self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        branched: Branched<K, V>,
    ) -> Self {
        self.branches.push((Box::new(predicate), branched));
        self
    }

    /// Finishes the split with a default branch for the records no predicate matched.
    pub fn default_branch(self, branched: Branched<K, V>) -> BTreeMap<String, KStream<K, V>> {
        self.finish(Some(branched))
    }

    /// Finishes the split; records no predicate matched are dropped.
    pub fn no_default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.finish(None)
    }

    fn finish(self, default: Option<Branched<K, V>>) -> BTreeMap<String, KStream<K, V>> {
        let graph = self.source.graph.clone();
        let (predicates, mut branches): (Vec<_>, Vec<_>) = self.branches.into_iter().unzip();
        let has_default = default.is_some();
        let preds = Arc::new(predicates);
        let parent = self.source.node;
        let split = graph
            .with(|t| {
                t.add_processor::<_, K, V, K, V>(self.node_name.clone(), &[parent], move || SplitP {
                    predicates: preds.clone(),
                    has_default,
                })
            })
            .unwrap_or(NodeId(usize::MAX));
        let mut names: Vec<String> = (1..=branches.len()).map(|i| i.to_string()).collect();
        if let Some(d) = default {
            branches.push(d);
            names.push("0".to_string());
        }
        let mut out = BTreeMap::new();
        for (branched, position) in branches.into_iter().zip(names) {
            let name = format!("{}{}", self.prefix, branched.name.as_deref().unwrap_or(&position));
            let node = graph
                .with(|t| t.add_processor::<_, K, V, K, V>(name.clone(), &[split], || PassThrough))
                .unwrap_or(NodeId(usize::MAX));
            let s = &self.source;
            let stream = s.child(node, s.key_serde.clone(), s.value_serde.clone(), s.repartition_required);
            let kept = match branched.chain {
                Some(chain) => chain(stream),
                None => Some(stream),
            };
            if let Some(stream) = kept {
                out.insert(name, stream);
            }
        }
        out
    }
}

/// `split`: routes each record to the first branch whose predicate matches (or the default
/// branch, if any).
pub(crate) struct SplitP<K, V> {
    pub(crate) predicates: Arc<Vec<Predicate<K, V>>>,
    pub(crate) has_default: bool,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for SplitP<K, V> {
    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, V>) -> Result<()> {
        for (i, p) in self.predicates.iter().enumerate() {
            if p(&r.key, &r.value) {
                return ctx.forward_to(i, r);
            }
        }
        if self.has_default {
            let i = self.predicates.len();
            ctx.forward_to(i, r)?;
        }
        Ok(())
    }
}
