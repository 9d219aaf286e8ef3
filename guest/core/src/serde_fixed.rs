//! Serde for fixed-size byte arrays longer than 32 (signatures, public keys): written as a byte
//! string, read back only at exactly the right length.

use core::fmt;
use serde::de::{Error as _, Visitor};
use serde::{Deserializer, Serializer};

/// Serializes `[u8; N]` as bytes.
pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(v)
}

/// Deserializes `[u8; N]` from bytes of length exactly `N`.
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    struct V<const N: usize>;
    impl<const N: usize> Visitor<'_> for V<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
        }
    }
    d.deserialize_bytes(V::<N>).map_err(|e: D::Error| D::Error::custom(e))
}

/// The same for `Option<[u8; N]>`.
pub mod option {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct Wrap<const N: usize>(#[serde(with = "super")] [u8; N]);

    /// Serializes `Option<[u8; N]>`.
    pub fn serialize<S: Serializer, const N: usize>(v: &Option<[u8; N]>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Wrap).serialize(s)
    }

    /// Deserializes `Option<[u8; N]>`.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<Option<[u8; N]>, D::Error> {
        Ok(Option::<Wrap<N>>::deserialize(d)?.map(|w| w.0))
    }
}

/// The same for `Vec<[u8; N]>`.
pub mod vec {
    use alloc::vec::Vec;

    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct Wrap<const N: usize>(#[serde(with = "super")] [u8; N]);

    /// Serializes `Vec<[u8; N]>`.
    pub fn serialize<S: Serializer, const N: usize>(v: &[[u8; N]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| Wrap(*x)))
    }

    /// Deserializes `Vec<[u8; N]>`.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<Vec<[u8; N]>, D::Error> {
        Ok(Vec::<Wrap<N>>::deserialize(d)?.into_iter().map(|w| w.0).collect())
    }
}
