//! Byte encodings shared by the window and session key layouts.

/// Bytes of an encoded timestamp.
pub(crate) const TS_LEN: usize = 8;
/// Bytes of the key-length prefix.
pub(crate) const LEN_LEN: usize = 4;

/// Encodes a timestamp so that byte order equals numeric order, negatives included:
/// big-endian with the sign bit flipped.
pub(crate) fn put_ts(out: &mut Vec<u8>, ts: i64) {
    out.extend_from_slice(&((ts as u64) ^ (1 << 63)).to_be_bytes());
}

/// Decodes [`put_ts`]; `bytes` must be exactly [`TS_LEN`] long.
pub(crate) fn get_ts(bytes: &[u8]) -> Option<i64> {
    let raw: [u8; TS_LEN] = bytes.try_into().ok()?;
    Some((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

/// Writes `[u32 BE len][key]`, the prefix that keeps keys that are prefixes of each other apart.
///
/// Keys longer than `u32::MAX` bytes are rejected by the stores before they get here.
pub(crate) fn put_len_prefixed(out: &mut Vec<u8>, key: &[u8]) {
    let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(key);
}

/// Splits `[u32 BE len][key][rest]` into `(key, rest)`.
pub(crate) fn split_len_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<LEN_LEN>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

/// The per-key prefix `[u32 BE len][key]` of window and session keys.
pub(crate) fn key_prefix(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LEN_LEN + key.len());
    put_len_prefixed(&mut out, key);
    out
}

/// Whether `key` can be length-prefixed.
pub(crate) fn key_len_ok(key: &[u8]) -> bool {
    u32::try_from(key.len()).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_order_is_byte_order() {
        let ts = [i64::MIN, -1_000, -1, 0, 1, 1_000, i64::MAX];
        let encoded: Vec<Vec<u8>> = ts
            .iter()
            .map(|t| {
                let mut v = Vec::new();
                put_ts(&mut v, *t);
                v
            })
            .collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]));
        for (t, e) in ts.iter().zip(&encoded) {
            assert_eq!(get_ts(e), Some(*t));
        }
    }
}
