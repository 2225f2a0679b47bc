//! Property tests: random operation sequences against every key-value and window store stack,
//! compared with a `BTreeMap` model. Caches are tiny so evictions happen constantly.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

use kstreams_state::*;
use proptest::prelude::*;

/// Small enough that every few writes evict.
const TINY_CACHE: usize = 256;

type Key = Vec<u8>;

fn key() -> impl Strategy<Value = Key> {
    // A tiny alphabet so that keys collide and are prefixes of each other.
    prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', 0xff]), 0..4)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..12)
}

fn bound() -> impl Strategy<Value = Bound<Key>> {
    prop_oneof![key().prop_map(Bound::Included), key().prop_map(Bound::Excluded), Just(Bound::Unbounded),]
}

#[derive(Debug, Clone)]
enum KvOp {
    Put(Key, Vec<u8>),
    Delete(Key),
    Batch(Vec<(Key, Option<Vec<u8>>)>),
    Get(Key),
    Range(Bound<Key>, Bound<Key>),
    Prefix(Key),
    Flush,
}

fn kv_op() -> impl Strategy<Value = KvOp> {
    prop_oneof![
        4 => (key(), value()).prop_map(|(k, v)| KvOp::Put(k, v)),
        2 => key().prop_map(KvOp::Delete),
        1 => prop::collection::vec((key(), prop::option::of(value())), 0..5).prop_map(KvOp::Batch),
        2 => key().prop_map(KvOp::Get),
        2 => (bound(), bound()).prop_map(|(a, b)| KvOp::Range(a, b)),
        1 => key().prop_map(KvOp::Prefix),
        1 => Just(KvOp::Flush),
    ]
}

fn model_range(model: &BTreeMap<Key, Vec<u8>>, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Vec<(Key, Vec<u8>)> {
    model
        .iter()
        .filter(|(k, _)| (from, to).contains(k.as_slice()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check_kv(kind: &str, ops: &[KvOp]) {
    let mut f = common::kv_with_cache(kind, TINY_CACHE);
    let mut model: BTreeMap<Key, Vec<u8>> = BTreeMap::new();
    let s = f.store.as_mut();
    for op in ops {
        match op {
            KvOp::Put(k, v) => {
                s.put(k, v).unwrap();
                model.insert(k.clone(), v.clone());
            }
            KvOp::Delete(k) => {
                s.delete(k).unwrap();
                model.remove(k);
            }
            KvOp::Batch(entries) => {
                s.write_batch(entries).unwrap();
                for (k, v) in entries {
                    match v {
                        Some(v) => model.insert(k.clone(), v.clone()),
                        None => model.remove(k),
                    };
                }
            }
            KvOp::Get(k) => assert_eq!(s.get(k).unwrap(), model.get(k).cloned(), "{kind} get {k:?}"),
            KvOp::Range(a, b) => {
                let (from, to) = (a.as_ref().map(Vec::as_slice), b.as_ref().map(Vec::as_slice));
                let got = common::collect(s.range(from, to).unwrap());
                assert_eq!(got, model_range(&model, from, to), "{kind} range {a:?}..{b:?}");
            }
            KvOp::Prefix(p) => {
                let got = common::collect(s.prefix_scan(p).unwrap());
                let expected: Vec<_> = model
                    .iter()
                    .filter(|(k, _)| k.starts_with(p))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, expected, "{kind} prefix {p:?}");
            }
            KvOp::Flush => s.flush().unwrap(),
        }
    }
    let expected: Vec<_> = model.clone().into_iter().collect();
    assert_eq!(common::collect(s.all().unwrap()), expected, "{kind} all");
    s.flush().unwrap();
    assert_eq!(common::collect(s.all().unwrap()), expected, "{kind} all after flush");
    if let Some(sink) = &f.sink {
        // Replaying the changelog rebuilds the same contents.
        let log: Vec<_> = sink.take().into_iter().map(|r| (r.key, r.value)).collect();
        let mut replica = MemoryKeyValueStore::new("replica");
        restore_kv(&mut replica, &log).unwrap();
        assert_eq!(common::collect(replica.all().unwrap()), expected, "{kind} changelog replay");
    }
}

#[derive(Debug, Clone)]
enum WindowOp {
    Put(Key, i64, Option<Vec<u8>>),
    Fetch(Key, i64),
    FetchRange(Key, i64, i64),
    FetchAll(i64, i64),
    Flush,
}

fn ts() -> impl Strategy<Value = i64> {
    // Spans several 60 s segments around zero against a 120 s retention; multiples of 20 s
    // plus jitter make starts collide and land exactly on the expiry cutoff.
    (-5i64..15, 0i64..3).prop_map(|(n, jitter)| n * 20_000 + jitter)
}

fn window_op() -> impl Strategy<Value = WindowOp> {
    prop_oneof![
        5 => (key(), ts(), prop::option::weighted(0.8, value())).prop_map(|(k, t, v)| WindowOp::Put(k, t, v)),
        2 => (key(), ts()).prop_map(|(k, t)| WindowOp::Fetch(k, t)),
        2 => (key(), ts(), ts()).prop_map(|(k, a, b)| WindowOp::FetchRange(k, a, b)),
        1 => (ts(), ts()).prop_map(|(a, b)| WindowOp::FetchAll(a, b)),
        1 => Just(WindowOp::Flush),
    ]
}

/// The window store semantics in a few lines: a map plus stream time.
#[derive(Default)]
struct WindowModel {
    map: BTreeMap<(i64, Key), Vec<u8>>,
    observed: Option<i64>,
}

impl WindowModel {
    fn cutoff(&self) -> i64 {
        self.observed.map_or(i64::MIN, |t| t - common::RETENTION)
    }

    fn put(&mut self, k: &Key, t: i64, v: &Option<Vec<u8>>) -> PutOutcome {
        self.observed = Some(self.observed.map_or(t, |o| o.max(t)));
        if t < self.cutoff() {
            return PutOutcome::Expired;
        }
        match v {
            Some(v) => self.map.insert((t, k.clone()), v.clone()),
            None => self.map.remove(&(t, k.clone())),
        };
        PutOutcome::Written
    }

    fn fetch_all(&self, from: i64, to: i64) -> Vec<WindowEntry> {
        let from = from.max(self.cutoff());
        self.map
            .iter()
            .filter(|((t, _), _)| from <= *t && *t <= to)
            .map(|((t, k), v)| (k.clone(), *t, v.clone()))
            .collect()
    }
}

fn check_window(kind: &str, ops: &[WindowOp]) {
    let mut f = common::window_with_cache(kind, TINY_CACHE);
    let mut model = WindowModel::default();
    let s = f.store.as_mut();
    for op in ops {
        match op {
            WindowOp::Put(k, t, v) => {
                let expected = model.put(k, *t, v);
                assert_eq!(s.put(k, *t, v.as_deref()).unwrap(), expected, "{kind} put {k:?}@{t}");
            }
            WindowOp::Fetch(k, t) => {
                let expected = model.fetch_all(*t, *t).into_iter().find(|e| &e.0 == k).map(|e| e.2);
                assert_eq!(s.fetch(k, *t).unwrap(), expected, "{kind} fetch {k:?}@{t}");
            }
            WindowOp::FetchRange(k, a, b) => {
                let expected: Vec<_> =
                    model.fetch_all(*a, *b).into_iter().filter(|e| &e.0 == k).map(|e| (e.1, e.2)).collect();
                assert_eq!(s.fetch_range(k, *a, *b).unwrap(), expected, "{kind} fetch_range {k:?} {a}..={b}");
            }
            WindowOp::FetchAll(a, b) => {
                assert_eq!(
                    s.fetch_all(*a, *b).unwrap(),
                    model.fetch_all(*a, *b),
                    "{kind} fetch_all {a}..={b}"
                );
            }
            WindowOp::Flush => s.flush().unwrap(),
        }
        assert_eq!(Some(s.observed_stream_time()).filter(|t| *t != i64::MIN), model.observed);
    }
    s.flush().unwrap();
    assert_eq!(s.all().unwrap(), model.fetch_all(i64::MIN, i64::MAX), "{kind} all after flush");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn kv_memory(ops in prop::collection::vec(kv_op(), 0..40)) { check_kv("memory", &ops) }

    #[test]
    fn kv_rocks(ops in prop::collection::vec(kv_op(), 0..40)) { check_kv("rocks", &ops) }

    #[test]
    fn kv_caching_memory(ops in prop::collection::vec(kv_op(), 0..40)) { check_kv("caching_memory", &ops) }

    #[test]
    fn kv_caching_rocks(ops in prop::collection::vec(kv_op(), 0..40)) { check_kv("caching_rocks", &ops) }

    #[test]
    fn kv_caching_logging_rocks(ops in prop::collection::vec(kv_op(), 0..40)) {
        check_kv("caching_logging_rocks", &ops)
    }

    #[test]
    fn window_memory(ops in prop::collection::vec(window_op(), 0..40)) { check_window("memory", &ops) }

    #[test]
    fn window_rocks(ops in prop::collection::vec(window_op(), 0..40)) { check_window("rocks", &ops) }

    #[test]
    fn window_caching_memory(ops in prop::collection::vec(window_op(), 0..40)) {
        check_window("caching_memory", &ops)
    }

    #[test]
    fn window_caching_logging_rocks(ops in prop::collection::vec(window_op(), 0..40)) {
        check_window("caching_logging_rocks", &ops)
    }
}
