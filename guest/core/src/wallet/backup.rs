//! Wallet backups in Flare's form (tee-node `internal/wallets/backup`, `pkg/wallets/backup`,
//! newest: shares over a named field, `{X, Y}` with Y fixed-width):
//!
//! - the key is split additively, `sk = adminPart + providerPart (mod n)`;
//! - the admin part is Shamir-shared `adminsThreshold`-of-`#admins`, admin i holding x = i + 1;
//! - the provider part is Shamir-shared 666-of-1000, voter i of the active policy holding the
//!   next `w_i` points, where `w` are the policy weights normalised to sum to 1000;
//! - each recipient's `KeySplit` is signed by the wallet key (`Payload{PMW_KEY_SPLIT}`) and
//!   ECIES-encrypted to the recipient; the whole backup is signed by the wallet key
//!   (`Payload{PMW_WALLET_BACKUP}`) and the TEE (`Payload{TEE_WALLET_BACKUP}`, EIP-191).
//!
//! Restoring verifies each split (its backup id, its wallet signature), skips the bad ones,
//! interpolates both parts from the first `threshold` shares of each group and requires the
//! public key of the sum to be the backed-up one.

use alloc::string::String;
use alloc::vec::Vec;

use k256::elliptic_curve::PrimeField;
use k256::{NonZeroScalar, Scalar, SecretKey};
use rand_core::TryCryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::codec::BackupId;
use super::json::{self, Base64, Hex, HexBytes, PublicKeyJson};
use super::shamir::{self, Share};
use super::{KeyIdPair, Wallet, address_of_xy, ecies, verify_wallet_signature};
use crate::ecdsa::SIGNATURE_LEN;
use crate::error::Error;
use crate::hash::{H256, eip191_hash, keccak256};
use crate::identity::TeeIdentity;
use crate::instruction::payload_hash;
use crate::limits::{MAX_WALLET_ADMINS, MAX_WALLET_COSIGNERS};
use crate::op;
use crate::policy::Address;

/// Shares of the provider part: the policy weights normalised to this sum.
pub const NORMALIZATION_CONSTANT: u16 = 1000;
/// Provider shares needed to rebuild the provider part.
pub const PROVIDERS_THRESHOLD: u64 = 666;
/// The field keys of the secp256k1 signing algorithms are shared over (its group order).
pub const FIELD_SECP256K1_ORDER: H256 = op::name("secp256k1-group-order");
/// Prefix of a key split's wallet signature.
pub const PREFIX_PMW_KEY_SPLIT: H256 = op::name("PMW_KEY_SPLIT");
/// Prefix of a backup's wallet signature.
pub const PREFIX_PMW_WALLET_BACKUP: H256 = op::name("PMW_WALLET_BACKUP");
/// Prefix of a backup's TEE signature.
pub const PREFIX_TEE_WALLET_BACKUP: H256 = op::name("TEE_WALLET_BACKUP");

/// tee-node's `weightsNormalization`: each weight in turn gets
/// `floor(w_i · remainingTotal / remainingSum)`, so the result sums to exactly `total` (the last
/// non-zero weight takes the remainder) and a zero weight gets nothing.
pub fn normalize_weights(weights: &[u16], total: u16) -> Result<Vec<u16>, Error> {
    let mut sum: u32 = weights.iter().map(|&w| u32::from(w)).sum();
    if sum > u32::from(u16::MAX) {
        return Err(Error::OperationFailed { reason: "overflow of weights" });
    }
    if sum == 0 {
        return Err(Error::OperationFailed { reason: "total weight is zero" });
    }
    let mut left = u32::from(total);
    let mut out = alloc::vec![0u16; weights.len()];
    for (o, &w) in out.iter_mut().zip(weights) {
        if sum == 0 {
            break;
        }
        let n = (u64::from(w) * u64::from(left) / u64::from(sum)) as u32;
        sum -= u32::from(w);
        left -= n;
        *o = n as u16;
    }
    Ok(out)
}

fn write_backup_id_fields(out: &mut String, id: &BackupId) {
    json::key(out, "teeId");
    json::hex(out, &id.tee_id);
    json::key(out, "walletId");
    json::hex(out, &id.id.wallet_id);
    json::key(out, "keyId");
    json::uint(out, id.id.key_id);
    json::key(out, "publicKey");
    json::hex(out, &id.public_key);
    json::key(out, "keyType");
    json::hex(out, &id.key_type);
    json::key(out, "signingAlgo");
    json::hex(out, &id.signing_algo);
    json::key(out, "rewardEpochId");
    json::uint(out, u64::from(id.reward_epoch_id));
    json::key(out, "randomNonce");
    json::hex(out, &id.random_nonce);
}

/// `json.Marshal(WalletBackupID)`.
pub fn backup_id_json(id: &BackupId) -> String {
    let mut out = String::from("{");
    write_backup_id_fields(&mut out, id);
    out.push('}');
    out
}

/// `WalletBackupMetaData`: what a backup is of and how it was shared — the restore
/// instruction's additional fixed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The backup.
    pub backup_id: BackupId,
    /// The field the parts were shared over.
    pub field_id: H256,
    /// The admins, in share order.
    #[serde(with = "crate::serde_fixed::vec")]
    pub admins: Vec<[u8; 64]>,
    /// Admin shares needed.
    pub admins_threshold: u64,
    /// Provider shares needed.
    pub providers_threshold: u64,
    /// The wallet's cosigners.
    pub cosigners: Vec<Address>,
    /// Cosigner signatures the wallet's instructions need.
    pub cosigners_threshold: u64,
}

impl Metadata {
    fn write_fields(&self, out: &mut String) {
        write_backup_id_fields(out, &self.backup_id);
        json::key(out, "FieldID");
        json::hex(out, &self.field_id);
        json::key(out, "AdminsPublicKeys");
        json::array(out, &self.admins, json::public_key);
        json::key(out, "AdminsThreshold");
        json::uint(out, self.admins_threshold);
        json::key(out, "ProvidersThreshold");
        json::uint(out, self.providers_threshold);
        json::key(out, "Cosigners");
        json::array(out, &self.cosigners, |o, a| json::hex(o, a));
        json::key(out, "CosignersThreshold");
        json::uint(out, self.cosigners_threshold);
    }

    /// `json.Marshal(WalletBackupMetaData)`.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        self.write_fields(&mut out);
        out.push('}');
        out
    }

    /// Parses the restore instruction's additional fixed message.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let m: MetadataJson = json::parse(bytes, "backup metadata")?;
        if m.admins_public_keys.len() > MAX_WALLET_ADMINS {
            return Err(Error::TooMany {
                what: "backup admins",
                count: m.admins_public_keys.len(),
                max: MAX_WALLET_ADMINS,
            });
        }
        if m.cosigners.len() > MAX_WALLET_COSIGNERS {
            return Err(Error::TooMany {
                what: "backup cosigners",
                count: m.cosigners.len(),
                max: MAX_WALLET_COSIGNERS,
            });
        }
        Ok(Self {
            backup_id: m.backup_id()?,
            field_id: m.field_id.0,
            admins: m.admins_public_keys.iter().map(PublicKeyJson::xy).collect(),
            admins_threshold: m.admins_threshold,
            providers_threshold: m.providers_threshold,
            cosigners: m.cosigners.iter().map(|a| a.0).collect(),
            cosigners_threshold: m.cosigners_threshold,
        })
    }
}

/// The backup id's fields in line (Go flattens the embedded struct; serde's `flatten` would
/// cost the guest ~tens of KiB of buffering code).
macro_rules! with_backup_id {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        $vis struct $name {
            #[serde(rename = "teeId")]
            tee_id: Hex<20>,
            #[serde(rename = "walletId")]
            wallet_id: Hex<32>,
            #[serde(rename = "keyId")]
            key_id: u64,
            #[serde(rename = "publicKey")]
            public_key: HexBytes,
            #[serde(rename = "keyType")]
            key_type: Hex<32>,
            #[serde(rename = "signingAlgo")]
            signing_algo: Hex<32>,
            #[serde(rename = "rewardEpochId")]
            reward_epoch_id: u32,
            #[serde(rename = "randomNonce")]
            random_nonce: Hex<32>,
            $($body)*
        }

        impl $name {
            $vis fn backup_id(&self) -> Result<BackupId, Error> {
                backup_id_of(
                    &self.tee_id,
                    &self.wallet_id,
                    self.key_id,
                    &self.public_key,
                    &self.key_type,
                    &self.signing_algo,
                    self.reward_epoch_id,
                    &self.random_nonce,
                )
            }
        }
    };
}

#[allow(clippy::too_many_arguments)]
fn backup_id_of(
    tee_id: &Hex<20>,
    wallet_id: &Hex<32>,
    key_id: u64,
    public_key: &HexBytes,
    key_type: &Hex<32>,
    signing_algo: &Hex<32>,
    reward_epoch_id: u32,
    random_nonce: &Hex<32>,
) -> Result<BackupId, Error> {
    Ok(BackupId {
        tee_id: tee_id.0,
        id: KeyIdPair { wallet_id: wallet_id.0, key_id },
        public_key: public_key
            .0
            .as_slice()
            .try_into()
            .map_err(|_| Error::OperationFailed { reason: "unsupported public key format" })?,
        key_type: key_type.0,
        signing_algo: signing_algo.0,
        reward_epoch_id,
        random_nonce: random_nonce.0,
    })
}

with_backup_id! {
#[derive(Deserialize)]
struct MetadataJson {
    #[serde(rename = "FieldID")]
    field_id: Hex<32>,
    #[serde(rename = "AdminsPublicKeys")]
    admins_public_keys: Vec<PublicKeyJson>,
    #[serde(rename = "AdminsThreshold")]
    admins_threshold: u64,
    #[serde(rename = "ProvidersThreshold")]
    providers_threshold: u64,
    #[serde(rename = "Cosigners")]
    cosigners: Vec<Hex<20>>,
    #[serde(rename = "CosignersThreshold")]
    cosigners_threshold: u64,
}
}

/// One recipient's `KeySplitData`: its shares of one part, which part, of which backup, for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySplitData {
    /// The shares (Y as 32-byte big-endian field elements). `None`: Go's nil slice (`null`).
    pub shares: Option<Vec<(u64, [u8; 32])>>,
    /// The backup.
    pub backup_id: BackupId,
    /// The admin part (true) or the provider part.
    pub is_admin: bool,
    /// The recipient.
    pub owner: [u8; 64],
}

impl KeySplitData {
    fn write_fields(&self, out: &mut String) {
        json::key(out, "Shares");
        match &self.shares {
            None => out.push_str("null"),
            Some(shares) => json::array(out, shares, |o, (x, y)| {
                o.push_str("{\"X\":");
                json::uint(o, *x);
                o.push_str(",\"Y\":");
                json::base64(o, y);
                o.push('}');
            }),
        }
        write_backup_id_fields(out, &self.backup_id);
        json::key(out, "IsAdmin");
        out.push_str(if self.is_admin { "true" } else { "false" });
        json::key(out, "OwnerPublicKey");
        json::public_key(out, &self.owner);
    }

    /// `json.Marshal(KeySplitData)`: what the wallet key signs (through its keccak).
    pub fn to_json(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::from("{"));
        self.write_fields(&mut out);
        out.push('}');
        out
    }

    /// `Payload{PMW_KEY_SPLIT, chainId, keccak(json)}` — the wallet key signs this hash as its
    /// message.
    pub fn sign_hash(&self, chain_id: u64) -> H256 {
        payload_hash(&PREFIX_PMW_KEY_SPLIT, chain_id, &keccak256(self.to_json().as_bytes()))
    }

    /// `json.Marshal(KeySplit)`: the data and the wallet's signature (base64).
    pub fn split_json(&self, signature: &[u8]) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::from("{"));
        self.write_fields(&mut out);
        json::key(&mut out, "Signature");
        json::base64(&mut out, signature);
        out.push('}');
        out
    }
}

impl Drop for KeySplitData {
    fn drop(&mut self) {
        if let Some(shares) = &mut self.shares {
            for (_, y) in shares.iter_mut() {
                zeroize::Zeroize::zeroize(y);
            }
        }
    }
}

/// A parsed `KeySplit`.
#[derive(Debug)]
pub struct KeySplit {
    /// Its data.
    pub data: KeySplitData,
    /// The wallet's signature over it.
    pub signature: Vec<u8>,
}

#[derive(Deserialize)]
struct ShareJson {
    #[serde(rename = "X")]
    x: u64,
    #[serde(rename = "Y")]
    y: Base64,
}

with_backup_id! {
#[derive(Deserialize)]
struct KeySplitJson {
    #[serde(rename = "Shares")]
    shares: Option<Vec<ShareJson>>,
    #[serde(rename = "IsAdmin")]
    is_admin: bool,
    #[serde(rename = "OwnerPublicKey")]
    owner: PublicKeyJson,
    #[serde(rename = "Signature")]
    signature: Base64,
}
}

impl KeySplitJson {
    fn into_split(self) -> Result<KeySplit, Error> {
        let backup_id = self.backup_id()?;
        let shares = match self.shares {
            None => None,
            Some(list) => Some(
                list.into_iter()
                    .map(|s| {
                        let y: [u8; 32] =
                            s.y.0.as_slice().try_into().map_err(|_| Error::Malformed { what: "share Y (32 bytes)" })?;
                        Ok((s.x, y))
                    })
                    .collect::<Result<Vec<_>, Error>>()?,
            ),
        };
        Ok(KeySplit {
            data: KeySplitData { shares, backup_id, is_admin: self.is_admin, owner: self.owner.xy() },
            signature: self.signature.0,
        })
    }
}

/// Most key splits one restore message may carry: a signer that is both a provider and an admin
/// sends both of its splits.
pub const MAX_SPLITS_PER_MESSAGE: usize = 2;

/// Parses a decrypted restore message: one `KeySplit`, or a JSON array of one or two.
pub fn parse_splits(plaintext: &[u8]) -> Result<Vec<KeySplit>, Error> {
    let first = plaintext.iter().find(|b| !b.is_ascii_whitespace());
    let list: Vec<KeySplitJson> = if first == Some(&b'[') {
        json::parse(plaintext, "key splits")?
    } else {
        alloc::vec![json::parse(plaintext, "key split")?]
    };
    if list.is_empty() || list.len() > MAX_SPLITS_PER_MESSAGE {
        return Err(Error::TooMany {
            what: "key splits in one message",
            count: list.len(),
            max: MAX_SPLITS_PER_MESSAGE,
        });
    }
    list.into_iter().map(KeySplitJson::into_split).collect()
}

impl KeySplit {
    /// tee-node's checks of one split: it is of `expected` backup and the wallet key named in it
    /// signed it (over the data as Go marshals it).
    pub fn verify(&self, expected: &BackupId, chain_id: u64) -> Result<(), Error> {
        if self.data.backup_id.encode() != expected.encode() {
            return Err(Error::OperationFailed { reason: "key split of another backup" });
        }
        let id = &self.data.backup_id;
        verify_wallet_signature(&id.signing_algo, &id.public_key, &self.data.sign_hash(chain_id), &self.signature)
    }
}

/// `EncryptedShares`: one part's splits, each encrypted to its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedShares {
    /// ECIES ciphertexts, one per owner.
    pub splits: Vec<Vec<u8>>,
    /// The owners.
    #[serde(with = "crate::serde_fixed::vec")]
    pub owners: Vec<[u8; 64]>,
    /// Shares needed.
    pub threshold: u64,
    /// Shares per owner.
    pub weights: Vec<u16>,
}

impl EncryptedShares {
    fn write(&self, out: &mut String) {
        out.push('{');
        json::key(out, "Splits");
        json::array(out, &self.splits, |o, s| json::hex(o, s));
        json::key(out, "OwnersPublicKeys");
        json::array(out, &self.owners, json::public_key);
        json::key(out, "Threshold");
        json::uint(out, self.threshold);
        json::key(out, "Weights");
        json::array(out, &self.weights, |o, w| json::uint(o, u64::from(*w)));
        out.push('}');
    }
}

/// A wallet backup. `F_GET/TEE_BACKUP` answers it postcard-encoded ([`WalletBackup::to_blob`]:
/// the ciphertexts as bytes, half the size of Flare's JSON with its hex and base64, so a backup
/// for 300 providers fits a frame); the proxy renders Flare's JSON from it
/// ([`WalletBackup::response_json`]) — deterministic, and covered by both signatures, so a proxy
/// that renders anything else is caught by every provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletBackup {
    /// What it is of.
    pub metadata: Metadata,
    /// The admin part.
    pub admin: EncryptedShares,
    /// The provider part.
    pub provider: EncryptedShares,
    /// The wallet key's signature.
    #[serde(with = "crate::serde_fixed")]
    pub signature: [u8; SIGNATURE_LEN],
    /// The TEE's signature.
    #[serde(with = "crate::serde_fixed")]
    pub tee_signature: [u8; SIGNATURE_LEN],
}

impl WalletBackup {
    fn write_content(&self, out: &mut String) {
        self.metadata.write_fields(out);
        json::key(out, "AdminEncryptedParts");
        self.admin.write(out);
        json::key(out, "ProviderEncryptedParts");
        self.provider.write(out);
    }

    /// keccak of `json.Marshal(WalletBackupForHashing)` (the backup without its signatures).
    pub fn content_hash(&self) -> H256 {
        let mut out = String::from("{");
        self.write_content(&mut out);
        out.push('}');
        keccak256(out.as_bytes())
    }

    /// `json.Marshal(WalletBackup)`.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        self.write_content(&mut out);
        json::key(&mut out, "Signature");
        json::hex(&mut out, &self.signature);
        json::key(&mut out, "TEESignature");
        json::hex(&mut out, &self.tee_signature);
        out.push('}');
        out
    }

    /// The postcard encoding `F_GET/TEE_BACKUP` answers.
    pub fn to_blob(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("encoding into a Vec cannot fail")
    }

    /// Decodes [`WalletBackup::to_blob`]'s bytes (all of them) and checks the TEE signature over
    /// the content against the backup's `teeId` — what a proxy does before it serves the JSON
    /// (and what every provider does again).
    pub fn from_blob(bytes: &[u8], chain_id: u64) -> Result<Self, Error> {
        let b: Self = match postcard::take_from_bytes(bytes) {
            Ok((b, [])) => b,
            Ok((_, rest)) => return Err(Error::TrailingBytes { what: "wallet backup", extra: rest.len() }),
            Err(_) => return Err(Error::Malformed { what: "wallet backup" }),
        };
        let digest = eip191_hash(&payload_hash(&PREFIX_TEE_WALLET_BACKUP, chain_id, &b.content_hash()));
        if crate::ecdsa::recover_address(&b.tee_signature, &digest)? != b.metadata.backup_id.tee_id {
            return Err(Error::SignatureInvalid { index: 0 });
        }
        Ok(b)
    }

    /// `json.Marshal(TEEBackupResponse)`: the backup id and the backup's JSON in base64 — what
    /// the providers fetch.
    pub fn response_json(&self) -> String {
        let mut out = String::from("{\"backupId\":");
        out.push_str(&backup_id_json(&self.metadata.backup_id));
        out.push_str(",\"walletBackup\":");
        json::base64(&mut out, self.to_json().as_bytes());
        out.push('}');
        out
    }
}

/// The parts and signatures of a backup's JSON (its metadata is read by [`Metadata::parse`]).
#[derive(Deserialize)]
struct PartsJson {
    #[serde(rename = "AdminEncryptedParts")]
    admin: EncryptedSharesJson,
    #[serde(rename = "ProviderEncryptedParts")]
    provider: EncryptedSharesJson,
    #[serde(rename = "Signature")]
    signature: Hex<65>,
    #[serde(rename = "TEESignature")]
    tee_signature: Hex<65>,
}

#[derive(Deserialize)]
struct EncryptedSharesJson {
    #[serde(rename = "Splits")]
    splits: Vec<HexBytes>,
    #[serde(rename = "OwnersPublicKeys")]
    owners: Vec<PublicKeyJson>,
    #[serde(rename = "Threshold")]
    threshold: u64,
    #[serde(rename = "Weights")]
    weights: Vec<u16>,
}

impl EncryptedSharesJson {
    fn shares(self) -> EncryptedShares {
        EncryptedShares {
            splits: self.splits.into_iter().map(|s| s.0).collect(),
            owners: self.owners.iter().map(PublicKeyJson::xy).collect(),
            threshold: self.threshold,
            weights: self.weights,
        }
    }
}

impl WalletBackup {
    /// Parses Flare's `TEEBackupResponse` (`{"backupId":{…},"walletBackup":"<base64>"}`) and
    /// checks it as a provider's relay does before it helps restore: the id is the backup's, the
    /// TEE named in it signed the backup (`TEE_WALLET_BACKUP`) and so did the wallet key
    /// (`PMW_WALLET_BACKUP`), both over the backup's JSON as Go marshals it.
    pub fn from_response_json(bytes: &[u8], chain_id: u64) -> Result<Self, Error> {
        #[derive(Deserialize)]
        struct Response {
            #[serde(rename = "walletBackup")]
            wallet_backup: Base64,
            #[serde(rename = "backupId")]
            backup_id: BackupIdOnly,
        }
        let r: Response = json::parse(bytes, "TEEBackupResponse")?;
        // The backup's JSON read twice: its metadata, then its parts (each ignores the other's keys).
        let parts: PartsJson = json::parse(&r.wallet_backup.0, "wallet backup")?;
        let backup = WalletBackup {
            metadata: Metadata::parse(&r.wallet_backup.0)?,
            admin: parts.admin.shares(),
            provider: parts.provider.shares(),
            signature: parts.signature.0,
            tee_signature: parts.tee_signature.0,
        };
        if r.backup_id.backup_id()?.encode() != backup.metadata.backup_id.encode() {
            return Err(Error::OperationFailed { reason: "backupId is not the backup's" });
        }
        let content = backup.content_hash();
        let tee = eip191_hash(&payload_hash(&PREFIX_TEE_WALLET_BACKUP, chain_id, &content));
        if crate::ecdsa::recover_address(&backup.tee_signature, &tee)? != backup.metadata.backup_id.tee_id {
            return Err(Error::SignatureInvalid { index: 0 });
        }
        let id = &backup.metadata.backup_id;
        verify_wallet_signature(
            &id.signing_algo,
            &id.public_key,
            &payload_hash(&PREFIX_PMW_WALLET_BACKUP, chain_id, &content),
            &backup.signature,
        )?;
        Ok(backup)
    }
}

with_backup_id! {
/// A `WalletBackupID` as parsed (Go's JSON order).
#[derive(Deserialize)]
pub(crate) struct BackupIdOnly {}
}

fn scalar_bytes(s: &Scalar) -> [u8; 32] {
    s.to_repr().into()
}

/// Shamir-shares `part` `threshold`-of-`Σ weights` (x = 1, 2, …), gives owner i the next
/// `weights[i]` shares, signs each owner's split with `wallet` and encrypts it to the owner.
#[allow(clippy::too_many_arguments)]
fn split_and_encrypt(
    part: &Scalar,
    owners: &[[u8; 64]],
    threshold: u64,
    weights: &[u16],
    backup_id: &BackupId,
    wallet: &Wallet,
    is_admin: bool,
    chain_id: u64,
    rng: &mut impl TryCryptoRng,
) -> Result<EncryptedShares, Error> {
    debug_assert_eq!(owners.len(), weights.len());
    let count: u32 = weights.iter().map(|&w| u32::from(w)).sum();
    let xs: Vec<u32> = (1..=count).collect();
    let threshold = usize::try_from(threshold).map_err(|_| Error::OperationFailed { reason: "threshold too large" })?;
    let shares = shamir::split(part, threshold, &xs, rng)?;
    let mut splits = Vec::with_capacity(owners.len());
    let mut next = 0usize;
    for (owner, &w) in owners.iter().zip(weights) {
        let mine = &shares[next..next + usize::from(w)];
        next += usize::from(w);
        let data = KeySplitData {
            shares: Some(mine.iter().map(|s: &Share| (u64::from(s.x), scalar_bytes(&s.y))).collect()),
            backup_id: backup_id.clone(),
            is_admin,
            owner: *owner,
        };
        let signature = wallet.sign(&data.sign_hash(chain_id))?;
        let plaintext = data.split_json(&signature);
        splits.push(ecies::encrypt(rng, owner, plaintext.as_bytes(), &[], &[])?);
    }
    Ok(EncryptedShares { splits, owners: owners.to_vec(), threshold: threshold as u64, weights: weights.to_vec() })
}

/// tee-node's `BackupWallet` + the TEE's signature: a backup of `wallet` held by `tee`, its
/// provider part shared among `providers` (the active policy's voters' keys, in policy order)
/// by their `weights`, made at `reward_epoch_id`.
pub fn backup_wallet(
    wallet: &Wallet,
    providers: &[[u8; 64]],
    weights: &[u16],
    reward_epoch_id: u32,
    tee: &TeeIdentity,
    chain_id: u64,
    rng: &mut impl TryCryptoRng,
) -> Result<WalletBackup, Error> {
    if providers.len() != weights.len() {
        return Err(Error::OperationFailed { reason: "number of encryption keys and weights do not match" });
    }
    let normalized = normalize_weights(weights, NORMALIZATION_CONSTANT)?;
    let mut random_nonce = [0u8; 32];
    rng.try_fill_bytes(&mut random_nonce).map_err(|_| Error::EntropyUnavailable)?;
    let backup_id = BackupId {
        tee_id: tee.address(),
        id: wallet.id,
        public_key: wallet.public,
        key_type: wallet.key_type,
        signing_algo: wallet.signing_algo,
        reward_epoch_id,
        random_nonce,
    };
    let metadata = Metadata {
        backup_id: backup_id.clone(),
        field_id: FIELD_SECP256K1_ORDER,
        admins: wallet.config.admins.clone(),
        admins_threshold: wallet.config.admins_threshold,
        providers_threshold: PROVIDERS_THRESHOLD,
        cosigners: wallet.config.cosigners.clone(),
        cosigners_threshold: wallet.config.cosigners_threshold,
    };
    // sk = admin + provider: the admin part uniform, the provider part the difference.
    let secret = Zeroizing::new(*wallet.secret_scalar());
    let admin_part = Zeroizing::new(shamir::random_scalar(rng)?);
    let provider_part = Zeroizing::new(*secret - *admin_part);
    let ones = alloc::vec![1u16; wallet.config.admins.len()];
    let admin = split_and_encrypt(
        &admin_part,
        &wallet.config.admins,
        wallet.config.admins_threshold,
        &ones,
        &backup_id,
        wallet,
        true,
        chain_id,
        rng,
    )?;
    let provider = split_and_encrypt(
        &provider_part,
        providers,
        PROVIDERS_THRESHOLD,
        &normalized,
        &backup_id,
        wallet,
        false,
        chain_id,
        rng,
    )?;
    let mut backup =
        WalletBackup { metadata, admin, provider, signature: [0; SIGNATURE_LEN], tee_signature: [0; SIGNATURE_LEN] };
    let content = backup.content_hash();
    backup.signature = wallet.sign(&payload_hash(&PREFIX_PMW_WALLET_BACKUP, chain_id, &content))?;
    backup.tee_signature = tee.sign_digest(&eip191_hash(&payload_hash(&PREFIX_TEE_WALLET_BACKUP, chain_id, &content)));
    Ok(backup)
}

/// tee-node's `JoinKeyShares` for one group: every split of the same part of `metadata`'s
/// backup (admin splits from listed admins only), their shares concatenated in order, the first
/// `threshold` of them interpolated.
fn join_group(
    splits: &[&KeySplit],
    metadata: &Metadata,
    threshold: u64,
    is_admin: bool,
) -> Result<Zeroizing<Scalar>, Error> {
    if splits.is_empty() {
        return Err(Error::OperationFailed {
            reason: if is_admin { "no valid admin key splits" } else { "no valid provider key splits" },
        });
    }
    if is_admin && splits.iter().any(|s| !metadata.admins.contains(&s.data.owner)) {
        return Err(Error::OperationFailed { reason: "admin key split of a key that is not an admin" });
    }
    let mut shares: Vec<Share> = Vec::new();
    for s in splits {
        for (x, y) in s.data.shares.iter().flatten() {
            let x = u32::try_from(*x).map_err(|_| Error::Malformed { what: "share X" })?;
            let y = Option::<Scalar>::from(Scalar::from_repr((*y).into()))
                .ok_or(Error::Malformed { what: "share Y (not below the field's modulus)" })?;
            shares.push(Share { x, y });
        }
    }
    let threshold = usize::try_from(threshold).unwrap_or(usize::MAX);
    if threshold == 0 || shares.len() < threshold {
        return Err(Error::OperationFailed {
            reason: if is_admin { "not enough admin shares" } else { "not enough provider shares" },
        });
    }
    let chosen: Vec<&Share> = shares[..threshold].iter().collect();
    shamir::reconstruct(&chosen)
}

/// What a restore made of its messages: the key and, per message, why it was skipped.
pub struct Restored {
    /// The rebuilt key.
    pub secret: SecretKey,
    /// (message index, reason) of each skipped message.
    pub errors: Vec<(usize, &'static str)>,
}

impl core::fmt::Debug for Restored {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Restored").field("errors", &self.errors).finish_non_exhaustive()
    }
}

/// `json.Marshal(KeyDataProviderRestoreResultStatus)`: `{"ErrorPositions":[…],"ErrorLogs":[…]}`.
pub fn restore_status_json(errors: &[(usize, &'static str)]) -> String {
    let mut out = String::from("{\"ErrorPositions\":");
    json::array(&mut out, errors, |o, (i, _)| json::uint(o, *i as u64));
    out.push_str(",\"ErrorLogs\":");
    json::array(&mut out, errors, |o, (_, e)| {
        o.push('"');
        o.push_str(e);
        o.push('"');
    });
    out.push('}');
    out
}

/// Rebuilds the key of `metadata` from `messages` (each one ECIES-encrypted to `tee_secret`:
/// a split or an array of two). Messages that do not decrypt, parse or verify, and duplicate
/// splits, are skipped and reported; the key must come out as the backed-up public key. (On
/// failure only the reason is returned — tee-node also returns the skipped positions.)
pub fn restore(
    metadata: &Metadata,
    messages: &[&[u8]],
    tee_secret: &NonZeroScalar,
    chain_id: u64,
) -> Result<Restored, Error> {
    let mut errors: Vec<(usize, &'static str)> = Vec::new();
    let mut splits: Vec<KeySplit> = Vec::new();
    let mut seen: Vec<H256> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let Ok(plaintext) = ecies::decrypt(tee_secret, m, &[], &[]) else {
            errors.push((i, "message does not decrypt for this TEE"));
            continue;
        };
        let parsed = match parse_splits(&plaintext) {
            Ok(p) => p,
            Err(_) => {
                errors.push((i, "message is not key splits"));
                continue;
            }
        };
        if parsed.iter().any(|s| s.verify(&metadata.backup_id, chain_id).is_err()) {
            errors.push((i, "key split of another backup or with an invalid signature"));
            continue;
        }
        for s in parsed {
            let h = keccak256(s.data.to_json().as_bytes());
            if seen.contains(&h) {
                errors.push((i, "duplicate key split"));
                continue;
            }
            seen.push(h);
            splits.push(s);
        }
    }
    if metadata.field_id != FIELD_SECP256K1_ORDER {
        return Err(Error::OperationFailed { reason: "unknown secret-sharing field" });
    }
    let admins: Vec<&KeySplit> = splits.iter().filter(|s| s.data.is_admin).collect();
    let providers: Vec<&KeySplit> = splits.iter().filter(|s| !s.data.is_admin).collect();
    let admin_part = join_group(&admins, metadata, metadata.admins_threshold, true)?;
    let provider_part = join_group(&providers, metadata, metadata.providers_threshold, false)?;
    let sum = Zeroizing::new(*admin_part + *provider_part);
    let secret = Option::<NonZeroScalar>::from(NonZeroScalar::new(*sum))
        .map(SecretKey::from)
        .ok_or(Error::OperationFailed { reason: "reconstructed key is zero" })?;
    let public = super::public_xy(&secret);
    if public != metadata.backup_id.public_key {
        return Err(Error::OperationFailed {
            reason: "private key reconstruction error: final result does not match address",
        });
    }
    debug_assert_eq!(address_of_xy(&public), address_of_xy(&metadata.backup_id.public_key));
    Ok(Restored { secret, errors })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tee-node's `weightsNormalization` on the examples computed from its Go code.
    #[test]
    fn normalisation_matches_tee_node() {
        let n = |w: &[u16]| normalize_weights(w, NORMALIZATION_CONSTANT).unwrap();
        assert_eq!(n(&[3, 5, 0, 7, 1]), [187, 312, 0, 438, 63]);
        assert_eq!(n(&[100, 200, 300]), [166, 333, 501]);
        assert_eq!(n(&[1, 1, 1]), [333, 333, 334]);
        assert_eq!(n(&[0, 0, 9]), [0, 0, 1000]);
        assert_eq!(n(&[9, 0, 0]), [1000, 0, 0]);
        assert!(normalize_weights(&[0, 0], 1000).is_err());
        assert!(normalize_weights(&[u16::MAX, 1], 1000).is_err(), "sum beyond 16 bits");
        assert_eq!(normalize_weights(&[u16::MAX], 1000).unwrap(), [1000]);
    }
}
