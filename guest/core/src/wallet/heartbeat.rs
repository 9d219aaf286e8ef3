//! The key-backup heartbeat (ours, not Flare's: `contracts/src/KeyBackupRegistry.sol`,
//! `docs/PROTOCOL.md` §8.4): a result the TEE signs to say "at a block after `referenceBlock`
//! I hold key (walletId, keyId), whose latest backup has content hash `backupHash`". The registry
//! records the key's address on the first one and refuses another key later; when heartbeats
//! stop, the wallet's recovery address may have the key restored elsewhere.
//!
//! The result is an ordinary signed `ActionResult` (`docs/PROTOCOL.md` §6) with submission tag
//! `key-backup`, id `keccak256(abi.encode(bytes32("FCC_KEY_BACKUP_V2"), chainId, registry,
//! extensionId, walletId, sequence))` and data `abi.encode(bytes32("FCC_KEY_BACKUP_V2"),
//! registry, extensionId, walletId, sequence, referenceBlock, referenceHash, record)`, record =
//! `abi.encode(uint64 keyId, address keyAddress, bytes32 backupHash)`.
//!
//! The proxy chooses the registry and the reference block (the chain checks both: `registry ==
//! address(this)`, `blockhash(referenceBlock) == referenceHash` within 256 blocks) and names the
//! backup — one it kept — by its content hash; the TEE signs only if that is the key's latest
//! backup since boot, so the record names a backup that exists outside the TEE and that the TEE
//! made. The TEE fixes the rest. The sequence is the reference block: a proxy cannot push a wallet's sequence
//! beyond the chain's height and so lock out the heartbeats of a later, honest proxy.

use alloc::string::String;
use alloc::vec::Vec;

use serde::Deserialize;

use crate::abi::{self, Token};
use crate::error::Error;
use crate::hash::{H256, keccak256};
use crate::op;
use crate::policy::Address;
use crate::wallet::KeyIdPair;
use crate::wallet::json::{self, Hex};

/// The registry's domain: first word of the data and of the id.
pub const BACKUP_DOMAIN: H256 = op::name("FCC_KEY_BACKUP_V2");

/// One heartbeat request: which key, for which registry and extension, after which block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The key.
    pub id: KeyIdPair,
    /// `KeyBackupRegistry`'s address.
    pub registry: Address,
    /// The extension (`uint256`, big-endian): the TEE's registered one.
    pub extension_id: H256,
    /// A recent block the proxy saw (also the sequence).
    pub reference_block: u64,
    /// Its hash (non-zero).
    pub reference_hash: H256,
    /// The content hash of the backup to name: the key's latest since boot, which the proxy
    /// says it kept (the TEE checks the first, the proxy the second).
    pub backup_hash: H256,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestJson {
    #[serde(rename = "walletId")]
    wallet_id: Hex<32>,
    #[serde(rename = "keyId")]
    key_id: u64,
    registry: Hex<20>,
    #[serde(rename = "extensionId")]
    extension_id: Hex<32>,
    #[serde(rename = "referenceBlock")]
    reference_block: u64,
    #[serde(rename = "referenceHash")]
    reference_hash: Hex<32>,
    #[serde(rename = "backupHash")]
    backup_hash: Hex<32>,
}

impl Heartbeat {
    /// The request's JSON (the direct action's message), as [`Heartbeat::parse`] reads it.
    pub fn request_json(&self) -> String {
        let mut out = String::from("{\"walletId\":");
        json::hex(&mut out, &self.id.wallet_id);
        out.push_str(",\"keyId\":");
        json::uint(&mut out, self.id.key_id);
        out.push_str(",\"registry\":");
        json::hex(&mut out, &self.registry);
        out.push_str(",\"extensionId\":");
        json::hex(&mut out, &self.extension_id);
        out.push_str(",\"referenceBlock\":");
        json::uint(&mut out, self.reference_block);
        out.push_str(",\"referenceHash\":");
        json::hex(&mut out, &self.reference_hash);
        out.push_str(",\"backupHash\":");
        json::hex(&mut out, &self.backup_hash);
        out.push('}');
        out
    }

    /// Reads a request (unknown fields refused; a zero reference hash is no block's).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let r: RequestJson = json::parse(bytes, "KEY_BACKUP_HEARTBEAT request")?;
        if r.reference_hash.0 == [0; 32] {
            return Err(Error::Malformed { what: "referenceHash (zero)" });
        }
        Ok(Self {
            id: KeyIdPair { wallet_id: r.wallet_id.0, key_id: r.key_id },
            registry: r.registry.0,
            extension_id: r.extension_id.0,
            reference_block: r.reference_block,
            reference_hash: r.reference_hash.0,
            backup_hash: r.backup_hash.0,
        })
    }

    /// The registry's sequence number of this heartbeat: its reference block.
    pub fn sequence(&self) -> u64 {
        self.reference_block
    }

    /// The result id the registry requires (`KeyBackupRegistry.backupId`).
    pub fn backup_id(&self, chain_id: u64) -> H256 {
        keccak256(&abi::encode_tuple(&[
            Token::Word(BACKUP_DOMAIN),
            Token::Word(abi::uint(chain_id)),
            Token::Word(abi::address(&self.registry)),
            Token::Word(self.extension_id),
            Token::Word(self.id.wallet_id),
            Token::Word(abi::uint(self.sequence())),
        ]))
    }

    /// The result data for the key at `key_address`.
    pub fn data(&self, key_address: &Address) -> Vec<u8> {
        let record = abi::encode_tuple(&[
            Token::Word(abi::uint(self.id.key_id)),
            Token::Word(abi::address(key_address)),
            Token::Word(self.backup_hash),
        ]);
        abi::encode_tuple(&[
            Token::Word(BACKUP_DOMAIN),
            Token::Word(abi::address(&self.registry)),
            Token::Word(self.extension_id),
            Token::Word(self.id.wallet_id),
            Token::Word(abi::uint(self.sequence())),
            Token::Word(abi::uint(self.reference_block)),
            Token::Word(self.reference_hash),
            Token::Bytes(&record),
        ])
    }
}
