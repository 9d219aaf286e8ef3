//! Reading inputs and parsing the JSON and hex shapes operators paste from Flare tooling.
//!
//! Every error names the field it is about (`data.cosigners[2]: ...`), so a bad input file can
//! be fixed without reading this code.

use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use fcc_core::hash::keccak256;
use fcc_core::policy::{Address, SigningPolicy, Voter};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Reads the whole input: a file path, or `-` for standard input.
pub fn read_input(path: &str) -> Result<String> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading standard input")?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
    }
}

/// Parses JSON text, saying where it is broken.
pub fn parse_json(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| anyhow!("{what}: invalid JSON: {e}"))
}

/// Hex bytes: `0x` prefix optional, whitespace (line breaks included) ignored.
pub fn parse_hex(text: &str, what: &str) -> Result<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let digits = compact.strip_prefix("0x").or_else(|| compact.strip_prefix("0X")).unwrap_or(&compact);
    if !digits.len().is_multiple_of(2) {
        bail!("{what}: odd number of hex digits ({})", digits.len());
    }
    hex::decode(digits).map_err(|e| anyhow!("{what}: not hex: {e}"))
}

/// Hex of exactly `N` bytes.
pub fn parse_fixed<const N: usize>(text: &str, what: &str) -> Result<[u8; N]> {
    let bytes = parse_hex(text, what)?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| anyhow!("{what}: expected {N} bytes, got {len}"))
}

/// `0x`-prefixed lower-case hex.
pub fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// An address with the EIP-55 mixed-case checksum, as block explorers print it.
pub fn checksum_address(a: &Address) -> String {
    let lower = hex::encode(a);
    let h = keccak256(lower.as_bytes());
    let mut out = String::from("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (h[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0xf;
        out.push(if c.is_ascii_alphabetic() && nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An unsigned integer from a JSON number, a decimal string or a `0x` hex string.
pub fn value_uint(v: &Value, what: &str, max: u64) -> Result<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| anyhow!("{what}: expected an unsigned integer, got {n}"))?,
        Value::String(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse::<u64>(),
            };
            parsed.map_err(|e| anyhow!("{what}: {s:?} is not an unsigned integer: {e}"))?
        }
        other => bail!("{what}: expected an unsigned integer, found {}", kind(other)),
    };
    if n > max {
        bail!("{what}: {n} is larger than {max}");
    }
    Ok(n)
}

/// A bytes32 operation name: `0x` + 64 hex digits, or a plain ASCII name (right-padded).
pub fn op_name(text: &str, what: &str) -> Result<[u8; 32]> {
    if text.starts_with("0x") || text.starts_with("0X") {
        return parse_fixed::<32>(text, what);
    }
    if text.len() > 32 {
        bail!("{what}: name {text:?} is longer than 32 bytes");
    }
    if !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        bail!("{what}: name {text:?} is not printable ASCII (use 0x-hex for raw bytes32)");
    }
    let mut out = [0u8; 32];
    out[..text.len()].copy_from_slice(text.as_bytes());
    Ok(out)
}

/// `v` as one of Flare's formats (`fcc-flare-json`), every error naming its field
/// (`data.cosigners[0]: …`). `path` is where `v` sits in the input.
pub fn flare_json<T: DeserializeOwned>(v: Value, path: &str) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let mut at: Vec<String> =
            [path.to_string(), e.path().to_string()].into_iter().filter(|p| !p.is_empty() && p != ".").collect();
        let message = e.into_inner().to_string();
        // serde names a missing field in its message, at the object's path: name it in the path.
        let message = match message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            Some(field) => {
                at.push(field.to_string());
                "missing".to_string()
            }
            None => message,
        };
        let at = if at.is_empty() { "input".to_string() } else { at.join(".") };
        anyhow!("{at}: {message}")
    })
}

/// Rewrites the operator's shorthands in the object `v` (called `path`) into Flare's JSON: an
/// operation name (`"F_FDC2"`) at each of `op_fields` becomes its `0x` bytes32, and a decimal or
/// `0x` string at each of `uint_fields` (name, maximum) becomes a number.
pub fn normalise(v: &mut Value, path: &str, op_fields: &[&str], uint_fields: &[(&str, u64)]) -> Result<()> {
    let o = Obj::new(v, path)?;
    let mut fixes: Vec<(&str, Value)> = Vec::new();
    for &key in op_fields {
        if o.has(key) {
            fixes.push((key, Value::String(hex0x(&o.op_name(key)?))));
        }
    }
    for &(key, max) in uint_fields {
        if o.has(key) {
            fixes.push((key, Value::from(o.uint(key, max)?)));
        }
    }
    let map = v.as_object_mut().expect("checked to be an object");
    for (key, value) in fixes {
        map.insert(key.to_string(), value);
    }
    Ok(())
}

/// A JSON object being read field by field, with the path of the object for error messages.
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    /// Views `v` as an object called `path`.
    pub fn new(v: &'a Value, path: &str) -> Result<Self> {
        match v {
            Value::Object(map) => Ok(Self { map, path: path.to_string() }),
            other => {
                bail!("{}: expected a JSON object, found {}", if path.is_empty() { "input" } else { path }, kind(other))
            }
        }
    }

    /// The full name of field `key`.
    pub fn name(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) }
    }

    /// Fails on a field not in `known` (a typo would otherwise silently default).
    pub fn only(&self, known: &[&str]) -> Result<()> {
        for k in self.map.keys() {
            if !known.contains(&k.as_str()) {
                bail!("{}: unknown field (expected one of: {})", self.name(k), known.join(", "));
            }
        }
        Ok(())
    }

    /// Whether field `key` is present and not null.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Field `key`, if present and not null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Field `key`, which must be present.
    pub fn req(&self, key: &str) -> Result<&'a Value> {
        self.get(key).ok_or_else(|| anyhow!("{}: missing", self.name(key)))
    }

    /// A string field.
    pub fn str(&self, key: &str) -> Result<&'a str> {
        let v = self.req(key)?;
        v.as_str().ok_or_else(|| anyhow!("{}: expected a string, found {}", self.name(key), kind(v)))
    }

    /// A nested object.
    pub fn obj(&self, key: &str) -> Result<Obj<'a>> {
        Obj::new(self.req(key)?, &self.name(key))
    }

    /// A hex bytes field.
    pub fn bytes(&self, key: &str) -> Result<Vec<u8>> {
        parse_hex(self.str(key)?, &self.name(key))
    }

    /// A hex bytes field that defaults to empty.
    pub fn bytes_or_empty(&self, key: &str) -> Result<Vec<u8>> {
        if self.has(key) { self.bytes(key) } else { Ok(Vec::new()) }
    }

    /// A hex field of exactly `N` bytes.
    pub fn fixed<const N: usize>(&self, key: &str) -> Result<[u8; N]> {
        parse_fixed::<N>(self.str(key)?, &self.name(key))
    }

    /// An unsigned integer field of at most `max`.
    pub fn uint(&self, key: &str, max: u64) -> Result<u64> {
        value_uint(self.req(key)?, &self.name(key), max)
    }

    /// An operation name field (`0x` bytes32 or ASCII name).
    pub fn op_name(&self, key: &str) -> Result<[u8; 32]> {
        op_name(self.str(key)?, &self.name(key))
    }

    /// An array field; missing or null is empty.
    pub fn array_or_empty(&self, key: &str) -> Result<&'a [Value]> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(other) => bail!("{}: expected an array, found {}", self.name(key), kind(other)),
        }
    }
}

/// A signing policy from hex bytes, a JSON string of hex, or a JSON object shaped like the output
/// of `fcc policy decode`. The policy is fully validated.
pub fn parse_policy(text: &str, what: &str) -> Result<SigningPolicy> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let v = parse_json(trimmed, what)?;
        return policy_from_json(&v, what);
    }
    let hex_text = if trimmed.starts_with('"') {
        let v = parse_json(trimmed, what)?;
        v.as_str().map(str::to_string).ok_or_else(|| anyhow!("{what}: expected a hex string"))?
    } else {
        trimmed.to_string()
    };
    let bytes = parse_hex(&hex_text, what)?;
    SigningPolicy::decode(&bytes).map_err(|e| anyhow!("{what}: invalid signing policy: {e}"))
}

fn policy_from_json(v: &Value, what: &str) -> Result<SigningPolicy> {
    let o = Obj::new(v, "")?;
    o.only(&[
        "rewardEpochId",
        "startVotingRoundId",
        "threshold",
        "seed",
        "voters",
        "totalWeight",
        "hashLegacy",
        "chainId",
        "hashChainBound",
    ])
    .with_context(|| what.to_string())?;
    let ctx = || what.to_string();
    let epoch = o.uint("rewardEpochId", (1 << 24) - 1).with_context(ctx)? as u32;
    let round = o.uint("startVotingRoundId", u64::from(u32::MAX)).with_context(ctx)? as u32;
    let threshold = o.uint("threshold", u64::from(u16::MAX)).with_context(ctx)? as u16;
    let seed = o.fixed::<32>("seed").with_context(ctx)?;
    let mut voters = Vec::new();
    for (i, v) in o.array_or_empty("voters").with_context(ctx)?.iter().enumerate() {
        let vo = Obj::new(v, &format!("voters[{i}]")).with_context(ctx)?;
        vo.only(&["address", "weight"]).with_context(ctx)?;
        voters.push(Voter {
            address: vo.fixed::<20>("address").with_context(ctx)?,
            weight: vo.uint("weight", u64::from(u16::MAX)).with_context(ctx)? as u16,
        });
    }
    let policy = SigningPolicy::new(epoch, round, threshold, seed, voters)
        .map_err(|e| anyhow!("{what}: invalid signing policy: {e}"))?;
    // Derived fields, if present (e.g. the output of `fcc policy decode`), must agree.
    if o.has("totalWeight") {
        let t = o.uint("totalWeight", u64::MAX).with_context(ctx)?;
        if t != u64::from(policy.total_weight()) {
            bail!("{what}: totalWeight {t} does not match the voters' weights ({})", policy.total_weight());
        }
    }
    if o.has("hashLegacy") {
        let h = o.fixed::<32>("hashLegacy").with_context(ctx)?;
        if h != policy.hash(fcc_core::policy::PolicyHashScheme::Legacy) {
            bail!("{what}: hashLegacy does not match the policy's fields");
        }
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        assert_eq!(parse_hex(" 0x01 02\nff ", "x").unwrap(), vec![1, 2, 0xff]);
        assert_eq!(parse_hex("", "x").unwrap(), Vec::<u8>::new());
        assert!(parse_hex("0x123", "x").unwrap_err().to_string().contains("odd"));
        assert!(parse_hex("zz", "field").unwrap_err().to_string().starts_with("field"));
        assert!(parse_fixed::<2>("0x010203", "f").is_err());
    }

    #[test]
    fn eip55_known_answer() {
        // From the EIP-55 specification's examples.
        let a = parse_fixed::<20>("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "a").unwrap();
        assert_eq!(checksum_address(&a), "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
    }

    #[test]
    fn uints_and_names() {
        assert_eq!(value_uint(&Value::from(7u64), "n", 10).unwrap(), 7);
        assert_eq!(value_uint(&Value::from("0x10"), "n", 100).unwrap(), 16);
        assert_eq!(value_uint(&Value::from("12"), "n", 100).unwrap(), 12);
        assert!(value_uint(&Value::from(-1), "n", 100).is_err());
        assert!(value_uint(&Value::from(101u64), "n", 100).is_err());
        let n = op_name("F_FDC2", "t").unwrap();
        assert_eq!(&n[..6], b"F_FDC2");
        assert!(n[6..].iter().all(|&b| b == 0));
        assert_eq!(op_name(&hex0x(&n), "t").unwrap(), n);
        assert!(op_name("0x1234", "t").is_err());
    }
}
