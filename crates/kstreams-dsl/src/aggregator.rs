//! Aggregators: how values of one key (and window) fold into a result.
//!
//! The accumulator is what the store keeps (bincode-encoded); the output is what the table
//! shows. For a mean they differ: the store keeps `(sum, count)`, the table shows the mean.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Folds values into an accumulator and presents the accumulator as a result.
pub trait Aggregator<K, V>: Send + Sync + 'static {
    /// What the store keeps per key (and window).
    type Acc: Clone + Serialize + DeserializeOwned + 'static;
    /// What the resulting table holds.
    type Output: Clone + 'static;

    /// The accumulator of a key (or window) before any value.
    fn init(&self) -> Self::Acc;
    /// Adds one value.
    fn add(&self, acc: &mut Self::Acc, key: &K, value: &V);
    /// The result for an accumulator; `None` means "no value" (emitted as a deletion).
    fn result(&self, acc: &Self::Acc) -> Option<Self::Output>;
    /// Combines two accumulators (session windows merge sessions). `None` if not supported.
    fn merge(&self, _a: &Self::Acc, _b: &Self::Acc) -> Option<Self::Acc> {
        None
    }
}

/// Counts records.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count;

impl<K, V> Aggregator<K, V> for Count {
    type Acc = u64;
    type Output = u64;
    fn init(&self) -> u64 {
        0
    }
    fn add(&self, acc: &mut u64, _key: &K, _value: &V) {
        *acc += 1;
    }
    fn result(&self, acc: &u64) -> Option<u64> {
        Some(*acc)
    }
    fn merge(&self, a: &u64, b: &u64) -> Option<u64> {
        Some(a + b)
    }
}

macro_rules! numeric_aggregator {
    ($(#[$doc:meta])* $name:ident, $acc:ty, $init:expr, |$a:ident, $x:ident| $add:expr, |$r:ident| $result:expr, |$m1:ident, $m2:ident| $merge:expr) => {
        $(#[$doc])*
        pub struct $name<V, F> {
            f: F,
            _v: PhantomData<fn(&V)>,
        }

        impl<V, F: Fn(&V) -> f64> $name<V, F> {
            /// Aggregates the number `f` extracts from each value.
            pub fn of(f: F) -> Self {
                Self { f, _v: PhantomData }
            }
        }

        impl<K, V: 'static, F: Fn(&V) -> f64 + Send + Sync + 'static> Aggregator<K, V> for $name<V, F> {
            type Acc = $acc;
            type Output = f64;
            fn init(&self) -> $acc {
                $init
            }
            fn add(&self, $a: &mut $acc, _key: &K, value: &V) {
                let $x = (self.f)(value);
                $add
            }
            fn result(&self, $r: &$acc) -> Option<f64> {
                $result
            }
            fn merge(&self, $m1: &$acc, $m2: &$acc) -> Option<$acc> {
                Some($merge)
            }
        }
    };
}

numeric_aggregator!(
    /// Sums a number taken from each value.
    Sum, f64, 0.0, |a, x| *a += x, |a| Some(*a), |a, b| a + b
);
numeric_aggregator!(
    /// The smallest number taken from the values.
    Min, Option<f64>, None, |a, x| *a = Some(a.map_or(x, |m| m.min(x))), |a| *a, |a, b| match (a, b) {
        (Some(x), Some(y)) => Some(x.min(*y)),
        (x, y) => x.or(*y),
    }
);
numeric_aggregator!(
    /// The largest number taken from the values.
    Max, Option<f64>, None, |a, x| *a = Some(a.map_or(x, |m| m.max(x))), |a| *a, |a, b| match (a, b) {
        (Some(x), Some(y)) => Some(x.max(*y)),
        (x, y) => x.or(*y),
    }
);
numeric_aggregator!(
    /// The arithmetic mean of a number taken from each value; the store keeps sum and count.
    Mean, MeanAcc, MeanAcc::default(), |a, x| { a.sum += x; a.count += 1 },
    |a| (a.count > 0).then(|| a.sum / a.count as f64),
    |a, b| MeanAcc { sum: a.sum + b.sum, count: a.count + b.count }
);

/// The accumulator of [`Mean`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanAcc {
    /// Sum of the values.
    pub sum: f64,
    /// Number of values.
    pub count: u64,
}

/// Count, sum, minimum and maximum of a series of numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of values.
    pub count: u64,
    /// Sum of the values.
    pub sum: f64,
    /// Smallest value (`+inf` when empty).
    pub min: f64,
    /// Largest value (`-inf` when empty).
    pub max: f64,
}

impl Default for Stats {
    fn default() -> Self {
        Self { count: 0, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Stats {
    /// Adds one value.
    pub fn add(&mut self, x: f64) {
        self.count += 1;
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// The mean (NaN when empty).
    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }

    /// Both series together.
    pub fn merged(&self, other: &Stats) -> Stats {
        Stats {
            count: self.count + other.count,
            sum: self.sum + other.sum,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }
}

/// Keeps count, sum, min and max of a number taken from each value; the table holds [`Stats`].
pub struct StatsOf<V, F> {
    f: F,
    _v: PhantomData<fn(&V)>,
}

impl<V, F: Fn(&V) -> f64> StatsOf<V, F> {
    /// Aggregates the number `f` extracts from each value.
    pub fn of(f: F) -> Self {
        Self { f, _v: PhantomData }
    }
}

impl<K, V: 'static, F: Fn(&V) -> f64 + Send + Sync + 'static> Aggregator<K, V> for StatsOf<V, F> {
    type Acc = Stats;
    type Output = Stats;
    fn init(&self) -> Stats {
        Stats::default()
    }
    fn add(&self, acc: &mut Stats, _key: &K, value: &V) {
        acc.add((self.f)(value));
    }
    fn result(&self, acc: &Stats) -> Option<Stats> {
        (acc.count > 0).then_some(*acc)
    }
    fn merge(&self, a: &Stats, b: &Stats) -> Option<Stats> {
        Some(a.merged(b))
    }
}

/// Combines two accumulators.
pub type MergeFn<A> = Box<dyn Fn(&A, &A) -> A + Send + Sync>;

/// An aggregator from closures: `init()` and `add(key, value, acc) -> acc`, optionally
/// `merge(key, a, b) -> acc` for session windows.
pub struct FnAggregator<K, V, A, I, F> {
    init: I,
    add: F,
    merge: Option<MergeFn<A>>,
    _t: PhantomData<fn(&K, &V) -> A>,
}

impl<K, V, A, I: Fn() -> A, F: Fn(&K, &V, A) -> A> FnAggregator<K, V, A, I, F> {
    /// An aggregator starting from `init()` and folding with `add`.
    pub fn new(init: I, add: F) -> Self {
        Self { init, add, merge: None, _t: PhantomData }
    }

    /// Adds a merger, needed by session windows.
    pub fn with_merger(mut self, merge: impl Fn(&A, &A) -> A + Send + Sync + 'static) -> Self {
        self.merge = Some(Box::new(merge));
        self
    }
}

impl<K, V, A, I, F> Aggregator<K, V> for FnAggregator<K, V, A, I, F>
where
    K: 'static,
    V: 'static,
    A: Clone + Serialize + DeserializeOwned + 'static,
    I: Fn() -> A + Send + Sync + 'static,
    F: Fn(&K, &V, A) -> A + Send + Sync + 'static,
{
    type Acc = A;
    type Output = A;
    fn init(&self) -> A {
        (self.init)()
    }
    fn add(&self, acc: &mut A, key: &K, value: &V) {
        let old = std::mem::replace(acc, (self.init)());
        *acc = (self.add)(key, value, old);
    }
    fn result(&self, acc: &A) -> Option<A> {
        Some(acc.clone())
    }
    fn merge(&self, a: &A, b: &A) -> Option<A> {
        self.merge.as_ref().map(|m| m(a, b))
    }
}

/// Combines values of one key with a reducer `f(aggregate, value) -> aggregate`.
pub struct Reducer<V, F> {
    f: F,
    _v: PhantomData<fn(V) -> V>,
}

impl<V, F: Fn(&V, &V) -> V> Reducer<V, F> {
    /// A reducer.
    pub fn new(f: F) -> Self {
        Self { f, _v: PhantomData }
    }
}

impl<K, V, F> Aggregator<K, V> for Reducer<V, F>
where
    V: Clone + Serialize + DeserializeOwned + 'static,
    F: Fn(&V, &V) -> V + Send + Sync + 'static,
{
    type Acc = Option<V>;
    type Output = V;
    fn init(&self) -> Option<V> {
        None
    }
    fn add(&self, acc: &mut Option<V>, _key: &K, value: &V) {
        *acc = Some(match acc.take() {
            Some(a) => (self.f)(&a, value),
            None => value.clone(),
        });
    }
    fn result(&self, acc: &Option<V>) -> Option<V> {
        acc.clone()
    }
    fn merge(&self, a: &Option<V>, b: &Option<V>) -> Option<Option<V>> {
        Some(match (a, b) {
            (Some(x), Some(y)) => Some((self.f)(x, y)),
            (x, y) => x.clone().or_else(|| y.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold<A: Aggregator<(), f64>>(a: &A, xs: &[f64]) -> Option<A::Output> {
        let mut acc = a.init();
        for x in xs {
            a.add(&mut acc, &(), x);
        }
        a.result(&acc)
    }

    #[test]
    fn built_in_aggregators_compute_what_they_say() {
        let id = |x: &f64| *x;
        assert_eq!(fold(&Count, &[1.0, 2.0, 3.0]), Some(3));
        assert_eq!(fold(&Sum::of(id), &[1.0, 2.5]), Some(3.5));
        assert_eq!(fold(&Mean::of(id), &[20.5, 21.5, 22.0]), Some(64.0 / 3.0));
        assert_eq!(fold(&Mean::of(id), &[]), None);
        assert_eq!(fold(&Min::of(id), &[3.0, -1.0, 2.0]), Some(-1.0));
        assert_eq!(fold(&Max::of(id), &[3.0, -1.0, 2.0]), Some(3.0));
        let s = fold(&StatsOf::of(id), &[1.0, 5.0, 3.0]).unwrap();
        assert_eq!((s.count, s.sum, s.min, s.max, s.mean()), (3, 9.0, 1.0, 5.0, 3.0));
    }

    #[test]
    fn merging_equals_folding_everything() {
        let m = Mean::of(|x: &f64| *x);
        let (mut a, mut b) =
            (<Mean<f64, _> as Aggregator<(), f64>>::init(&m), Aggregator::<(), f64>::init(&m));
        for x in [1.0, 2.0] {
            Aggregator::<(), f64>::add(&m, &mut a, &(), &x);
        }
        Aggregator::<(), f64>::add(&m, &mut b, &(), &6.0);
        let merged = Aggregator::<(), f64>::merge(&m, &a, &b).unwrap();
        assert_eq!(Aggregator::<(), f64>::result(&m, &merged), Some(3.0));
        let r = Reducer::new(|a: &f64, b: &f64| a + b);
        assert_eq!(fold(&r, &[1.0, 2.0, 4.0]), Some(7.0));
    }
}
