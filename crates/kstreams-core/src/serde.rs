//! The [`Serde`] trait and the stock serdes.
//!
//! Numbers use big-endian encodings, byte-compatible with Kafka's Java serdes, so topics can be
//! shared with applications written with other clients.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::SerdeError;

/// Converts values of `T` to and from bytes.
///
/// Serdes are shared between tasks and threads, so they are `Send + Sync` and usually held as
/// `Arc<dyn Serde<T>>`.
pub trait Serde<T>: Send + Sync + 'static {
    /// Appends the encoding of `value` to `out`.
    fn serialize_into(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError>;

    /// Decodes a value.
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError>;

    /// Encodes `value` into a new buffer.
    fn serialize(&self, value: &T) -> Result<Vec<u8>, SerdeError> {
        // Room for a typical key or small value: encoders that write a few bytes at a time
        // would otherwise reallocate three or four times.
        let mut out = Vec::with_capacity(64);
        self.serialize_into(value, &mut out)?;
        Ok(out)
    }

    /// Encodes `value`, or `None` when it stands for Kafka's null (a null key, a tombstone).
    fn serialize_nullable(&self, value: &T) -> Result<Option<Vec<u8>>, SerdeError> {
        self.serialize(value).map(Some)
    }

    /// The value a null (absent key, tombstone) decodes to. Most serdes reject null.
    fn deserialize_null(&self) -> Result<T, SerdeError> {
        Err(SerdeError::new("unexpected null"))
    }

    /// Decodes optional bytes, treating `None` as Kafka's null.
    fn deserialize_nullable(&self, bytes: Option<&[u8]>) -> Result<T, SerdeError> {
        match bytes {
            Some(b) => self.deserialize(b),
            None => self.deserialize_null(),
        }
    }
}

impl<T, S: Serde<T> + ?Sized> Serde<T> for Arc<S> {
    fn serialize_into(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        (**self).serialize_into(value, out)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        (**self).deserialize(bytes)
    }
    fn serialize_nullable(&self, value: &T) -> Result<Option<Vec<u8>>, SerdeError> {
        (**self).serialize_nullable(value)
    }
    fn deserialize_null(&self) -> Result<T, SerdeError> {
        (**self).deserialize_null()
    }
}

/// UTF-8 strings.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize_into(&self, value: &String, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<String, SerdeError> {
        std::str::from_utf8(bytes).map(str::to_owned).map_err(SerdeError::new)
    }
}

/// Raw bytes, passed through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerde;

impl Serde<Vec<u8>> for BytesSerde {
    fn serialize_into(&self, value: &Vec<u8>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value);
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(bytes.to_vec())
    }
}

macro_rules! be_serde {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $len:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl Serde<$ty> for $name {
            fn serialize_into(&self, value: &$ty, out: &mut Vec<u8>) -> Result<(), SerdeError> {
                out.extend_from_slice(&value.to_be_bytes());
                Ok(())
            }
            fn deserialize(&self, bytes: &[u8]) -> Result<$ty, SerdeError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| {
                    SerdeError(format!(
                        "expected {} bytes for {}, got {}",
                        $len,
                        stringify!($ty),
                        bytes.len()
                    ))
                })?;
                Ok(<$ty>::from_be_bytes(arr))
            }
        }
    };
}

be_serde!(
    /// 32-bit signed integers, big-endian (Kafka's `IntegerSerde`).
    I32Serde, i32, 4
);
be_serde!(
    /// 32-bit unsigned integers, big-endian.
    U32Serde, u32, 4
);
be_serde!(
    /// 64-bit signed integers, big-endian (Kafka's `LongSerde`).
    I64Serde, i64, 8
);
be_serde!(
    /// 64-bit unsigned integers, big-endian.
    U64Serde, u64, 8
);
be_serde!(
    /// 64-bit floats, big-endian IEEE 754 (Kafka's `DoubleSerde`).
    F64Serde, f64, 8
);

/// The unit type: always encodes to null, and decodes anything (including null) to `()`.
///
/// Use it for the keys of topics whose producers send no key, like the seed's sensors.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitSerde;

impl Serde<()> for UnitSerde {
    fn serialize_into(&self, _value: &(), _out: &mut Vec<u8>) -> Result<(), SerdeError> {
        Ok(())
    }
    fn deserialize(&self, _bytes: &[u8]) -> Result<(), SerdeError> {
        Ok(())
    }
    fn serialize_nullable(&self, _value: &()) -> Result<Option<Vec<u8>>, SerdeError> {
        Ok(None)
    }
    fn deserialize_null(&self) -> Result<(), SerdeError> {
        Ok(())
    }
}

/// Makes any serde accept null: `None` stands for Kafka's null.
#[derive(Debug, Clone, Default)]
pub struct OptionSerde<S>(pub S);

impl<T, S: Serde<T>> Serde<Option<T>> for OptionSerde<S> {
    fn serialize_into(&self, value: &Option<T>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        match value {
            Some(v) => self.0.serialize_into(v, out),
            None => Ok(()),
        }
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Option<T>, SerdeError> {
        self.0.deserialize(bytes).map(Some)
    }
    fn serialize_nullable(&self, value: &Option<T>) -> Result<Option<Vec<u8>>, SerdeError> {
        match value {
            Some(v) => self.0.serialize(v).map(Some),
            None => Ok(None),
        }
    }
    fn deserialize_null(&self) -> Result<Option<T>, SerdeError> {
        Ok(None)
    }
}

/// JSON through `serde_json`, for any `Serialize + DeserializeOwned` type.
pub struct JsonSerde<T>(PhantomData<fn() -> T>);

impl<T> JsonSerde<T> {
    /// A JSON serde for `T`.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for JsonSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Serde<T> for JsonSerde<T> {
    fn serialize_into(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        serde_json::to_writer(out, value).map_err(SerdeError::new)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        serde_json::from_slice(bytes).map_err(SerdeError::new)
    }
}

/// Compact binary encoding through `bincode` (standard configuration), for any
/// `Serialize + DeserializeOwned` type. The default for state-store values.
pub struct BincodeSerde<T>(PhantomData<fn() -> T>);

impl<T> BincodeSerde<T> {
    /// A bincode serde for `T`.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for BincodeSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for BincodeSerde<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for BincodeSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BincodeSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Serde<T> for BincodeSerde<T> {
    fn serialize_into(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
            .map(|_| ())
            .map_err(SerdeError::new)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        let (value, read) =
            bincode::serde::decode_from_slice(bytes, bincode::config::standard()).map_err(SerdeError::new)?;
        if read != bytes.len() {
            return Err(SerdeError(format!("{} trailing bytes after bincode value", bytes.len() - read)));
        }
        Ok(value)
    }
}

/// A pair of serdes combined into a serde for tuples: `[u32 BE length of a][a][b]`.
#[derive(Debug, Clone, Default)]
pub struct PairSerde<A, B>(pub A, pub B);

impl<TA, TB, A: Serde<TA>, B: Serde<TB>> Serde<(TA, TB)> for PairSerde<A, B> {
    fn serialize_into(&self, value: &(TA, TB), out: &mut Vec<u8>) -> Result<(), SerdeError> {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        self.0.serialize_into(&value.0, out)?;
        let len = u32::try_from(out.len() - at - 4).map_err(SerdeError::new)?;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        self.1.serialize_into(&value.1, out)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<(TA, TB), SerdeError> {
        let (len, rest) = split_len(bytes)?;
        let (a, b) = rest.split_at(len);
        Ok((self.0.deserialize(a)?, self.1.deserialize(b)?))
    }
}

pub(crate) fn split_len(bytes: &[u8]) -> Result<(usize, &[u8]), SerdeError> {
    if bytes.len() < 4 {
        return Err(SerdeError::new("missing length prefix"));
    }
    let (len, rest) = bytes.split_at(4);
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > rest.len() {
        return Err(SerdeError(format!("length prefix {len} exceeds {} remaining bytes", rest.len())));
    }
    Ok((len, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: PartialEq + std::fmt::Debug + 'static>(serde: &dyn Serde<T>, value: T) {
        let bytes = serde.serialize(&value).unwrap();
        assert_eq!(serde.deserialize(&bytes).unwrap(), value);
    }

    #[test]
    fn numbers_are_big_endian_like_kafka() {
        assert_eq!(I32Serde.serialize(&1).unwrap(), vec![0, 0, 0, 1]);
        assert_eq!(I64Serde.serialize(&-1).unwrap(), vec![0xff; 8]);
        assert_eq!(F64Serde.serialize(&1.0).unwrap(), 1.0f64.to_be_bytes().to_vec());
        round_trip(&U64Serde, u64::MAX);
        round_trip(&F64Serde, -21.5);
        assert!(I32Serde.deserialize(&[1, 2]).is_err());
    }

    #[test]
    fn strings_reject_invalid_utf8_and_null() {
        round_trip(&StringSerde, "sensor-7".to_string());
        assert!(StringSerde.deserialize(&[0xff, 0xfe]).is_err());
        assert!(StringSerde.deserialize_nullable(None).is_err());
    }

    #[test]
    fn unit_and_option_handle_null() {
        assert_eq!(UnitSerde.serialize_nullable(&()).unwrap(), None);
        UnitSerde.deserialize_nullable(None).unwrap();
        let s = OptionSerde(StringSerde);
        assert_eq!(s.deserialize_nullable(None).unwrap(), None);
        assert_eq!(s.serialize_nullable(&None).unwrap(), None);
        assert_eq!(s.deserialize_nullable(Some(b"x")).unwrap(), Some("x".into()));
    }

    #[test]
    fn json_and_bincode_round_trip() {
        #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
        struct R {
            a: u32,
            b: String,
        }
        round_trip(&JsonSerde::new(), R { a: 1, b: "x".into() });
        round_trip(&BincodeSerde::new(), R { a: 2, b: "y".into() });
        assert!(JsonSerde::<R>::new().deserialize(b"{not json").is_err());
        let mut bytes = BincodeSerde::new().serialize(&R { a: 2, b: "y".into() }).unwrap();
        bytes.push(0);
        assert!(BincodeSerde::<R>::new().deserialize(&bytes).is_err());
    }

    #[test]
    fn pair_serde_keeps_the_boundary() {
        let s = PairSerde(StringSerde, StringSerde);
        round_trip(&s, ("ab".to_string(), "c".to_string()));
        round_trip(&s, ("a".to_string(), "bc".to_string()));
        assert!(s.deserialize(&[0, 0, 0, 9, 1]).is_err());
    }
}
