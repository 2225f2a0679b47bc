//! Processors of the stateless operators: one record in, zero or more out, no store.

use std::sync::Arc;

use kstreams_core::Record;
use kstreams_core::Result;
use kstreams_core::{Processor, ProcessorContext};

macro_rules! closure_processor {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub(crate) struct $name<F>(pub(crate) Arc<F>);

        impl<F> $name<F> {
            pub(crate) fn supplier(f: F) -> impl Fn() -> Self + Send + Sync + 'static
            where
                F: Send + Sync + 'static,
            {
                let f = Arc::new(f);
                move || Self(f.clone())
            }
        }
    };
}

closure_processor!(
    /// `map`: new key and value.
    MapP
);
closure_processor!(
    /// `map_values`: new value.
    MapValuesP
);
closure_processor!(
    /// `flat_map`: any number of new key-value pairs.
    FlatMapP
);
closure_processor!(
    /// `flat_map_values`: any number of new values.
    FlatMapValuesP
);
closure_processor!(
    /// `peek` / `foreach`: a side effect, record forwarded unchanged (nothing for foreach: it has
    /// no children).
    PeekP
);
closure_processor!(
    /// `select_key`: new key from key and value.
    SelectKeyP
);

/// `filter(pred)` keeps records where `pred` is true; `filter_not` where it is false.
pub(crate) struct Filter<F> {
    pub(crate) pred: Arc<F>,
    pub(crate) keep: bool,
}

impl<K: Clone + 'static, V: Clone + 'static, F: Fn(&K, &V) -> bool + 'static> Processor<K, V, K, V>
    for Filter<F>
{
    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, V>) -> Result<()> {
        if (self.pred)(&r.key, &r.value) == self.keep {
            ctx.forward(r)?;
        }
        Ok(())
    }
}

impl<K, V, K2, V2, F> Processor<K, V, K2, V2> for MapP<F>
where
    K: 'static,
    V: 'static,
    K2: Clone + 'static,
    V2: Clone + 'static,
    F: Fn(K, V) -> (K2, V2) + 'static,
{
    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K2, V2>) -> Result<()> {
        let (k, v) = (self.0)(r.key, r.value);
        ctx.forward(Record { key: k, value: v, timestamp: r.timestamp, headers: r.headers })
    }
}

impl<K, V, V2, F> Processor<K, V, K, V2> for MapValuesP<F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    F: Fn(V) -> V2 + 'static,
{
    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, V2>) -> Result<()> {
        let v = (self.0)(r.value);
        ctx.forward(Record { key: r.key, value: v, timestamp: r.timestamp, headers: r.headers })
    }
}

impl<K, V, K2, V2, I, F> Processor<K, V, K2, V2> for FlatMapP<F>
where
    K: 'static,
    V: 'static,
    K2: Clone + 'static,
    V2: Clone + 'static,
    I: IntoIterator<Item = (K2, V2)>,
    F: Fn(K, V) -> I + 'static,
{
    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K2, V2>) -> Result<()> {
        for (k, v) in (self.0)(r.key, r.value) {
            ctx.forward(Record { key: k, value: v, timestamp: r.timestamp, headers: r.headers.clone() })?;
        }
        Ok(())
    }
}

impl<K, V, V2, I, F> Processor<K, V, K, V2> for FlatMapValuesP<F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    I: IntoIterator<Item = V2>,
    F: Fn(V) -> I + 'static,
{
    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, V2>) -> Result<()> {
        for v in (self.0)(r.value) {
            ctx.forward(Record {
                key: r.key.clone(),
                value: v,
                timestamp: r.timestamp,
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}

impl<K, V, F> Processor<K, V, K, V> for PeekP<F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(&K, &V) + 'static,
{
    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, V>) -> Result<()> {
        (self.0)(&r.key, &r.value);
        ctx.forward(r)
    }
}

impl<K, V, K2, F> Processor<K, V, K2, V> for SelectKeyP<F>
where
    K: 'static,
    V: Clone + 'static,
    K2: Clone + 'static,
    F: Fn(&K, &V) -> K2 + 'static,
{
    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K2, V>) -> Result<()> {
        let k = (self.0)(&r.key, &r.value);
        ctx.forward(Record { key: k, value: r.value, timestamp: r.timestamp, headers: r.headers })
    }
}

/// Forwards everything unchanged: `merge` and branch heads.
pub(crate) struct PassThrough;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for PassThrough {
    fn process(&mut self, r: Record<K, V>, ctx: &mut ProcessorContext<'_, K, V>) -> Result<()> {
        ctx.forward(r)
    }
}
