//! The window store key layout, also the changelog key of window stores.
//!
//! ```text
//! [u32 BE key length][key bytes][window start: u64 BE, sign bit flipped][seq: u32 BE]?
//! ```
//!
//! The length prefix keeps all windows of one key contiguous and apart from keys that it is a
//! prefix of (`"a"` vs `"ab"`); the flipped sign bit makes byte order equal numeric order for
//! negative starts too. The sequence number is present only in stores that retain duplicates,
//! so several values can share `(key, start)` in insertion order.

use crate::codec::{get_ts, key_prefix, put_len_prefixed, put_ts, split_len_prefixed, TS_LEN};

/// A decoded window key, borrowing the user key from the encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowKey<'a> {
    /// The user key.
    pub key: &'a [u8],
    /// The window start, in milliseconds.
    pub start: i64,
    /// The duplicate sequence number, for stores that retain duplicates.
    pub seq: Option<u32>,
}

/// Encodes `(key, start)` without a sequence number.
pub fn encode(key: &[u8], start: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + key.len() + TS_LEN);
    put_len_prefixed(&mut out, key);
    put_ts(&mut out, start);
    out
}

/// Encodes `(key, start, seq)` for stores that retain duplicates.
pub fn encode_with_seq(key: &[u8], start: i64, seq: u32) -> Vec<u8> {
    let mut out = encode(key, start);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// Decodes either form; `None` if the bytes are not a window key.
///
/// ```
/// use kstreams_state::window_key;
/// let bytes = window_key::encode_with_seq(b"k", -5, 7);
/// let decoded = window_key::decode(&bytes).unwrap();
/// assert_eq!((decoded.key, decoded.start, decoded.seq), (&b"k"[..], -5, Some(7)));
/// ```
pub fn decode(bytes: &[u8]) -> Option<WindowKey<'_>> {
    let (key, rest) = split_len_prefixed(bytes)?;
    let (ts, seq) = match rest.len() {
        TS_LEN => (rest, None),
        12 => {
            let (ts, seq) = rest.split_at(TS_LEN);
            (ts, Some(u32::from_be_bytes(seq.try_into().ok()?)))
        }
        _ => return None,
    };
    Some(WindowKey { key, start: get_ts(ts)?, seq })
}

/// The prefix shared by every window of `key`: `[len][key]`.
pub fn prefix(key: &[u8]) -> Vec<u8> {
    key_prefix(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_prefixes_stay_apart() {
        let a = encode(b"a", i64::MAX);
        let ab = encode(b"ab", i64::MIN);
        assert!(a < ab);
        assert!(!ab.starts_with(&prefix(b"a")));
    }

    #[test]
    fn round_trip() {
        for (k, t) in [(&b""[..], 0), (b"xy", -1), (b"\xff", i64::MIN)] {
            let e = encode(k, t);
            assert_eq!(decode(&e), Some(WindowKey { key: k, start: t, seq: None }));
        }
        assert_eq!(decode(b"\x00\x00\x00\x05ab"), None);
    }
}
