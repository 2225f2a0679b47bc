//! The session store key layout, also the changelog key of session stores.
//!
//! ```text
//! [u32 BE key length][key bytes][session end: u64 BE, sign bit flipped][session start: same]
//! ```
//!
//! Ordering by end first lets `find_sessions` seek straight to the first session of a key that
//! ends at or after `earliest_end`, and matches the segmenting (segments are chosen by end).

use crate::codec::{get_ts, key_prefix, put_len_prefixed, put_ts, split_len_prefixed, TS_LEN};

/// A decoded session key, borrowing the user key from the encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKey<'a> {
    /// The user key.
    pub key: &'a [u8],
    /// The session start, in milliseconds (inclusive).
    pub start: i64,
    /// The session end, in milliseconds (inclusive).
    pub end: i64,
}

/// Encodes a session `(key, start, end)`.
pub fn encode(key: &[u8], start: i64, end: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + key.len() + 2 * TS_LEN);
    put_len_prefixed(&mut out, key);
    put_ts(&mut out, end);
    put_ts(&mut out, start);
    out
}

/// Decodes [`encode`]; `None` if the bytes are not a session key.
///
/// ```
/// use kstreams_state::session_key;
/// let bytes = session_key::encode(b"user", 10, 20);
/// let s = session_key::decode(&bytes).unwrap();
/// assert_eq!((s.key, s.start, s.end), (&b"user"[..], 10, 20));
/// ```
pub fn decode(bytes: &[u8]) -> Option<SessionKey<'_>> {
    let (key, rest) = split_len_prefixed(bytes)?;
    if rest.len() != 2 * TS_LEN {
        return None;
    }
    let (end, start) = rest.split_at(TS_LEN);
    Some(SessionKey { key, start: get_ts(start)?, end: get_ts(end)? })
}

/// The prefix shared by every session of `key`: `[len][key]`.
pub fn prefix(key: &[u8]) -> Vec<u8> {
    key_prefix(key)
}

/// The smallest encoded session of `key` ending at `end` (any start).
pub(crate) fn lower_bound(key: &[u8], end: i64) -> Vec<u8> {
    let mut out = key_prefix(key);
    put_ts(&mut out, end);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let a = encode(b"k", -10, 5);
        let b = encode(b"k", -20, 6);
        assert!(a < b, "ordered by end first");
        assert_eq!(decode(&a), Some(SessionKey { key: b"k", start: -10, end: 5 }));
        assert_eq!(decode(&a[..a.len() - 1]), None);
    }
}
