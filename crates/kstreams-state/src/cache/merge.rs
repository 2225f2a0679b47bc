//! Merging cached entries over an inner store's sorted output: the cache wins on equal keys and
//! cached deletes hide the inner entry.

use std::cmp::Ordering;
use std::iter::Peekable;

use super::lru::Cached;
use crate::StoreError;

/// Merges `cache` (sorted, possibly holding deletes) with `inner` (sorted), both by `K`.
pub(crate) struct MergeIter<K, I: Iterator> {
    cache: Peekable<std::vec::IntoIter<(K, Cached)>>,
    inner: Peekable<I>,
}

impl<K, I> MergeIter<K, I>
where
    K: Ord,
    I: Iterator<Item = Result<(K, Vec<u8>), StoreError>>,
{
    pub fn new(cache: Vec<(K, Cached)>, inner: I) -> Self {
        Self { cache: cache.into_iter().peekable(), inner: inner.peekable() }
    }
}

impl<K, I> Iterator for MergeIter<K, I>
where
    K: Ord,
    I: Iterator<Item = Result<(K, Vec<u8>), StoreError>>,
{
    type Item = Result<(K, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.cache.peek(), self.inner.peek()) {
                (None, None) => return None,
                (None, Some(_)) | (Some(_), Some(Err(_))) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some((ck, _)), Some(Ok((ik, _)))) => ck.cmp(ik),
            };
            if order == Ordering::Greater {
                return self.inner.next();
            }
            if order == Ordering::Equal {
                self.inner.next();
            }
            if let Some((key, Some(value))) = self.cache.next() {
                return Some(Ok((key, value)));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cache_wins_and_tombstones_hide() {
        let cache = vec![(1, Some(b"c1".to_vec())), (2, None), (5, Some(b"c5".to_vec()))];
        let inner = vec![(1, b"i1".to_vec()), (2, b"i2".to_vec()), (3, b"i3".to_vec())];
        let merged: Vec<_> =
            MergeIter::new(cache, inner.into_iter().map(Ok)).collect::<Result<_, StoreError>>().unwrap();
        assert_eq!(merged, vec![(1, b"c1".to_vec()), (3, b"i3".to_vec()), (5, b"c5".to_vec())]);
    }
}
