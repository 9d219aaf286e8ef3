//! Bitcoin for protocol-managed wallets (`F_BTC`; Flare defines no processor yet): the k-of-n
//! P2WSH multisig script (BIP67: keys sorted), the BIP143 signature hash of a version 0 witness
//! input (`SIGHASH_ALL`, which commits to the amount of the input it signs), and the
//! serialization of a transaction with and without its witnesses (BIP144); `payment` the
//! payment message and what it asks a wallet's keys to sign. The formats are checked against
//! BIP143's own examples and Bitcoin Core's script interpreter (libbitcoinconsensus) in the
//! tests.

use alloc::vec::Vec;

use k256::sha2::{Digest, Sha256};

use crate::error::Error;
use crate::hash::H256;

pub mod payment;

/// `SIGHASH_ALL`: the only signature hash type signed.
pub const SIGHASH_ALL: u32 = 1;
/// Most keys of one multisig script (`OP_1` … `OP_16` encode the counts).
pub const MAX_MULTISIG_KEYS: usize = 16;
/// Most inputs or outputs of one transaction signed here.
pub const MAX_IO: usize = 256;

const OP_0: u8 = 0x00;
const OP_1: u8 = 0x51;
const OP_CHECKMULTISIG: u8 = 0xae;

/// Bitcoin's double SHA-256.
pub fn sha256d(data: &[u8]) -> H256 {
    Sha256::digest(Sha256::digest(data)).into()
}

/// Bitcoin's CompactSize length prefix.
fn compact_size(out: &mut Vec<u8>, n: usize) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
    }
}

fn script(out: &mut Vec<u8>, s: &[u8]) {
    compact_size(out, s.len());
    out.extend_from_slice(s);
}

/// `OP_k <key>… OP_n OP_CHECKMULTISIG` with the keys in the order given.
pub fn multisig_script(threshold: usize, keys: &[[u8; 33]]) -> Result<Vec<u8>, Error> {
    if keys.is_empty() || keys.len() > MAX_MULTISIG_KEYS {
        return Err(Error::TooMany { what: "multisig keys", count: keys.len(), max: MAX_MULTISIG_KEYS });
    }
    if threshold == 0 || threshold > keys.len() {
        return Err(Error::OperationFailed { reason: "multisig threshold outside 1..=n" });
    }
    let mut s = Vec::with_capacity(3 + 34 * keys.len());
    s.push(OP_1 + threshold as u8 - 1);
    for k in keys {
        if k[0] != 0x02 && k[0] != 0x03 {
            return Err(Error::Malformed { what: "compressed public key" });
        }
        s.push(33);
        s.extend_from_slice(k);
    }
    s.push(OP_1 + keys.len() as u8 - 1);
    s.push(OP_CHECKMULTISIG);
    Ok(s)
}

/// The BIP67 witness script of a k-of-n wallet: the keys sorted (lexicographically), no key twice.
pub fn sorted_multisig_script(threshold: usize, keys: &[[u8; 33]]) -> Result<Vec<u8>, Error> {
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::OperationFailed { reason: "a multisig key listed twice" });
    }
    multisig_script(threshold, &sorted)
}

/// The P2WSH output script of `witness_script`: `OP_0 <SHA-256(witness script)>`.
pub fn p2wsh_script_pubkey(witness_script: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(34);
    s.push(OP_0);
    s.push(32);
    s.extend_from_slice(&Sha256::digest(witness_script));
    s
}

/// A transaction input, with the amount it spends (BIP143 signs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The spent transaction's id, in serialization (little-endian) order.
    pub txid: H256,
    /// The spent output's index.
    pub vout: u32,
    /// The scriptSig (empty for a native witness input).
    pub script_sig: Vec<u8>,
    /// nSequence.
    pub sequence: u32,
    /// The spent output's value in satoshis.
    pub amount: u64,
}

/// A transaction output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Satoshis.
    pub value: u64,
    /// Its scriptPubKey.
    pub script_pubkey: Vec<u8>,
}

/// A transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// nVersion.
    pub version: u32,
    /// Inputs.
    pub inputs: Vec<Input>,
    /// Outputs.
    pub outputs: Vec<Output>,
    /// nLockTime.
    pub lock_time: u32,
}

impl Transaction {
    fn check(&self) -> Result<(), Error> {
        for (what, n) in [("transaction inputs", self.inputs.len()), ("transaction outputs", self.outputs.len())] {
            if n == 0 || n > MAX_IO {
                return Err(Error::TooMany { what, count: n, max: MAX_IO });
            }
        }
        Ok(())
    }

    /// The BIP143 `SIGHASH_ALL` hash of input `index` spent with `script_code` (for P2WSH: the
    /// witness script).
    pub fn sighash_all(&self, index: usize, script_code: &[u8]) -> Result<H256, Error> {
        self.check()?;
        let input = self.inputs.get(index).ok_or(Error::Malformed { what: "input index" })?;
        let mut prevouts = Vec::with_capacity(36 * self.inputs.len());
        let mut sequences = Vec::with_capacity(4 * self.inputs.len());
        for i in &self.inputs {
            prevouts.extend_from_slice(&i.txid);
            prevouts.extend_from_slice(&i.vout.to_le_bytes());
            sequences.extend_from_slice(&i.sequence.to_le_bytes());
        }
        let mut outputs = Vec::new();
        for o in &self.outputs {
            outputs.extend_from_slice(&o.value.to_le_bytes());
            script(&mut outputs, &o.script_pubkey);
        }
        let mut pre = Vec::with_capacity(160 + script_code.len());
        pre.extend_from_slice(&self.version.to_le_bytes());
        pre.extend_from_slice(&sha256d(&prevouts));
        pre.extend_from_slice(&sha256d(&sequences));
        pre.extend_from_slice(&input.txid);
        pre.extend_from_slice(&input.vout.to_le_bytes());
        script(&mut pre, script_code);
        pre.extend_from_slice(&input.amount.to_le_bytes());
        pre.extend_from_slice(&input.sequence.to_le_bytes());
        pre.extend_from_slice(&sha256d(&outputs));
        pre.extend_from_slice(&self.lock_time.to_le_bytes());
        pre.extend_from_slice(&SIGHASH_ALL.to_le_bytes());
        Ok(sha256d(&pre))
    }

    /// The transaction without witnesses: what its id hashes.
    pub fn serialize_unsigned(&self) -> Result<Vec<u8>, Error> {
        self.check()?;
        let mut out = Vec::with_capacity(16 + 41 * self.inputs.len() + 43 * self.outputs.len());
        out.extend_from_slice(&self.version.to_le_bytes());
        self.body(&mut out);
        out.extend_from_slice(&self.lock_time.to_le_bytes());
        Ok(out)
    }

    /// The transaction id, in serialization (internal) order: dSHA-256 of the unsigned form.
    pub fn txid(&self) -> Result<H256, Error> {
        Ok(sha256d(&self.serialize_unsigned()?))
    }

    /// Inputs and outputs as both serializations carry them.
    fn body(&self, out: &mut Vec<u8>) {
        compact_size(out, self.inputs.len());
        for i in &self.inputs {
            out.extend_from_slice(&i.txid);
            out.extend_from_slice(&i.vout.to_le_bytes());
            script(out, &i.script_sig);
            out.extend_from_slice(&i.sequence.to_le_bytes());
        }
        compact_size(out, self.outputs.len());
        for o in &self.outputs {
            out.extend_from_slice(&o.value.to_le_bytes());
            script(out, &o.script_pubkey);
        }
    }

    /// The transaction with its witnesses (BIP144: marker 0, flag 1), one stack per input.
    pub fn serialize_with_witness(&self, witnesses: &[Vec<Vec<u8>>]) -> Result<Vec<u8>, Error> {
        self.check()?;
        if witnesses.len() != self.inputs.len() {
            return Err(Error::Malformed { what: "one witness per input" });
        }
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&[0x00, 0x01]);
        self.body(&mut out);
        for stack in witnesses {
            compact_size(&mut out, stack.len());
            for item in stack {
                script(&mut out, item);
            }
        }
        out.extend_from_slice(&self.lock_time.to_le_bytes());
        Ok(out)
    }
}

/// The witness of a P2WSH multisig input: the empty item `CHECKMULTISIG` pops too many, the
/// signatures (DER ‖ sighash byte) in the order of their keys in the script, the script.
pub fn multisig_witness(signatures_in_key_order: &[Vec<u8>], witness_script: &[u8]) -> Vec<Vec<u8>> {
    let mut w = Vec::with_capacity(signatures_in_key_order.len() + 2);
    w.push(Vec::new());
    w.extend(signatures_in_key_order.iter().cloned());
    w.push(witness_script.to_vec());
    w
}
