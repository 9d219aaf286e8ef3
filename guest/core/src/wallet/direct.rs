//! Direct key transfer between TEEs (tee-node `KEY_DIRECT_BACKUP` / `KEY_DIRECT_RESTORE`,
//! `pkg/wallets/backup/direct_backup.go`), allowed only along a machine path the extension's
//! governance signed (`F_GOVERNANCE/SET_MACHINE_PATH_LIST`):
//!
//! ```text
//! dataHash  = keccak256(abi.encode(uint256 extensionId, uint256 nonce, (address[] sourceTeeIds, address[] destinationTeeIds)[] paths))
//! listHash  = Payload{TEE_MACHINE_PATH_LIST, chainId, dataHash}.Hash()      each governance signature: EIP-191 over it
//! KeyDirectBackup  = (address sourceTeeId, bytes32 walletId, uint64 keyId, (bytes32 x, bytes32 y) destinationTeePublicKey,
//!                     uint256 machinePathListNonce)                                                    static: 6 words
//! KeyDirectRestore = (address sourceTeeId, string sourceProxyUrl, BackupId backupId, bytes32 backupInstructionId,
//!                     uint256 destinationNonce, uint256 machinePathListNonce)
//! envelope  = {"payload":"0x<KeyDirectBackupPayload JSON>","teeSignature":"0x…"}, the source TEE's EIP-191 signature
//!             over Payload{TEE_KEY_DIRECT_BACKUP, chainId, keccak256(payload bytes)}
//! ```
//! A path authorises (source → destination) when one path lists the source among its sources
//! and the destination among its destinations.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::codec::BackupId;
use super::json::{self, Base64, Hex, HexBytes, PublicKeyJson};
use super::{ConfigConstants, KeyIdPair, Wallet, address_of_xy, ecies};
use crate::abi::{self, Reader, Token};
use crate::config::Governance;
use crate::ecdsa::{SIGNATURE_LEN, recover_address};
use crate::error::Error;
use crate::hash::{H256, eip191_hash, keccak256};
use crate::instruction::payload_hash;
use crate::limits::{MAX_MACHINE_PATHS, MAX_PATH_TEES, MAX_URL_LEN, MAX_WALLET_ADMINS, MAX_WALLET_COSIGNERS};
use crate::op;
use crate::policy::Address;

/// Prefix of a machine path list's governance signatures.
pub const PREFIX_TEE_MACHINE_PATH_LIST: H256 = op::name("TEE_MACHINE_PATH_LIST");
/// Prefix of a direct backup's TEE signature.
pub const PREFIX_TEE_KEY_DIRECT_BACKUP: H256 = op::name("TEE_KEY_DIRECT_BACKUP");

/// One path: keys may move from any of `sources` to any of `destinations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachinePath {
    /// Source TEE ids.
    pub sources: Vec<Address>,
    /// Destination TEE ids.
    pub destinations: Vec<Address>,
}

/// The current machine path list, its nonce and its hash (the Payload hash governance signed;
/// zero before the first list).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MachinePaths {
    paths: Vec<MachinePath>,
    nonce: u64,
    hash: H256,
}

/// `abi.encode(uint256 extensionId, uint256 nonce, (address[], address[])[] paths)`.
pub fn encode_path_list(extension_id: &H256, nonce: u64, paths: &[MachinePath]) -> Vec<u8> {
    let tuples: Vec<[Token<'_>; 2]> =
        paths.iter().map(|p| [Token::Addresses(&p.sources), Token::Addresses(&p.destinations)]).collect();
    let encoded: Vec<Vec<u8>> = tuples.iter().map(|t| abi::encode_tuple(t)).collect();
    // The array: its length, one offset per element (from the first offset word), the elements.
    let mut array = abi::uint(paths.len() as u64).to_vec();
    let mut offset = 32 * paths.len();
    for e in &encoded {
        array.extend_from_slice(&abi::uint(offset as u64));
        offset += e.len();
    }
    for e in &encoded {
        array.extend_from_slice(e);
    }
    let mut out = Vec::with_capacity(96 + array.len());
    out.extend_from_slice(extension_id);
    out.extend_from_slice(&abi::uint(nonce));
    out.extend_from_slice(&abi::uint(96));
    out.extend_from_slice(&array);
    out
}

/// The hash governance signs for `paths` at `nonce`.
pub fn path_list_hash(chain_id: u64, extension_id: &H256, nonce: u64, paths: &[MachinePath]) -> H256 {
    payload_hash(&PREFIX_TEE_MACHINE_PATH_LIST, chain_id, &keccak256(&encode_path_list(extension_id, nonce, paths)))
}

#[derive(Deserialize)]
struct PathJson {
    #[serde(rename = "SourceTeeIds")]
    sources: Vec<Hex<20>>,
    #[serde(rename = "DestinationTeeIds")]
    destinations: Vec<Hex<20>>,
}

#[derive(Deserialize)]
struct SetPathsJson {
    #[serde(rename = "Paths")]
    paths: Vec<PathJson>,
    #[serde(rename = "Nonce")]
    nonce: u64,
    #[serde(rename = "Signatures")]
    signatures: Vec<Base64>,
}

impl MachinePaths {
    /// The list's nonce (0 before the first).
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// The list's hash (zero before the first).
    pub fn hash(&self) -> H256 {
        self.hash
    }

    /// Whether one path lets a key move from `source` to `destination`.
    pub fn authorizes(&self, source: &Address, destination: &Address) -> bool {
        self.paths.iter().any(|p| p.sources.contains(source) && p.destinations.contains(destination))
    }

    /// `SET_MACHINE_PATH_LIST`: Flare's JSON request (`{"Paths":[{"SourceTeeIds":[…],
    /// "DestinationTeeIds":[…]}],"Nonce":n,"Signatures":["<base64>",…]}`), every signature by a
    /// governance signer, at least its threshold of them distinct, and a nonce above the
    /// current one. Returns the new nonce.
    pub fn set(
        &mut self,
        request: &[u8],
        governance: &Governance,
        extension_id: &H256,
        chain_id: u64,
    ) -> Result<u64, Error> {
        if !governance.is_set() {
            return Err(Error::OperationFailed { reason: "no governance configured for this TEE" });
        }
        let req: SetPathsJson = json::parse(request, "SET_MACHINE_PATH_LIST request")?;
        if req.paths.len() > MAX_MACHINE_PATHS {
            return Err(Error::TooMany { what: "machine paths", count: req.paths.len(), max: MAX_MACHINE_PATHS });
        }
        let mut paths = Vec::with_capacity(req.paths.len());
        for p in &req.paths {
            let n = p.sources.len().max(p.destinations.len());
            if n > MAX_PATH_TEES {
                return Err(Error::TooMany { what: "TEEs on a machine path", count: n, max: MAX_PATH_TEES });
            }
            paths.push(MachinePath {
                sources: p.sources.iter().map(|a| a.0).collect(),
                destinations: p.destinations.iter().map(|a| a.0).collect(),
            });
        }
        if req.signatures.len() > governance.signers().len() {
            return Err(Error::TooMany {
                what: "governance signatures",
                count: req.signatures.len(),
                max: governance.signers().len(),
            });
        }
        if req.nonce <= self.nonce {
            return Err(Error::OperationFailed { reason: "machine-path-list nonce not higher than the current one" });
        }
        let hash = path_list_hash(chain_id, extension_id, req.nonce, &paths);
        let digest = eip191_hash(&hash);
        let mut signed: Vec<Address> = Vec::new();
        for (i, sig) in req.signatures.iter().enumerate() {
            let sig: &[u8; SIGNATURE_LEN] =
                sig.0.as_slice().try_into().map_err(|_| Error::SignatureMalformed { index: i as u16 })?;
            let signer = recover_address(sig, &digest)?;
            if !governance.signers().contains(&signer) {
                return Err(Error::UnknownSigner { index: i as u16 });
            }
            if !signed.contains(&signer) {
                signed.push(signer);
            }
        }
        if signed.len() < usize::from(governance.threshold()) {
            return Err(Error::OperationFailed { reason: "governance threshold not reached" });
        }
        *self = Self { paths, nonce: req.nonce, hash };
        Ok(self.nonce)
    }
}

/// `KeyDirectBackup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDirectBackup {
    /// The TEE asked (the source).
    pub source: Address,
    /// The key.
    pub id: KeyIdPair,
    /// The destination TEE's public key.
    pub destination: [u8; 64],
    /// The path list it relies on (must be the source's current one).
    pub path_nonce: u64,
}

impl KeyDirectBackup {
    /// `abi.encode(KeyDirectBackup)` (static: six words).
    pub fn encode(&self) -> Vec<u8> {
        abi::encode_tuple(&[
            Token::Word(abi::address(&self.source)),
            Token::Word(self.id.wallet_id),
            Token::Word(abi::uint(self.id.key_id)),
            Token::Inline(&self.destination),
            Token::Word(abi::uint(self.path_nonce)),
        ])
    }

    /// Decodes strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let r = Reader::new(bytes, "KeyDirectBackup");
        let mut destination = [0u8; 64];
        destination[..32].copy_from_slice(r.word(96)?);
        destination[32..].copy_from_slice(r.word(128)?);
        let v = Self {
            source: r.address(0)?,
            id: KeyIdPair { wallet_id: *r.word(32)?, key_id: r.uint(64, 64)? },
            destination,
            path_nonce: super::codec::nonce_u64(&r, 160, "machine-path-list nonce too large")?,
        };
        r.canonical(&v.encode())?;
        Ok(v)
    }
}

/// `KeyDirectRestore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDirectRestore<'a> {
    /// The source TEE.
    pub source: Address,
    /// Where the providers fetched the envelope.
    pub source_proxy_url: &'a [u8],
    /// The direct backup.
    pub backup_id: BackupId,
    /// The source's `KEY_DIRECT_BACKUP` instruction.
    pub backup_instruction_id: H256,
    /// The record nonce the restored key gets.
    pub destination_nonce: u64,
    /// The path list the move relies on (at most the destination's current one).
    pub path_nonce: u64,
}

impl KeyDirectRestore<'_> {
    /// `abi.encode(KeyDirectRestore)`.
    pub fn encode(&self) -> Vec<u8> {
        self.backup_id.with_tokens(|backup| {
            abi::encode_dynamic_struct(&[
                Token::Word(abi::address(&self.source)),
                Token::Bytes(self.source_proxy_url),
                Token::Tuple(backup),
                Token::Word(self.backup_instruction_id),
                Token::Word(abi::uint(self.destination_nonce)),
                Token::Word(abi::uint(self.path_nonce)),
            ])
        })
    }
}

/// Decodes `abi.encode(KeyDirectRestore)` strictly.
pub fn decode_direct_restore(bytes: &[u8]) -> Result<KeyDirectRestore<'_>, Error> {
    let r = Reader::new(bytes, "KeyDirectRestore");
    let base = r.offset(0, 0)?;
    let v = KeyDirectRestore {
        source: r.address(base)?,
        source_proxy_url: r.bytes_at(r.offset(base, base + 32)?, MAX_URL_LEN)?,
        backup_id: BackupId::read(&r, r.offset(base, base + 64)?)?,
        backup_instruction_id: *r.word(base + 96)?,
        destination_nonce: super::codec::nonce_u64(&r, base + 128, "destination nonce too large")?,
        path_nonce: super::codec::nonce_u64(&r, base + 160, "machine-path-list nonce too large")?,
    };
    r.canonical(&v.encode())?;
    Ok(v)
}

/// `json.Marshal(KeyDirectBackupPayload)` of `wallet` (its key ECIES-encrypted to the
/// destination: `encrypted`) as backed up under `backup_id`, with record nonce `nonce`.
pub fn payload_json(backup_id: &BackupId, encrypted: &[u8], wallet: &Wallet, nonce: u64) -> String {
    let mut out = String::from("{\"backupId\":");
    out.push_str(&super::backup::backup_id_json(backup_id));
    json::key(&mut out, "encryptedPrivateKey");
    json::hex(&mut out, encrypted);
    json::key(&mut out, "adminPublicKeys");
    json::array(&mut out, &wallet.config.admins, json::public_key);
    json::key(&mut out, "adminsThreshold");
    json::uint(&mut out, wallet.config.admins_threshold);
    json::key(&mut out, "cosigners");
    // Go's `append([]common.Address(nil), …)`: null when there are none.
    if wallet.config.cosigners.is_empty() {
        out.push_str("null");
    } else {
        json::array(&mut out, &wallet.config.cosigners, |o, a| json::hex(o, a));
    }
    json::key(&mut out, "cosignersThreshold");
    json::uint(&mut out, wallet.config.cosigners_threshold);
    json::key(&mut out, "settingsVersion");
    json::hex(&mut out, &wallet.settings_version);
    json::key(&mut out, "settings");
    json::hex(&mut out, &wallet.settings);
    json::key(&mut out, "status");
    out.push_str("{\"Nonce\":");
    json::uint(&mut out, nonce);
    out.push_str(",\"PausingNonce\":");
    json::hex(&mut out, &[0; 32]);
    out.push_str(",\"StatusCode\":0}");
    out.push('}');
    out
}

/// `{"payload":"0x…","teeSignature":"0x…"}`.
pub fn envelope_json(payload: &[u8], signature: &[u8; SIGNATURE_LEN]) -> String {
    let mut out = String::from("{\"payload\":");
    json::hex(&mut out, payload);
    out.push_str(",\"teeSignature\":");
    json::hex(&mut out, signature);
    out.push('}');
    out
}

/// The digest the source TEE signs (EIP-191 of the Payload hash) for `payload`.
pub fn envelope_digest(chain_id: u64, payload: &[u8]) -> H256 {
    eip191_hash(&payload_hash(&PREFIX_TEE_KEY_DIRECT_BACKUP, chain_id, &keccak256(payload)))
}

#[derive(Deserialize)]
struct EnvelopeJson {
    payload: HexBytes,
    #[serde(rename = "teeSignature")]
    tee_signature: Hex<65>,
}

#[derive(Deserialize)]
struct PayloadJson {
    #[serde(rename = "backupId")]
    backup_id: super::backup::BackupIdOnly,
    #[serde(rename = "encryptedPrivateKey")]
    encrypted: HexBytes,
    #[serde(rename = "adminPublicKeys")]
    admins: Vec<PublicKeyJson>,
    #[serde(rename = "adminsThreshold")]
    admins_threshold: u64,
    cosigners: Option<Vec<Hex<20>>>,
    #[serde(rename = "cosignersThreshold")]
    cosigners_threshold: u64,
    #[serde(rename = "settingsVersion")]
    settings_version: Hex<32>,
    settings: HexBytes,
}

/// A direct backup as the destination reads it: checked envelope, its payload parsed.
pub struct Opened {
    /// The backup's id.
    pub backup_id: BackupId,
    /// The key, encrypted to the destination.
    pub encrypted: Vec<u8>,
    /// Admins and cosigners.
    pub config: ConfigConstants,
    /// Settings version and settings.
    pub settings: (H256, Vec<u8>),
}

/// Parses a direct backup's envelope and checks that `source` signed it for `chain_id`.
pub fn open_envelope(envelope: &[u8], source: &Address, chain_id: u64) -> Result<Opened, Error> {
    let e: EnvelopeJson = json::parse(envelope, "direct backup envelope")?;
    if recover_address(&e.tee_signature.0, &envelope_digest(chain_id, &e.payload.0))? != *source {
        return Err(Error::OperationFailed { reason: "the direct backup is not signed by the source TEE" });
    }
    let p: PayloadJson = json::parse(&e.payload.0, "direct backup payload")?;
    let cosigners: Vec<Address> = p.cosigners.unwrap_or_default().iter().map(|a| a.0).collect();
    if p.admins.len() > MAX_WALLET_ADMINS || cosigners.len() > MAX_WALLET_COSIGNERS {
        return Err(Error::TooMany {
            what: "admins or cosigners of a direct backup",
            count: p.admins.len().max(cosigners.len()),
            max: MAX_WALLET_ADMINS,
        });
    }
    Ok(Opened {
        backup_id: p.backup_id.backup_id()?,
        encrypted: p.encrypted.0,
        config: ConfigConstants {
            admins: p.admins.iter().map(PublicKeyJson::xy).collect(),
            admins_threshold: p.admins_threshold,
            cosigners,
            cosigners_threshold: p.cosigners_threshold,
        },
        settings: (p.settings_version.0, p.settings.0),
    })
}

/// The destination TEE's key as its address.
pub fn destination_id(destination: &[u8; 64]) -> Result<Address, Error> {
    ecies::point(destination).ok_or(Error::Malformed { what: "destination TEE public key" })?;
    Ok(address_of_xy(destination))
}
