//! The key-value contract.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::common::{self, collect, pairs, Fixture};
use kstreams_state::KeyValueBytesStore;

type F = Fixture<dyn KeyValueBytesStore>;

fn fixture(kind: &str) -> F {
    common::kv(kind)
}

suite!([memory, rocks, caching_memory, caching_rocks, logging_memory, caching_logging_rocks];
    [empty_store, get_put_delete, overwrite, range_bounds, prefix_scan_with_prefix_keys,
     write_batch_applies_in_order, flush_keeps_data, approximate_num_entries, binary_keys]);

fn empty_store(f: &mut F) {
    let s = &mut f.store;
    assert_eq!(s.name(), common::STORE);
    assert_eq!(s.get(b"k").unwrap(), None);
    assert!(collect(s.all().unwrap()).is_empty());
    assert!(collect(s.range(Bound::Unbounded, Bound::Unbounded).unwrap()).is_empty());
    assert!(collect(s.prefix_scan(b"").unwrap()).is_empty());
    assert_eq!(s.approximate_num_entries().unwrap(), 0);
    s.flush().unwrap();
    s.delete(b"absent").unwrap();
}

fn get_put_delete(f: &mut F) {
    let s = &mut f.store;
    s.put(b"k", b"v").unwrap();
    assert_eq!(s.get(b"k").unwrap(), Some(b"v".to_vec()));
    s.delete(b"k").unwrap();
    assert_eq!(s.get(b"k").unwrap(), None);
    s.put(b"k", b"w").unwrap();
    s.flush().unwrap();
    s.delete(b"k").unwrap();
    assert_eq!(s.get(b"k").unwrap(), None, "cached delete hides flushed value");
    assert!(collect(s.all().unwrap()).is_empty());
    s.flush().unwrap();
    assert_eq!(s.get(b"k").unwrap(), None);
}

fn overwrite(f: &mut F) {
    let s = &mut f.store;
    s.put(b"k", b"1").unwrap();
    s.flush().unwrap();
    s.put(b"k", b"2").unwrap();
    assert_eq!(s.get(b"k").unwrap(), Some(b"2".to_vec()));
    assert_eq!(collect(s.all().unwrap()), pairs(&[(b"k", b"2")]));
    s.flush().unwrap();
    assert_eq!(s.get(b"k").unwrap(), Some(b"2".to_vec()));
}

fn range_bounds(f: &mut F) {
    let keys: [&[u8]; 5] = [b"a", b"b", b"bb", b"c", b"d"];
    let mut model = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        f.store.put(k, &[i as u8]).unwrap();
        model.insert(k.to_vec(), vec![i as u8]);
        if i == 2 {
            f.store.flush().unwrap(); // half in the inner store, half cached
        }
    }
    let probes: [&[u8]; 6] = [b"", b"a", b"b", b"ba", b"d", b"e"];
    for lo in probes {
        for hi in probes {
            for from in [Bound::Included(lo), Bound::Excluded(lo), Bound::Unbounded] {
                for to in [Bound::Included(hi), Bound::Excluded(hi), Bound::Unbounded] {
                    let expected: Vec<_> = if valid(from, to) {
                        model.range::<[u8], _>((from, to)).map(|(k, v)| (k.clone(), v.clone())).collect()
                    } else {
                        Vec::new()
                    };
                    let got = collect(f.store.range(from, to).unwrap());
                    assert_eq!(got, expected, "range {from:?}..{to:?}");
                }
            }
        }
    }
}

/// Whether `BTreeMap::range` accepts the bounds (it panics on empty inverted ranges).
fn valid(from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    match (from, to) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b)) => a < b,
        _ => true,
    }
}

fn prefix_scan_with_prefix_keys(f: &mut F) {
    let s = &mut f.store;
    for k in [&b"a"[..], b"ab", b"abc", b"a\xff", b"b", b"\xff\xff", b"ac"] {
        s.put(k, k).unwrap();
    }
    let scan = |s: &dyn KeyValueBytesStore, p: &[u8]| -> Vec<Vec<u8>> {
        collect(s.prefix_scan(p).unwrap()).into_iter().map(|(k, _)| k).collect()
    };
    let v = |ks: &[&[u8]]| ks.iter().map(|k| k.to_vec()).collect::<Vec<_>>();
    assert_eq!(scan(s.as_ref(), b"a"), v(&[b"a", b"ab", b"abc", b"ac", b"a\xff"]));
    assert_eq!(scan(s.as_ref(), b"ab"), v(&[b"ab", b"abc"]));
    assert_eq!(scan(s.as_ref(), b"abc"), v(&[b"abc"]));
    assert_eq!(scan(s.as_ref(), b"\xff"), v(&[b"\xff\xff"]));
    assert_eq!(scan(s.as_ref(), b"z"), v(&[]));
    assert_eq!(scan(s.as_ref(), b"").len(), 7);
    s.flush().unwrap();
    s.delete(b"ab").unwrap();
    assert_eq!(scan(s.as_ref(), b"ab"), v(&[b"abc"]));
}

fn write_batch_applies_in_order(f: &mut F) {
    let s = &mut f.store;
    s.put(b"gone", b"x").unwrap();
    let batch = vec![
        (b"k1".to_vec(), Some(b"v1".to_vec())),
        (b"k2".to_vec(), Some(b"v2".to_vec())),
        (b"k1".to_vec(), None),
        (b"k3".to_vec(), Some(b"v3".to_vec())),
        (b"k3".to_vec(), Some(b"v4".to_vec())),
        (b"gone".to_vec(), None),
    ];
    s.write_batch(&batch).unwrap();
    let expected = pairs(&[(b"k2", b"v2"), (b"k3", b"v4")]);
    assert_eq!(collect(s.all().unwrap()), expected);
    s.flush().unwrap();
    assert_eq!(collect(s.all().unwrap()), expected);
    s.write_batch(&[]).unwrap();
}

fn flush_keeps_data(f: &mut F) {
    let s = &mut f.store;
    for i in 0..50u8 {
        s.put(&[i], &[i, i]).unwrap();
    }
    s.flush().unwrap();
    s.flush().unwrap();
    for i in 0..50u8 {
        assert_eq!(s.get(&[i]).unwrap(), Some(vec![i, i]));
    }
    assert_eq!(collect(s.all().unwrap()).len(), 50);
}

fn approximate_num_entries(f: &mut F) {
    let s = &mut f.store;
    for i in 0..10u8 {
        s.put(&[i], b"v").unwrap();
    }
    s.flush().unwrap();
    let n = s.approximate_num_entries().unwrap();
    assert!((1..=20).contains(&n), "estimate {n} for 10 keys");
}

fn binary_keys(f: &mut F) {
    let s = &mut f.store;
    let keys: [&[u8]; 5] = [b"", b"\x00", b"\x00\x00", b"\xff", b"\x00\xff"];
    for k in keys {
        s.put(k, b"v").unwrap();
    }
    let got: Vec<_> = collect(s.all().unwrap()).into_iter().map(|(k, _)| k).collect();
    let mut expected: Vec<_> = keys.iter().map(|k| k.to_vec()).collect();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(s.get(b"").unwrap(), Some(b"v".to_vec()));
    let after_zero = collect(s.range(Bound::Excluded(b"\x00"), Bound::Unbounded).unwrap());
    assert_eq!(after_zero.len(), 3);
}
