//! Go `encoding/json`, as far as Flare's wallet formats need it. Several of Flare's signatures
//! are over keccak of `json.Marshal` of a struct that the verifier re-marshals from what it
//! parsed, so our output must be Go's, byte for byte: fields in declaration order with embedded
//! structs flattened in place, no whitespace, `common.Hash`/`Address`/`hexutil.Bytes` as
//! lower-case `"0x…"`, plain `[]byte` as padded standard base64, integers in decimal, an empty
//! non-nil slice as `[]` and a nil one as `null`.
//!
//! Parsing is serde_json with exact key names (Go also matches keys case-insensitively; Flare's
//! producers never rely on that) and Go's value rules (hex needs its `0x`, fixed-size hex its
//! exact length, base64 its padding).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::{self, Deserializer};

/// Appends `"0x…"` (lower-case hex).
pub fn hex(out: &mut String, bytes: &[u8]) {
    out.push_str("\"0x");
    hex_digits(out, bytes, false);
    out.push('"');
}

/// Appends the hex digits of `bytes`, upper- or lower-case, unquoted.
pub fn hex_digits(out: &mut String, bytes: &[u8], upper: bool) {
    for b in bytes {
        let _ = if upper { write!(out, "{b:02X}") } else { write!(out, "{b:02x}") };
    }
}

/// Appends `"<base64>"`.
pub fn base64(out: &mut String, bytes: &[u8]) {
    out.push('"');
    STANDARD.encode_string(bytes, out);
    out.push('"');
}

/// Appends a decimal number.
pub fn uint(out: &mut String, v: u64) {
    let _ = write!(out, "{v}");
}

/// Appends `{"x":"0x…","y":"0x…"}` (`types.PublicKey`).
pub fn public_key(out: &mut String, xy: &[u8; 64]) {
    out.push_str("{\"x\":");
    hex(out, &xy[..32]);
    out.push_str(",\"y\":");
    hex(out, &xy[32..]);
    out.push('}');
}

/// Appends `[item, item, …]` (`[]` when empty: every list we write is a non-nil slice).
pub fn array<T>(out: &mut String, items: &[T], mut item: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item(out, x);
    }
    out.push(']');
}

/// Appends `,"name":` (or without the comma for the first field).
pub fn key(out: &mut String, name: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
}

fn decode_hex(s: &str) -> Result<Vec<u8>, &'static str> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).ok_or("hex string without 0x prefix")?;
    if digits.len() % 2 != 0 {
        return Err("hex string of odd length");
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err("invalid hex digit"),
    };
    digits.as_bytes().chunks(2).map(|p| Ok((nibble(p[0])? << 4) | nibble(p[1])?)).collect()
}

/// `hexutil.Bytes`: `"0x…"`, any length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HexBytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: &str = Deserialize::deserialize(d)?;
        decode_hex(s).map(HexBytes).map_err(de::Error::custom)
    }
}

/// `common.Hash` (N = 32) or `common.Address` (N = 20): `"0x…"`, exactly N bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hex<const N: usize>(pub [u8; N]);

impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: &str = Deserialize::deserialize(d)?;
        let bytes = decode_hex(s).map_err(de::Error::custom)?;
        bytes.try_into().map(Hex).map_err(|_| de::Error::custom("hex string of the wrong length"))
    }
}

/// Plain `[]byte`: padded standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Base64(pub Vec<u8>);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: &str = Deserialize::deserialize(d)?;
        STANDARD.decode(s).map(Base64).map_err(|_| de::Error::custom("invalid base64"))
    }
}

/// `types.PublicKey` as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PublicKeyJson {
    /// x.
    pub x: Hex<32>,
    /// y.
    pub y: Hex<32>,
}

impl PublicKeyJson {
    /// `x ‖ y`.
    pub fn xy(&self) -> [u8; 64] {
        let mut k = [0u8; 64];
        k[..32].copy_from_slice(&self.x.0);
        k[32..].copy_from_slice(&self.y.0);
        k
    }
}

/// Parses `bytes` as one `T`, naming `what` on failure.
pub fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &'static str) -> Result<T, crate::error::Error> {
    serde_json::from_slice(bytes).map_err(|_| crate::error::Error::Malformed { what })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_as_go_does() {
        let mut s = String::from("{");
        key(&mut s, "a");
        hex(&mut s, &[0xab, 0x01]);
        key(&mut s, "b");
        base64(&mut s, b"hi!?");
        key(&mut s, "c");
        array(&mut s, &[1u64, 2], |o, v| uint(o, *v));
        key(&mut s, "d");
        array::<u64>(&mut s, &[], |o, v| uint(o, *v));
        s.push('}');
        assert_eq!(s, r#"{"a":"0xab01","b":"aGkhPw==","c":[1,2],"d":[]}"#);
    }

    #[test]
    fn parses_go_values_strictly() {
        assert_eq!(parse::<HexBytes>(br#""0xAb01""#, "t").unwrap().0, [0xab, 1]);
        assert_eq!(parse::<HexBytes>(br#""0x""#, "t").unwrap().0, [0u8; 0]);
        assert!(parse::<HexBytes>(br#""ab01""#, "t").is_err(), "no prefix");
        assert!(parse::<HexBytes>(br#""0xabc""#, "t").is_err(), "odd");
        assert!(parse::<HexBytes>(br#""0xzz""#, "t").is_err());
        assert!(parse::<Hex<2>>(br#""0xab""#, "t").is_err(), "short");
        assert_eq!(parse::<Hex<2>>(br#""0xab01""#, "t").unwrap().0, [0xab, 1]);
        assert_eq!(parse::<Base64>(br#""aGkhPw==""#, "t").unwrap().0, b"hi!?");
        assert!(parse::<Base64>(br#""aGkhPw""#, "t").is_err(), "unpadded");
    }
}
