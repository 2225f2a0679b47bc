//! Byte-range arithmetic shared by every store: normalising `Bound`s, prefix successors.

use std::ops::Bound;

/// The smallest byte string greater than every string starting with `prefix`, or `None` when
/// there is none (the prefix is empty or all `0xFF`).
///
/// ```
/// use kstreams_state::prefix_successor;
/// assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
/// assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
/// assert_eq!(prefix_successor(&[0xFF]), None);
/// ```
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A key range as `[lower, upper)`: inclusive lower bound, exclusive upper bound, either open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HalfOpen {
    pub lower: Option<Vec<u8>>,
    pub upper: Option<Vec<u8>>,
}

impl HalfOpen {
    /// Rewrites any `Bound` pair as `[lower, upper)`, or `None` if the range is empty.
    ///
    /// `Excluded(x)` as a lower bound becomes `x ++ [0]` (the next key after `x`), and
    /// `Included(y)` as an upper bound becomes `y ++ [0]`.
    pub fn from_bounds(from: Bound<&[u8]>, to: Bound<&[u8]>) -> Option<Self> {
        let lower = match from {
            Bound::Included(x) => Some(x.to_vec()),
            Bound::Excluded(x) => Some(next_key(x)),
            Bound::Unbounded => None,
        };
        let upper = match to {
            Bound::Included(y) => Some(next_key(y)),
            Bound::Excluded(y) => Some(y.to_vec()),
            Bound::Unbounded => None,
        };
        if let (Some(l), Some(u)) = (&lower, &upper) {
            if l >= u {
                return None;
            }
        }
        Some(Self { lower, upper })
    }

    /// The range as `Bound`s over owned keys, for `BTreeMap::range`.
    pub fn as_bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        let lower = match &self.lower {
            Some(l) => Bound::Included(l.as_slice()),
            None => Bound::Unbounded,
        };
        let upper = match &self.upper {
            Some(u) => Bound::Excluded(u.as_slice()),
            None => Bound::Unbounded,
        };
        (lower, upper)
    }
}

/// The immediate successor of `key` in byte order: `key ++ [0]`.
fn next_key(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_inverted_ranges_are_none() {
        let a: &[u8] = b"a";
        let b: &[u8] = b"b";
        assert!(HalfOpen::from_bounds(Bound::Included(b), Bound::Included(a)).is_none());
        assert!(HalfOpen::from_bounds(Bound::Included(a), Bound::Excluded(a)).is_none());
        assert!(HalfOpen::from_bounds(Bound::Excluded(a), Bound::Included(a)).is_none());
        assert!(HalfOpen::from_bounds(Bound::Included(a), Bound::Included(a)).is_some());
    }
}
