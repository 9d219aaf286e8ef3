//! The ABI messages of the wallet operations (go-flare-common `pkg/tee/structs/wallet`),
//! decoded strictly: every decoder re-encodes what it read and requires the same bytes, so one
//! message has one encoding.
//!
//! ```text
//! KeyGenerate  = (address teeId, bytes32 walletId, uint64 keyId, bytes32 keyType, bytes32 signingAlgo,
//!                 KeyConfigConstants configConstants)
//! KeyConfigConstants = ((bytes32 x, bytes32 y)[] adminsPublicKeys, uint64 adminsThreshold,
//!                 address[] cosigners, uint64 cosignersThreshold)
//! KeyDelete    = (address teeId, bytes32 walletId, uint64 keyId, uint256 nonce)            (static)
//! KeyExistence = (address teeId, bytes32 walletId, uint64 keyId, bytes32 keyType, bytes32 signingAlgo,
//!                 bytes publicKey, uint256 nonce, bool restored, KeyConfigConstants configConstants,
//!                 bytes32 settingsVersion, bytes settings)
//! BackupId     = (address teeId, bytes32 walletId, uint64 keyId, bytes32 keyType, bytes32 signingAlgo,
//!                 bytes publicKey, uint32 rewardEpochId, bytes32 randomNonce)
//! KeyDataProviderRestore = ((bytes32 x, bytes32 y) teePublicKey, BackupId backupId, string backupUrl,
//!                 uint256 nonce)
//! ```

use alloc::vec::Vec;

use super::{ConfigConstants, KeyIdPair, Wallet};
use crate::abi::{self, Reader, Token, Word};
use crate::error::Error;
use crate::hash::H256;
use crate::limits::{MAX_URL_LEN, MAX_WALLET_ADMINS, MAX_WALLET_COSIGNERS};
use crate::policy::Address;

/// `KeyGenerate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGenerate {
    /// The TEE asked.
    pub tee_id: Address,
    /// The key's name.
    pub id: KeyIdPair,
    /// Key type.
    pub key_type: H256,
    /// Signing algorithm.
    pub signing_algo: H256,
    /// Admins and cosigners.
    pub config: ConfigConstants,
}

fn config_tokens(c: &ConfigConstants) -> [Token<'_>; 4] {
    [
        Token::PublicKeys(&c.admins),
        Token::Word(abi::uint(c.admins_threshold)),
        Token::Addresses(&c.cosigners),
        Token::Word(abi::uint(c.cosigners_threshold)),
    ]
}

fn read_config(r: &Reader<'_>, at: usize) -> Result<ConfigConstants, Error> {
    Ok(ConfigConstants {
        admins: r.public_keys_at(r.offset(at, at)?, MAX_WALLET_ADMINS)?,
        admins_threshold: r.uint(at + 32, 64)?,
        cosigners: r.addresses_at(r.offset(at, at + 64)?, MAX_WALLET_COSIGNERS)?,
        cosigners_threshold: r.uint(at + 96, 64)?,
    })
}

impl KeyGenerate {
    /// `abi.encode(KeyGenerate)`.
    pub fn encode(&self) -> Vec<u8> {
        let config = config_tokens(&self.config);
        abi::encode_dynamic_struct(&[
            Token::Word(abi::address(&self.tee_id)),
            Token::Word(self.id.wallet_id),
            Token::Word(abi::uint(self.id.key_id)),
            Token::Word(self.key_type),
            Token::Word(self.signing_algo),
            Token::Tuple(&config),
        ])
    }

    /// Decodes `abi.encode(KeyGenerate)` strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let r = Reader::new(bytes, "KeyGenerate");
        let base = r.offset(0, 0)?;
        let v = Self {
            tee_id: r.address(base)?,
            id: KeyIdPair { wallet_id: *r.word(base + 32)?, key_id: r.uint(base + 64, 64)? },
            key_type: *r.word(base + 96)?,
            signing_algo: *r.word(base + 128)?,
            config: read_config(&r, r.offset(base, base + 160)?)?,
        };
        r.canonical(&v.encode())?;
        Ok(v)
    }
}

/// A `uint256` nonce at `at` that must fit 64 bits: tee-node decodes the word and refuses a
/// larger value as an operation error (`reason`), not as malformed input.
pub(crate) fn nonce_u64(r: &Reader<'_>, at: usize, reason: &'static str) -> Result<u64, Error> {
    if r.word(at)?[..24].iter().any(|&b| b != 0) {
        return Err(Error::OperationFailed { reason });
    }
    r.uint(at, 64)
}

/// `KeyDelete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDelete {
    /// The TEE named (not checked: tee-node checks the instruction's teeId).
    pub tee_id: Address,
    /// The key.
    pub id: KeyIdPair,
    /// Must exceed the recorded nonce (a uint256 on the wire; beyond 64 bits is refused).
    pub nonce: u64,
}

impl KeyDelete {
    /// `abi.encode(KeyDelete)` (a static tuple: four words).
    pub fn encode(&self) -> Vec<u8> {
        abi::encode_tuple(&[
            Token::Word(abi::address(&self.tee_id)),
            Token::Word(self.id.wallet_id),
            Token::Word(abi::uint(self.id.key_id)),
            Token::Word(abi::uint(self.nonce)),
        ])
    }

    /// Decodes `abi.encode(KeyDelete)` strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let r = Reader::new(bytes, "KeyDelete");
        let v = Self {
            tee_id: r.address(0)?,
            id: KeyIdPair { wallet_id: *r.word(32)?, key_id: r.uint(64, 64)? },
            nonce: nonce_u64(&r, 96, "nonce too large")?,
        };
        r.canonical(&v.encode())?;
        Ok(v)
    }
}

/// `abi.encode(KeyExistence)` of `wallet` held by `tee_id` with record nonce `nonce`: what
/// `Payload{TEE_KEY_EXISTENCE}` signs (its keccak is the data hash).
pub fn key_existence(tee_id: &Address, wallet: &Wallet, nonce: u64) -> Vec<u8> {
    let config = config_tokens(&wallet.config);
    abi::encode_dynamic_struct(&[
        Token::Word(abi::address(tee_id)),
        Token::Word(wallet.id.wallet_id),
        Token::Word(abi::uint(wallet.id.key_id)),
        Token::Word(wallet.key_type),
        Token::Word(wallet.signing_algo),
        Token::Bytes(&wallet.public),
        Token::Word(abi::uint(nonce)),
        Token::Word(abi::uint(u64::from(wallet.restored))),
        Token::Tuple(&config),
        Token::Word(wallet.settings_version),
        Token::Bytes(&wallet.settings),
    ])
}

/// `WalletBackupID` / the ABI `BackupId`: which backup of which key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupId {
    /// The TEE that made the backup.
    pub tee_id: Address,
    /// The key.
    pub id: KeyIdPair,
    /// `x ‖ y` of the key.
    #[serde(with = "crate::serde_fixed")]
    pub public_key: [u8; 64],
    /// Key type.
    pub key_type: H256,
    /// Signing algorithm.
    pub signing_algo: H256,
    /// The active policy's epoch when the backup was made.
    pub reward_epoch_id: u32,
    /// Fresh per backup.
    pub random_nonce: H256,
}

impl BackupId {
    fn words(&self) -> [Word; 5] {
        [abi::address(&self.tee_id), self.id.wallet_id, abi::uint(self.id.key_id), self.key_type, self.signing_algo]
    }

    /// The tuple's tokens (ABI order: the public key after the signing algorithm).
    pub(crate) fn with_tokens<R>(&self, f: impl FnOnce(&[Token<'_>]) -> R) -> R {
        let w = self.words();
        f(&[
            Token::Word(w[0]),
            Token::Word(w[1]),
            Token::Word(w[2]),
            Token::Word(w[3]),
            Token::Word(w[4]),
            Token::Bytes(&self.public_key),
            Token::Word(abi::uint(u64::from(self.reward_epoch_id))),
            Token::Word(self.random_nonce),
        ])
    }

    /// `abi.encode(BackupId)` (tee-node compares backup ids by this encoding).
    pub fn encode(&self) -> Vec<u8> {
        self.with_tokens(abi::encode_dynamic_struct)
    }

    pub(crate) fn read(r: &Reader<'_>, at: usize) -> Result<Self, Error> {
        let public = r.bytes_at(r.offset(at, at + 160)?, 64)?;
        Ok(Self {
            tee_id: r.address(at)?,
            id: KeyIdPair { wallet_id: *r.word(at + 32)?, key_id: r.uint(at + 64, 64)? },
            key_type: *r.word(at + 96)?,
            signing_algo: *r.word(at + 128)?,
            public_key: public
                .try_into()
                .map_err(|_| Error::OperationFailed { reason: "unsupported public key format" })?,
            reward_epoch_id: r.uint(at + 192, 32)? as u32,
            random_nonce: *r.word(at + 224)?,
        })
    }
}

/// `KeyDataProviderRestore`: the instruction that rebuilds a key in the TEE holding
/// `tee_public_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDataProviderRestore<'a> {
    /// The restoring TEE's public key.
    pub tee_public_key: [u8; 64],
    /// The backup.
    pub backup_id: BackupId,
    /// Where the providers fetched it.
    pub backup_url: &'a [u8],
    /// The record nonce the restored key gets (a uint256 on the wire; beyond 64 bits is refused).
    pub nonce: u64,
}

impl KeyDataProviderRestore<'_> {
    /// `abi.encode(KeyDataProviderRestore)`.
    pub fn encode(&self) -> Vec<u8> {
        self.backup_id.with_tokens(|backup| {
            abi::encode_dynamic_struct(&[
                Token::Inline(&self.tee_public_key),
                Token::Tuple(backup),
                Token::Bytes(self.backup_url),
                Token::Word(abi::uint(self.nonce)),
            ])
        })
    }
}

/// Decodes `abi.encode(KeyDataProviderRestore)` strictly.
pub fn decode_restore(bytes: &[u8]) -> Result<KeyDataProviderRestore<'_>, Error> {
    let r = Reader::new(bytes, "KeyDataProviderRestore");
    let base = r.offset(0, 0)?;
    let mut tee_public_key = [0u8; 64];
    tee_public_key[..32].copy_from_slice(r.word(base)?);
    tee_public_key[32..].copy_from_slice(r.word(base + 32)?);
    let v = KeyDataProviderRestore {
        tee_public_key,
        backup_id: BackupId::read(&r, r.offset(base, base + 64)?)?,
        backup_url: r.bytes_at(r.offset(base, base + 96)?, MAX_URL_LEN)?,
        nonce: nonce_u64(&r, base + 128, "nonce too large")?,
    };
    r.canonical(&v.encode())?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::{EVM_SIGN_ALGO, KEY_TYPE_EVM};

    fn point(secret: u64) -> [u8; 64] {
        use k256::elliptic_curve::sec1::ToSec1Point;
        let p = (k256::ProjectivePoint::GENERATOR * k256::Scalar::from(secret)).to_affine();
        p.to_sec1_point(false).as_bytes()[1..].try_into().unwrap()
    }

    /// Vectors computed with eth-abi (Python) from go-flare-common's struct definitions, and the
    /// TEE signature with libsecp256k1 (`docs/PROTOCOL.md` §13 lists them).
    #[test]
    fn known_answers() {
        let mut tee = [0u8; 20];
        tee[19] = 0xaa;
        let config = ConfigConstants {
            admins: alloc::vec![point(1), point(2)],
            admins_threshold: 2,
            cosigners: alloc::vec![[0x11; 20]],
            cosigners_threshold: 1,
        };
        let id = KeyIdPair { wallet_id: [0x22; 32], key_id: 7 };
        let kg = KeyGenerate {
            tee_id: tee,
            id,
            key_type: KEY_TYPE_EVM,
            signing_algo: EVM_SIGN_ALGO,
            config: config.clone(),
        };
        assert_eq!(hex::encode(kg.encode()), KEY_GENERATE);
        assert_eq!(KeyGenerate::decode(&hex::decode(KEY_GENERATE).unwrap()).unwrap(), kg);
        let kd = KeyDelete { tee_id: tee, id, nonce: 5 };
        assert_eq!(hex::encode(kd.encode()), KEY_DELETE);
        assert_eq!(KeyDelete::decode(&hex::decode(KEY_DELETE).unwrap()).unwrap(), kd);
        let secret = k256::SecretKey::from_bytes(&k256::Scalar::from(3u64).to_bytes()).unwrap();
        let wallet = Wallet::new(id, KEY_TYPE_EVM, EVM_SIGN_ALGO, secret, false, config);
        let proof = key_existence(&tee, &wallet, 0);
        assert_eq!(hex::encode(&proof), KEY_EXISTENCE);
        let hash = crate::instruction::payload_hash(
            &crate::ops::wallet::PREFIX_TEE_KEY_EXISTENCE,
            14,
            &crate::hash::keccak256(&proof),
        );
        let mut four = [0u8; 32];
        four[31] = 4;
        let signer = crate::identity::TeeIdentity::from_secret_for_tests(&four).unwrap();
        assert_eq!(hex::encode(signer.sign_digest(&crate::hash::eip191_hash(&hash))), TEE_SIGNATURE);
    }

    #[test]
    fn non_canonical_and_out_of_bounds_are_refused() {
        let good = hex::decode(KEY_GENERATE).unwrap();
        let mut long = good.clone();
        long.extend_from_slice(&[0; 32]);
        assert!(KeyGenerate::decode(&long).is_err(), "trailing word");
        assert!(KeyGenerate::decode(&good[..good.len() - 32]).is_err(), "truncated");
        let mut bad_offset = good.clone();
        bad_offset[31] = 0x40;
        assert!(KeyGenerate::decode(&bad_offset).is_err());
        let mut big_nonce = hex::decode(KEY_DELETE).unwrap();
        big_nonce[96] = 1;
        assert_eq!(KeyDelete::decode(&big_nonce), Err(Error::OperationFailed { reason: "nonce too large" }));
    }

    const KEY_GENERATE: &str = "000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000aa2222222222222222222222222222222222222222222222222222222222222222000000000000000000000000000000000000000000000000000000000000000745564d00000000000000000000000000000000000000000000000000000000006b656363616b3235362d736563703235366b312d65636473610000000000000000000000000000000000000000000000000000000000000000000000000000c00000000000000000000000000000000000000000000000000000000000000080000000000000000000000000000000000000000000000000000000000000000200000000000000000000000000000000000000000000000000000000000001200000000000000000000000000000000000000000000000000000000000000001000000000000000000000000000000000000000000000000000000000000000279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee51ae168fea63dc339a3c58419466ceaeef7f632653266d0e1236431a950cfe52a00000000000000000000000000000000000000000000000000000000000000010000000000000000000000001111111111111111111111111111111111111111";
    const KEY_DELETE: &str = "00000000000000000000000000000000000000000000000000000000000000aa222222222222222222222222222222222222222222222222222222222222222200000000000000000000000000000000000000000000000000000000000000070000000000000000000000000000000000000000000000000000000000000005";
    const KEY_EXISTENCE: &str = "000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000aa2222222222222222222222222222222222222222222222222222222222222222000000000000000000000000000000000000000000000000000000000000000745564d00000000000000000000000000000000000000000000000000000000006b656363616b3235362d736563703235366b312d65636473610000000000000000000000000000000000000000000000000000000000000000000000000001600000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001c0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000003200000000000000000000000000000000000000000000000000000000000000040f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9388f7b0f632de8140fe337e62a37f3566500a99934c2231b6cb9fd7584b8e6720000000000000000000000000000000000000000000000000000000000000080000000000000000000000000000000000000000000000000000000000000000200000000000000000000000000000000000000000000000000000000000001200000000000000000000000000000000000000000000000000000000000000001000000000000000000000000000000000000000000000000000000000000000279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee51ae168fea63dc339a3c58419466ceaeef7f632653266d0e1236431a950cfe52a000000000000000000000000000000000000000000000000000000000000000100000000000000000000000011111111111111111111111111111111111111110000000000000000000000000000000000000000000000000000000000000000";
    const TEE_SIGNATURE: &str = "dc917085d6fd957262dda36af537ea30db0f2ce279a5c58ab2c59135881ce9cf449a26a856e5214124f5303de2f5607ad7f9431e10a840944d75d9ad68bbda9201";
}
