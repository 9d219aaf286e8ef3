//! Wallet keys: secp256k1 keys generated in the TEE that never leave it in the clear, backed up
//! to the data providers and admins as encrypted Shamir splits (`backup`) and restored in other
//! TEEs — Flare's PMW wallet operations, byte for byte (tee-node `pkg/wallets`,
//! go-flare-common `pkg/tee/structs/wallet`; `docs/PROTOCOL.md` §13).
//!
//! A key is named by (walletId, keyId). The store keeps the live keys and, for every pair that
//! ever existed, a permanent record with its nonce: a deleted pair can never be generated again
//! (only restored, with a higher nonce), and a delete cannot be replayed.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use k256::elliptic_curve::sec1::ToSec1Point;
use k256::{NonZeroScalar, SecretKey};
use rand_core::TryCryptoRng;

use crate::ecdsa::SIGNATURE_LEN;
use crate::error::Error;
use crate::hash::{H256, keccak256};
use crate::limits::{MAX_WALLET_ADMINS, MAX_WALLET_COSIGNERS, MAX_WALLET_KEYS, MAX_WALLET_RECORDS};
use crate::op;
use crate::policy::Address;

pub mod backup;
pub mod codec;
pub mod direct;
pub mod ecies;
pub mod heartbeat;
pub mod json;
pub mod ledger;
pub mod shamir;

/// Signing algorithm: Ethereum ECDSA (keccak256 of the message).
pub const EVM_SIGN_ALGO: H256 = op::name("keccak256-secp256k1-ecdsa");
/// Signing algorithm: XRPL ECDSA (SHA-512-Half of the message).
pub const XRP_SIGN_ALGO: H256 = op::name("sha512half-secp256k1-ecdsa");
/// Signing algorithm: Flare's VRF over secp256k1 (not served here yet: refused).
pub const VRF_ALGO: H256 = op::name("keccak256-secp256k1-vrf");
/// Key type of EVM keys.
pub const KEY_TYPE_EVM: H256 = op::name("EVM");
/// Key type of XRPL keys.
pub const KEY_TYPE_XRP: H256 = op::name("XRP");
/// Signing algorithm: Bitcoin ECDSA (double SHA-256 of the message; ours — Flare defines none).
pub const BTC_SIGN_ALGO: H256 = op::name("sha256d-secp256k1-ecdsa");
/// Key type of Bitcoin keys (ours).
pub const KEY_TYPE_BTC: H256 = op::name("BTC");

/// A key's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct KeyIdPair {
    /// The wallet.
    pub wallet_id: H256,
    /// The key within it.
    pub key_id: u64,
}

/// Who administers a key and who must co-sign its instructions (`KeyConfigConstants`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ConfigConstants {
    /// The admins' public keys `x ‖ y`, in their order (admin i holds Shamir share x = i + 1).
    #[serde(with = "crate::serde_fixed::vec")]
    pub admins: Vec<[u8; 64]>,
    /// Admin shares needed to rebuild the admin part.
    pub admins_threshold: u64,
    /// Cosigners of the wallet's instructions.
    pub cosigners: Vec<Address>,
    /// Cosigner signatures needed.
    pub cosigners_threshold: u64,
}

impl ConfigConstants {
    /// tee-node's `CheckKeyGenerate` rules: at least one admin, every admin a curve point and
    /// listed once, thresholds within their lists, cosigners distinct — and our bounds.
    pub fn check(&self) -> Result<(), Error> {
        if self.admins.is_empty() {
            return Err(Error::OperationFailed { reason: "no admin public keys" });
        }
        if self.admins.len() > MAX_WALLET_ADMINS {
            return Err(Error::TooMany { what: "wallet admins", count: self.admins.len(), max: MAX_WALLET_ADMINS });
        }
        if self.admins_threshold == 0 || self.admins_threshold > self.admins.len() as u64 {
            return Err(Error::OperationFailed { reason: "admins threshold must be in 1..=admins" });
        }
        if self.admins.iter().any(|k| ecies::point(k).is_none()) {
            return Err(Error::Malformed { what: "admin public key (not on secp256k1)" });
        }
        if has_duplicates(&self.admins) {
            return Err(Error::OperationFailed { reason: "admin public key list contains duplicate keys" });
        }
        if self.cosigners.len() > MAX_WALLET_COSIGNERS {
            return Err(Error::TooMany {
                what: "wallet cosigners",
                count: self.cosigners.len(),
                max: MAX_WALLET_COSIGNERS,
            });
        }
        if self.cosigners_threshold > self.cosigners.len() as u64 {
            return Err(Error::OperationFailed {
                reason: "cosigners threshold cannot be greater than the number of cosigners",
            });
        }
        if has_duplicates(&self.cosigners) {
            return Err(Error::OperationFailed { reason: "cosigner list contains duplicate addresses" });
        }
        Ok(())
    }
}

fn has_duplicates<T: Ord + Clone>(items: &[T]) -> bool {
    let mut sorted = items.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).any(|w| w[0] == w[1])
}

/// The SEC1 compressed form of `x ‖ y`: `02 | 03` (y's parity) ‖ x.
pub fn compress_xy(xy: &[u8; 64]) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = 2 | (xy[63] & 1);
    out[1..].copy_from_slice(&xy[..32]);
    out
}

/// The Ethereum address of `x ‖ y`.
pub fn address_of_xy(xy: &[u8; 64]) -> Address {
    keccak256(xy)[12..].try_into().expect("20 bytes")
}

/// One wallet key and what it was generated (or restored) with.
pub struct Wallet {
    /// Its name.
    pub id: KeyIdPair,
    /// `EVM`, `XRP`, … (stored as given).
    pub key_type: H256,
    /// One of the supported signing algorithms.
    pub signing_algo: H256,
    secret: SecretKey,
    /// `x ‖ y`.
    pub public: [u8; 64],
    /// Whether it came from a backup rather than from this TEE's generator.
    pub restored: bool,
    /// Admins and cosigners.
    pub config: ConfigConstants,
    /// Settings version (zero: none yet).
    pub settings_version: H256,
    /// Settings (empty: none yet).
    pub settings: Vec<u8>,
    /// The content hash of the latest backup this TEE made of the key since it booted (not
    /// sealed: a heartbeat names only a backup whose blob this boot's proxy received).
    pub latest_backup: Option<H256>,
}

impl core::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.debug_struct("Wallet").field("id", &self.id).field("public", &self.public).finish_non_exhaustive()
    }
}

impl Wallet {
    /// A wallet around `secret`.
    pub fn new(
        id: KeyIdPair,
        key_type: H256,
        signing_algo: H256,
        secret: SecretKey,
        restored: bool,
        config: ConfigConstants,
    ) -> Self {
        let public = public_xy(&secret);
        Self {
            id,
            key_type,
            signing_algo,
            secret,
            public,
            restored,
            config,
            settings_version: [0; 32],
            settings: Vec::new(),
            latest_backup: None,
        }
    }

    /// A fresh key from `rng`.
    pub fn generate(
        id: KeyIdPair,
        key_type: H256,
        signing_algo: H256,
        config: ConfigConstants,
        rng: &mut impl TryCryptoRng,
    ) -> Result<Self, Error> {
        let scalar = shamir::random_scalar(rng)?;
        let secret = Option::<NonZeroScalar>::from(NonZeroScalar::new(scalar))
            .map(SecretKey::from)
            .ok_or(Error::EntropyUnavailable)?;
        Ok(Self::new(id, key_type, signing_algo, secret, false, config))
    }

    /// The secret scalar (for splitting and transfer only).
    pub(crate) fn secret_scalar(&self) -> NonZeroScalar {
        self.secret.to_nonzero_scalar()
    }

    /// The key's address.
    pub fn address(&self) -> Address {
        address_of_xy(&self.public)
    }

    /// The key's compressed public key (XRPL's `SigningPubKey`).
    pub fn compressed_public(&self) -> [u8; 33] {
        // From the stored x ‖ y: no scalar multiplication per signature.
        compress_xy(&self.public)
    }

    /// Fails unless the key is of `key_type` with `algo` (tee-node's messages).
    pub fn require(&self, key_type: &H256, algo: &H256) -> Result<(), Error> {
        if self.key_type != *key_type {
            return Err(Error::OperationFailed { reason: "key type does not allow the action" });
        }
        if self.signing_algo != *algo {
            return Err(Error::OperationFailed { reason: "key's signing algorithm does not allow the action" });
        }
        Ok(())
    }

    /// This key's multisignature of the XRPL transaction `tx` (XRP keys only): RFC 6979, low S,
    /// DER, over `SHA-512-Half("SMT\0" ‖ signing fields ‖ its AccountID)`.
    pub fn xrpl_multisign(&self, tx: &crate::xrpl::tx::Transaction) -> Result<crate::xrpl::tx::Signer, Error> {
        self.require(&KEY_TYPE_XRP, &XRP_SIGN_ALGO)?;
        let public_key = self.compressed_public();
        let account = crate::xrpl::address::account_id(&public_key);
        let digest = tx.multisign_digest(&account)?;
        let (sig, _) = self.sign_prehash(&digest);
        Ok(crate::xrpl::tx::Signer { account, public_key, signature: sig.to_der().as_bytes().to_vec() })
    }

    /// This key's signature of input `index` of `tx`, which spends the wallet's P2WSH output
    /// with `witness_script` (BTC keys only): BIP143 `SIGHASH_ALL`, RFC 6979, low S, DER
    /// without the sighash byte.
    pub fn btc_sign_input(
        &self,
        tx: &crate::btc::Transaction,
        index: usize,
        witness_script: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.require(&KEY_TYPE_BTC, &BTC_SIGN_ALGO)?;
        let digest = tx.sighash_all(index, witness_script)?;
        let (sig, _) = self.sign_prehash(&digest);
        Ok(sig.to_der().as_bytes().to_vec())
    }

    /// ECDSA over `digest`: RFC 6979 (SHA-256), low S, with its recovery id. Straight from the
    /// scalar: `SigningKey::from` would compute the public key for every signature.
    fn sign_prehash(&self, digest: &H256) -> (k256::ecdsa::Signature, k256::ecdsa::RecoveryId) {
        let d = zeroize::Zeroizing::new(self.secret.to_nonzero_scalar());
        ecdsa::hazmat::sign_prehashed_rfc6979::<k256::Secp256k1, k256::sha2::Sha256>(&d, digest, &[])
    }

    /// tee-node's `Wallet.Sign(msg)`: ECDSA over keccak256(msg) (EVM) or SHA-512-Half(msg)
    /// (XRP) — no EIP-191 prefix; `r ‖ s ‖ v`, low S, v ∈ {0, 1}.
    pub fn sign(&self, msg: &[u8]) -> Result<[u8; SIGNATURE_LEN], Error> {
        Ok(self.sign_digest(&message_digest(&self.signing_algo, msg)?))
    }

    /// ECDSA over `digest` as `r ‖ s ‖ v`, low S, v ∈ {0, 1} (for digests the core composed:
    /// wallet messages, extension signatures).
    pub(crate) fn sign_digest(&self, digest: &H256) -> [u8; SIGNATURE_LEN] {
        let (sig, recid) = self.sign_prehash(digest);
        let mut out = [0u8; SIGNATURE_LEN];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = recid.to_byte() & 1;
        out
    }
}

/// The digest a wallet key of `algo` signs for `msg`.
pub fn message_digest(algo: &H256, msg: &[u8]) -> Result<H256, Error> {
    match *algo {
        EVM_SIGN_ALGO => Ok(keccak256(msg)),
        XRP_SIGN_ALGO => Ok(crate::xrpl::tx::sha512_half(msg)),
        BTC_SIGN_ALGO => Ok(crate::btc::sha256d(msg)),
        _ => Err(Error::OperationFailed { reason: "signing algorithm not supported" }),
    }
}

/// Checks a wallet-key signature of `algo` over `msg` against `public`.
pub fn verify_wallet_signature(algo: &H256, public: &[u8; 64], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    let sig: &[u8; SIGNATURE_LEN] =
        sig.try_into().map_err(|_| Error::Malformed { what: "wallet signature (65 bytes expected)" })?;
    let digest = message_digest(algo, msg)?;
    if crate::ecdsa::recover_address(sig, &digest)? != address_of_xy(public) {
        return Err(Error::SignatureInvalid { index: 0 });
    }
    Ok(())
}

fn public_xy(secret: &SecretKey) -> [u8; 64] {
    let point = secret.public_key().as_affine().to_sec1_point(false);
    point.as_bytes()[1..].try_into().expect("64 bytes")
}

/// Whether `algo` is one this TEE can generate keys for.
pub fn supported_algo(algo: &H256) -> bool {
    *algo == EVM_SIGN_ALGO || *algo == XRP_SIGN_ALGO || *algo == BTC_SIGN_ALGO
}

/// The wallet keys of a TEE, and the permanent record (nonce) of every pair that ever existed.
#[derive(Debug, Default)]
pub struct WalletStore {
    wallets: BTreeMap<KeyIdPair, Wallet>,
    nonces: BTreeMap<KeyIdPair, u64>,
    /// What the live keys signed payments for.
    ledgers: BTreeMap<KeyIdPair, ledger::Ledger>,
    /// Counts changes, so the engine knows when to seal again.
    changes: u64,
}

/// A wallet key as the sealed state carries it, its secret included (nowhere else).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SealedWallet {
    id: KeyIdPair,
    key_type: H256,
    signing_algo: H256,
    secret: [u8; 32],
    restored: bool,
    config: ConfigConstants,
    settings_version: H256,
    settings: Vec<u8>,
}

impl Drop for SealedWallet {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

/// The whole store as sealed: the live keys and every record.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct StoreSnapshot {
    wallets: Vec<SealedWallet>,
    records: Vec<(KeyIdPair, u64)>,
    ledgers: Vec<(KeyIdPair, ledger::Ledger)>,
}

impl core::fmt::Debug for StoreSnapshot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print a secret.
        f.debug_struct("StoreSnapshot")
            .field("wallets", &self.wallets.len())
            .field("records", &self.records.len())
            .field("ledgers", &self.ledgers.len())
            .finish()
    }
}

impl PartialEq for StoreSnapshot {
    fn eq(&self, other: &Self) -> bool {
        // Compared by their encoding (tests); secrets included.
        postcard::to_allocvec(self).ok() == postcard::to_allocvec(other).ok()
    }
}

impl Eq for StoreSnapshot {}

impl Clone for StoreSnapshot {
    fn clone(&self) -> Self {
        postcard::from_bytes(&postcard::to_allocvec(self).expect("encodes")).expect("decodes")
    }
}

impl WalletStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The live key of `id`.
    pub fn get(&self, id: &KeyIdPair) -> Option<&Wallet> {
        self.wallets.get(id)
    }

    /// Whether a key of `id` is stored now.
    pub fn exists(&self, id: &KeyIdPair) -> bool {
        self.wallets.contains_key(id)
    }

    /// Whether `id` ever existed here (a permanent record).
    pub fn ever_existed(&self, id: &KeyIdPair) -> bool {
        self.nonces.contains_key(id)
    }

    /// The recorded nonce of `id`.
    pub fn nonce(&self, id: &KeyIdPair) -> Option<u64> {
        self.nonces.get(id).copied()
    }

    /// Live keys in (walletId, keyId) order.
    pub fn iter(&self) -> impl Iterator<Item = &Wallet> {
        self.wallets.values()
    }

    /// Live keys.
    pub fn len(&self) -> usize {
        self.wallets.len()
    }

    /// No live keys.
    pub fn is_empty(&self) -> bool {
        self.wallets.is_empty()
    }

    /// Fails unless `nonce` is above the recorded one (tee-node `CheckNonce`: strictly).
    pub fn check_nonce(&self, id: &KeyIdPair, nonce: u64) -> Result<(), Error> {
        match self.nonces.get(id) {
            Some(&stored) if nonce <= stored => {
                Err(Error::OperationFailed { reason: "nonce not above the stored one" })
            }
            _ => Ok(()),
        }
    }

    /// Whether `wallet` could be stored now with `nonce` (bounds; not present).
    pub fn check_insert(&self, id: &KeyIdPair) -> Result<(), Error> {
        if self.wallets.contains_key(id) {
            return Err(Error::OperationFailed { reason: "wallet with given wallet-key id already exists" });
        }
        if self.wallets.len() >= MAX_WALLET_KEYS {
            return Err(Error::TooMany { what: "wallet keys", count: self.wallets.len() + 1, max: MAX_WALLET_KEYS });
        }
        if !self.nonces.contains_key(id) && self.nonces.len() >= MAX_WALLET_RECORDS {
            return Err(Error::TooMany {
                what: "wallet records",
                count: self.nonces.len() + 1,
                max: MAX_WALLET_RECORDS,
            });
        }
        Ok(())
    }

    /// Stores `wallet` with `nonce` as its record's nonce.
    pub fn insert(&mut self, wallet: Wallet, nonce: u64) -> Result<(), Error> {
        self.check_insert(&wallet.id)?;
        self.nonces.insert(wallet.id, nonce);
        self.wallets.insert(wallet.id, wallet);
        self.changes += 1;
        Ok(())
    }

    /// Notes `hash` as the latest backup of `id`'s key (no change to seal: it is not sealed).
    pub fn note_backup(&mut self, id: &KeyIdPair, hash: H256) {
        if let Some(w) = self.wallets.get_mut(id) {
            w.latest_backup = Some(hash);
        }
    }

    /// The payment ledger of `id`'s key, if it signed a payment.
    pub fn ledger(&self, id: &KeyIdPair) -> Option<&ledger::Ledger> {
        self.ledgers.get(id)
    }

    /// `id`'s ledger as it would be after signing `intent` (nothing changes yet).
    pub fn admit_payment(&self, id: &KeyIdPair, intent: &ledger::Intent) -> Result<ledger::Ledger, Error> {
        match self.ledgers.get(id) {
            Some(l) => l.admit(intent),
            None if self.wallets.contains_key(id) => ledger::Ledger::new(intent.account).admit(intent),
            None => Err(Error::OperationFailed { reason: "wallet key not stored" }),
        }
    }

    /// Keeps `ledger` (from [`Self::admit_payment`]) as `id`'s.
    pub fn record_payment(&mut self, id: &KeyIdPair, ledger: ledger::Ledger) {
        if self.wallets.contains_key(id) && self.ledgers.get(id) != Some(&ledger) {
            self.ledgers.insert(*id, ledger);
            self.changes += 1;
        }
    }

    /// How many changes the store has seen (the engine seals again when this moves).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Everything, secrets included, for the sealed state.
    pub fn snapshot(&self) -> StoreSnapshot {
        StoreSnapshot {
            wallets: self
                .wallets
                .values()
                .map(|w| SealedWallet {
                    id: w.id,
                    key_type: w.key_type,
                    signing_algo: w.signing_algo,
                    secret: w.secret.to_bytes().into(),
                    restored: w.restored,
                    config: w.config.clone(),
                    settings_version: w.settings_version,
                    settings: w.settings.clone(),
                })
                .collect(),
            records: self.nonces.iter().map(|(k, n)| (*k, *n)).collect(),
            ledgers: self.ledgers.iter().map(|(k, l)| (*k, l.clone())).collect(),
        }
    }

    /// The store back from its sealed snapshot (bounds and every key checked).
    pub fn from_snapshot(snapshot: &StoreSnapshot) -> Result<Self, Error> {
        let bad = |what| Error::SealedStateInvalid { what };
        if snapshot.wallets.len() > MAX_WALLET_KEYS || snapshot.records.len() > MAX_WALLET_RECORDS {
            return Err(bad("wallet store beyond its bounds"));
        }
        let mut store = Self::new();
        for (id, nonce) in &snapshot.records {
            store.nonces.insert(*id, *nonce);
        }
        for w in &snapshot.wallets {
            let secret = SecretKey::from_bytes(&w.secret.into()).map_err(|_| bad("wallet secret"))?;
            if !store.nonces.contains_key(&w.id) || store.wallets.contains_key(&w.id) {
                return Err(bad("wallet without its record, or twice"));
            }
            let mut wallet = Wallet::new(w.id, w.key_type, w.signing_algo, secret, w.restored, w.config.clone());
            wallet.settings_version = w.settings_version;
            wallet.settings = w.settings.clone();
            store.wallets.insert(w.id, wallet);
        }
        for (id, ledger) in &snapshot.ledgers {
            ledger.check()?;
            if !store.wallets.contains_key(id) || store.ledgers.insert(*id, ledger.clone()).is_some() {
                return Err(bad("payment ledger without its key, or twice"));
            }
        }
        Ok(store)
    }

    /// Deletes the key of `id` (if stored) and records `nonce`; whether a key was stored.
    pub fn delete(&mut self, id: &KeyIdPair, nonce: u64) -> Result<bool, Error> {
        if !self.nonces.contains_key(id) {
            return Err(Error::OperationFailed { reason: "wallet never existed" });
        }
        self.check_nonce(id, nonce)?;
        self.nonces.insert(*id, nonce);
        self.changes += 1;
        // The ledger goes with the key (its bound is the live keys'); a key restored later
        // starts a new one, as in any other TEE it is restored to.
        self.ledgers.remove(id);
        Ok(self.wallets.remove(id).is_some())
    }
}
