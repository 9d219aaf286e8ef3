//! The small subset of the Solidity ABI the Flare formats use: static words, `bytes`,
//! `address[]`, nested dynamic tuples, and `abi.encode` of one dynamic tuple (which starts with
//! the 0x20 offset word). A static nested tuple is its words in line.
//!
//! Why our own: the guest needs a few hundred lines of strict, allocation-bounded code, not a
//! general ABI library. The host tests check every encoding against alloy's `sol!` types.

use alloc::vec::Vec;

use crate::error::Error;
use crate::policy::Address;

/// One 32-byte ABI word.
pub type Word = [u8; 32];

/// A value in a tuple being encoded.
#[derive(Debug, Clone, Copy)]
pub enum Token<'a> {
    /// Any static 32-byte value (bytes32, uintN, address — already left-padded).
    Word(Word),
    /// `bytes`.
    Bytes(&'a [u8]),
    /// `address[]`.
    Addresses(&'a [Address]),
    /// A tuple with at least one dynamic member (encoded in the tail, an offset in the head).
    Tuple(&'a [Token<'a>]),
    /// A static tuple: its words in line in the head (`bytes` of a multiple of 32).
    Inline(&'a [u8]),
    /// `(bytes32 x, bytes32 y)[]`: public keys as `x ‖ y`.
    PublicKeys(&'a [[u8; 64]]),
}

/// Left-pads an unsigned integer to a word.
pub fn uint(v: u64) -> Word {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

/// Left-pads an address to a word.
pub fn address(a: &Address) -> Word {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a);
    w
}

fn padded_len(n: usize) -> usize {
    n.div_ceil(32) * 32
}

impl Token<'_> {
    fn head_len(&self) -> usize {
        match self {
            Token::Inline(words) => words.len(),
            _ => 32,
        }
    }

    fn tail_len(&self) -> usize {
        match self {
            Token::Word(_) | Token::Inline(_) => 0,
            Token::PublicKeys(k) => 32 + 64 * k.len(),
            Token::Bytes(b) => 32 + padded_len(b.len()),
            Token::Addresses(a) => 32 + 32 * a.len(),
            Token::Tuple(t) => tuple_len(t),
        }
    }
}

fn tuple_len(tokens: &[Token<'_>]) -> usize {
    tokens.iter().map(|t| t.head_len() + t.tail_len()).sum::<usize>()
}

/// Encodes `tokens` as a tuple: heads (words or offsets), then tails.
pub fn encode_tuple(tokens: &[Token<'_>]) -> Vec<u8> {
    let head_len = tokens.iter().map(Token::head_len).sum::<usize>();
    let total = tuple_len(tokens);
    let mut out = Vec::with_capacity(total);
    let mut offset = head_len;
    for t in tokens {
        match t {
            Token::Word(w) => out.extend_from_slice(w),
            Token::Inline(words) => {
                debug_assert_eq!(words.len() % 32, 0);
                out.extend_from_slice(words)
            }
            _ => {
                out.extend_from_slice(&uint(offset as u64));
                offset += t.tail_len();
            }
        }
    }
    for t in tokens {
        match t {
            Token::Word(_) | Token::Inline(_) => {}
            Token::PublicKeys(keys) => {
                out.extend_from_slice(&uint(keys.len() as u64));
                for k in *keys {
                    out.extend_from_slice(k);
                }
            }
            Token::Bytes(b) => {
                out.extend_from_slice(&uint(b.len() as u64));
                out.extend_from_slice(b);
                out.resize(out.len() + padded_len(b.len()) - b.len(), 0);
            }
            Token::Addresses(list) => {
                out.extend_from_slice(&uint(list.len() as u64));
                for a in *list {
                    out.extend_from_slice(&address(a));
                }
            }
            Token::Tuple(inner) => out.extend_from_slice(&encode_tuple(inner)),
        }
    }
    debug_assert_eq!(out.len(), total);
    out
}

/// `abi.encode(tuple)` for a tuple with at least one dynamic member: the 0x20 offset word, then
/// the tuple.
pub fn encode_dynamic_struct(tokens: &[Token<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&uint(32));
    out.extend_from_slice(&encode_tuple(tokens));
    out
}

/// A strict reader over ABI-encoded data: only canonical encodings decode (offsets where a
/// canonical encoder puts them, zero padding, no trailing bytes), so one value has one encoding
/// and one hash.
pub struct Reader<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Reads `data`, labelling errors with `what`.
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, what }
    }

    /// The word at byte offset `at`.
    pub fn word(&self, at: usize) -> Result<&'a Word, Error> {
        let end = at.checked_add(32).ok_or(Error::Malformed { what: self.what })?;
        self.data.get(at..end).map(|s| s.try_into().expect("32 bytes")).ok_or(Error::Truncated {
            what: self.what,
            need: end,
            got: self.data.len(),
        })
    }

    /// A word that must hold an unsigned integer of at most `bits` bits.
    pub fn uint(&self, at: usize, bits: u32) -> Result<u64, Error> {
        let w = self.word(at)?;
        let v = u64::from_be_bytes(w[24..].try_into().expect("8 bytes"));
        let high_zero = w[..24].iter().all(|&b| b == 0);
        if !high_zero || (bits < 64 && v >> bits != 0) {
            return Err(Error::Malformed { what: self.what });
        }
        Ok(v)
    }

    /// A word that must hold an address.
    pub fn address(&self, at: usize) -> Result<Address, Error> {
        let w = self.word(at)?;
        if w[..12].iter().any(|&b| b != 0) {
            return Err(Error::Malformed { what: self.what });
        }
        Ok(w[12..].try_into().expect("20 bytes"))
    }

    /// `bytes` whose offset word sits at `head` (relative to `base`); the data must start at
    /// `expected` (the canonical position) and be zero-padded. Returns the bytes and the end of
    /// their padded tail.
    pub fn bytes(&self, base: usize, head: usize, expected: usize, max: usize) -> Result<(&'a [u8], usize), Error> {
        let offset = self.uint(base + head, 32)? as usize;
        if base + offset != expected {
            return Err(Error::Malformed { what: self.what });
        }
        let len = self.uint(expected, 32)? as usize;
        if len > max {
            return Err(Error::TooLarge { what: self.what, len, max });
        }
        let start = expected + 32;
        let end = start + padded_len(len);
        let padded =
            self.data.get(start..end).ok_or(Error::Truncated { what: self.what, need: end, got: self.data.len() })?;
        if padded[len..].iter().any(|&b| b != 0) {
            return Err(Error::Malformed { what: self.what });
        }
        Ok((&padded[..len], end))
    }

    /// An offset word at `at` pointing into the data (relative to `base`): the absolute position.
    pub fn offset(&self, base: usize, at: usize) -> Result<usize, Error> {
        let pos = base.checked_add(self.uint(at, 32)? as usize).ok_or(Error::Malformed { what: self.what })?;
        if pos >= self.data.len() {
            return Err(Error::Truncated { what: self.what, need: pos + 32, got: self.data.len() });
        }
        Ok(pos)
    }

    /// The length-prefixed `bytes` (or `string`) starting at `at`, at most `max` long.
    pub fn bytes_at(&self, at: usize, max: usize) -> Result<&'a [u8], Error> {
        let len = self.uint(at, 32)? as usize;
        if len > max {
            return Err(Error::TooLarge { what: self.what, len, max });
        }
        let start = at + 32;
        self.data.get(start..start + len).ok_or(Error::Truncated {
            what: self.what,
            need: start + len,
            got: self.data.len(),
        })
    }

    /// The length-prefixed `address[]` starting at `at`, at most `max` elements.
    pub fn addresses_at(&self, at: usize, max: usize) -> Result<Vec<Address>, Error> {
        let count = self.uint(at, 32)? as usize;
        if count > max {
            return Err(Error::TooMany { what: self.what, count, max });
        }
        (0..count).map(|i| self.address(at + 32 + 32 * i)).collect()
    }

    /// The length-prefixed `(bytes32, bytes32)[]` starting at `at`, at most `max` elements.
    pub fn public_keys_at(&self, at: usize, max: usize) -> Result<Vec<[u8; 64]>, Error> {
        let count = self.uint(at, 32)? as usize;
        if count > max {
            return Err(Error::TooMany { what: self.what, count, max });
        }
        (0..count)
            .map(|i| {
                let mut k = [0u8; 64];
                k[..32].copy_from_slice(self.word(at + 32 + 64 * i)?);
                k[32..].copy_from_slice(self.word(at + 64 + 64 * i)?);
                Ok(k)
            })
            .collect()
    }

    /// The data read, for a decoder that checks canonical form by encoding its result again and
    /// comparing.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Fails unless `reencoded` is exactly the data read: the one canonical encoding of what was
    /// decoded (offsets, padding, no trailing bytes).
    pub fn canonical(&self, reencoded: &[u8]) -> Result<(), Error> {
        if reencoded != self.data {
            return Err(Error::Malformed { what: self.what });
        }
        Ok(())
    }

    /// Fails unless the data ends exactly at `end`.
    pub fn finish(&self, end: usize) -> Result<(), Error> {
        match self.data.len().checked_sub(end) {
            Some(0) => Ok(()),
            Some(extra) => Err(Error::TrailingBytes { what: self.what, extra }),
            None => Err(Error::Truncated { what: self.what, need: end, got: self.data.len() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_with_bytes_and_addresses() {
        let a = [[0x11u8; 20], [0x22u8; 20]];
        let enc = encode_dynamic_struct(&[Token::Word(uint(7)), Token::Bytes(&[1, 2, 3]), Token::Addresses(&a)]);
        // 0x20 | 7 | off(bytes)=0x60 | off(addrs)=0xa0 | len 3 | data | len 2 | a0 | a1
        assert_eq!(enc.len(), 32 * 9);
        assert_eq!(enc[31], 0x20);
        assert_eq!(enc[63], 7);
        assert_eq!(enc[95], 0x60);
        assert_eq!(enc[127], 0xa0);
        assert_eq!(enc[159], 3);
        assert_eq!(&enc[160..163], &[1, 2, 3]);
        assert!(enc[163..192].iter().all(|&b| b == 0));
        assert_eq!(enc[223], 2);
        assert_eq!(&enc[236..256], &a[0]);
    }

    #[test]
    fn reader_is_strict() {
        let enc = encode_tuple(&[Token::Word(uint(300)), Token::Bytes(&[9; 33])]);
        let r = Reader::new(&enc, "t");
        assert_eq!(r.uint(0, 16).unwrap(), 300);
        assert!(r.uint(0, 8).is_err());
        let (b, end) = r.bytes(0, 32, 64, 100).unwrap();
        assert_eq!(b, &[9; 33]);
        r.finish(end).unwrap();
        assert!(r.bytes(0, 32, 96, 100).is_err(), "non-canonical offset");
        assert!(matches!(r.bytes(0, 32, 64, 10), Err(Error::TooLarge { .. })));
        let mut dirty = enc.clone();
        *dirty.last_mut().unwrap() = 1;
        assert!(Reader::new(&dirty, "t").bytes(0, 32, 64, 100).is_err(), "non-zero padding");
        assert!(Reader::new(&enc[..100], "t").bytes(0, 32, 64, 100).is_err());
    }
}
