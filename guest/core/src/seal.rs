//! Sealed state: what a TEE needs to come back after a reboot as the same TEE — its identity
//! key, its trust root, how far its light client had got, and its wallet keys with their
//! records — encrypted under a key only the same measured image on the same platform can derive
//! (SEV-SNP: MSG_KEY_REQ bound to the launch measurement and guest policy). The host keeps the
//! blob and hands it back at boot; it can withhold it (the guest then starts with a fresh
//! identity) but can neither read nor alter it.
//!
//! ```text
//! blob  = "FCCS" ‖ version u8 (4) ‖ platform u8 ‖ root version[8] ‖ nonce[12] ‖ ciphertext[n] ‖ tag[16]   (≤ MAX_SEALED_LEN)
//! plain = identity secret[32] ‖ trust-root epoch u32 ‖ trust-root hash[32] ‖ sealed epoch u32  (BE)
//!         ‖ postcard((wallet::StoreSnapshot, wallet::direct::MachinePaths))
//! key   = keccak256(bytes32("FCC_SEALING_KEY_V2") ‖ root key[32] ‖ uint256 platform ‖ root version[8] ‖ uint256 chainId ‖ uint256 scheme)
//! nonce = keccak256(bytes32("FCC_SEALING_NONCE_V1") ‖ key ‖ plain)[0..12]
//! AES-256-GCM(key, nonce, aad = blob[0..14], plain)
//! ```
//! `scheme` is 0 for legacy policy hashes, else 1 (the chain id is bound already). The root
//! version says which of the platform's root keys sealed the blob, so the guest can ask for that
//! one again before it can open anything (it is read unauthenticated by [`root_version`], then
//! authenticated as part of the header): on SEV-SNP the TCB_VERSION the MSG_KEY_REQ key was
//! derived at (eight bytes as in the attestation report), elsewhere zero. The nonce is
//! synthetic (derived from key and plaintext, as in SIV): the same state always seals to the same
//! blob and two different states never share a nonce, without an RNG or a counter that would have
//! to survive reboots. The sealed epoch is a floor: a resumed TEE refuses instructions until its
//! light client is back at that epoch, so a host cannot resume it into an older policy history
//! than the one it reached — except by handing back an older blob (there is no monotonic counter
//! a guest can use on SEV-SNP; see `docs/PROTOCOL.md`).
//!
//! Plain QEMU has no hardware key: [`SealingKey::simulated`] uses a published constant, so its
//! blobs are readable and forgeable by anyone — the platform byte says so and no other platform
//! opens them.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::attester::PlatformKind;
use crate::config::Config;
use crate::error::Error;
use crate::hash::{H256, keccak256_concat};
use crate::limits::MAX_SEALED_LEN;
use crate::op;
use crate::policy::PolicyHashScheme;
use crate::{abi, aead};

/// First bytes of every sealed blob.
pub const MAGIC: &[u8; 4] = b"FCCS";
/// Format version (4: payment ledgers; 3 had none; 2 had a fixed 114-byte blob).
pub const VERSION: u8 = 4;
/// Bytes of the fixed part of the plaintext.
pub const FIXED_PLAIN_LEN: usize = 32 + 4 + 32 + 4;
/// Bytes of the authenticated header (magic, version, platform, root version).
pub const HEADER_LEN: usize = 14;
/// Bytes of the smallest blob: no wallet keys, records or ledgers (three empty lists), no
/// machine paths (an empty list, nonce 0, a zero hash).
pub const MIN_SEALED_LEN: usize = HEADER_LEN + 12 + FIXED_PLAIN_LEN + 3 + (1 + 1 + 32) + 16;
const _: () = assert!(MIN_SEALED_LEN == 151);
/// Domain of the key derivation.
pub const KEY_DOMAIN: [u8; 32] = op::name("FCC_SEALING_KEY_V2");
/// Domain of the synthetic nonce.
pub const NONCE_DOMAIN: [u8; 32] = op::name("FCC_SEALING_NONCE_V1");
/// The root key of simulated sealing (plain QEMU): public, so it protects nothing.
pub const SIMULATED_ROOT: [u8; 32] = op::name("FCC-SIMULATED-SEALING-NOT-SECRET");

/// What is sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedState {
    /// The identity key's secret scalar.
    pub identity_secret: Zeroizing<[u8; 32]>,
    /// The trust root: (reward epoch, policy hash).
    pub trust_root: (u32, H256),
    /// The active policy's epoch when sealed.
    pub epoch: u32,
    /// The wallet keys and records.
    pub wallets: crate::wallet::StoreSnapshot,
    /// The governance-signed machine paths (a reboot must not reset their nonce).
    pub paths: crate::wallet::direct::MachinePaths,
}

impl core::fmt::Debug for SealedState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.debug_struct("SealedState")
            .field("trust_root", &self.trust_root)
            .field("epoch", &self.epoch)
            .field("wallets", &self.wallets)
            .field("paths", &self.paths.nonce())
            .finish_non_exhaustive()
    }
}

/// Which of the platform's root keys a blob was sealed under (SEV-SNP: its TCB_VERSION),
/// read from the header before anything is authenticated — only to know which root key to ask
/// the platform for; [`SealingKey::open`] then authenticates it. `None`: not a blob of this
/// format.
pub fn root_version(blob: &[u8]) -> Option<[u8; 8]> {
    ((MIN_SEALED_LEN..=MAX_SEALED_LEN).contains(&blob.len()) && &blob[..4] == MAGIC && blob[4] == VERSION)
        .then(|| blob[6..HEADER_LEN].try_into().expect("8 bytes"))
}

/// The key sealed state is encrypted under, for one platform, one of its root keys and one
/// configuration.
pub struct SealingKey {
    key: Zeroizing<[u8; 32]>,
    platform: PlatformKind,
    root_version: [u8; 8],
}

impl core::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SealingKey")
            .field("platform", &self.platform)
            .field("root_version", &self.root_version)
            .finish_non_exhaustive()
    }
}

impl SealingKey {
    /// Derives the key from the platform's root key (wiped by the caller), which version of it
    /// that is (SEV-SNP: the TCB_VERSION it was derived at) and the TEE's configuration, so a
    /// blob never opens for another chain or policy-hash scheme.
    pub fn derive(root: &[u8; 32], platform: PlatformKind, root_version: [u8; 8], config: &Config) -> Self {
        let scheme = match config.policy_hash {
            PolicyHashScheme::Legacy => 0,
            PolicyHashScheme::ChainBound { .. } => 1,
        };
        let key = keccak256_concat(&[
            &KEY_DOMAIN,
            root,
            &abi::uint(u64::from(platform.code())),
            &root_version,
            &abi::uint(config.chain_id),
            &abi::uint(scheme),
        ]);
        Self { key: Zeroizing::new(key), platform, root_version }
    }

    /// Plain QEMU's labelled stand-in: derived from [`SIMULATED_ROOT`], which is public.
    pub fn simulated(config: &Config) -> Self {
        Self::derive(&SIMULATED_ROOT, PlatformKind::Plain, [0; 8], config)
    }

    /// The platform whose blobs this key seals and opens.
    pub fn platform(&self) -> PlatformKind {
        self.platform
    }

    /// Which version of the platform's root key this is (see [`root_version`]).
    pub fn root_version(&self) -> [u8; 8] {
        self.root_version
    }

    /// Seals `state` (deterministic: see the module documentation). Fails only if the state
    /// would exceed `MAX_SEALED_LEN` (the wallet store's bounds keep it within).
    pub fn seal(&self, state: &SealedState) -> Result<Vec<u8>, Error> {
        let mut plain = Zeroizing::new(Vec::with_capacity(FIXED_PLAIN_LEN + 64));
        plain.extend_from_slice(&*state.identity_secret);
        plain.extend_from_slice(&state.trust_root.0.to_be_bytes());
        plain.extend_from_slice(&state.trust_root.1);
        plain.extend_from_slice(&state.epoch.to_be_bytes());
        let wallets = Zeroizing::new(
            postcard::to_allocvec(&(&state.wallets, &state.paths))
                .map_err(|_| Error::Malformed { what: "wallet store" })?,
        );
        plain.extend_from_slice(&wallets);
        let len = HEADER_LEN + 12 + plain.len() + 16;
        if len > MAX_SEALED_LEN {
            return Err(Error::TooLarge { what: "sealed state", len, max: MAX_SEALED_LEN });
        }
        let nonce = keccak256_concat(&[&NONCE_DOMAIN, &*self.key, &plain]);
        let nonce: [u8; 12] = nonce[..12].try_into().expect("12 bytes");
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.platform.code());
        out.extend_from_slice(&self.root_version);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain);
        let (header, rest) = out.split_at_mut(HEADER_LEN);
        let tag = aead::encrypt(&self.key, &nonce, header, &mut rest[12..]).map_err(|_| Error::TooLarge {
            what: "sealed state",
            len,
            max: MAX_SEALED_LEN,
        })?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens a blob sealed by this key. Every failure is [`Error::SealedStateInvalid`] naming
    /// what was wrong; nothing of a blob that fails is used.
    pub fn open(&self, blob: &[u8]) -> Result<SealedState, Error> {
        let invalid = |what| Error::SealedStateInvalid { what };
        if !(MIN_SEALED_LEN..=MAX_SEALED_LEN).contains(&blob.len()) {
            return Err(invalid("length"));
        }
        if &blob[..4] != MAGIC || blob[4] != VERSION {
            return Err(invalid("magic or version"));
        }
        if blob[5] != self.platform.code() {
            return Err(invalid("platform (sealed on another platform)"));
        }
        if blob[6..HEADER_LEN] != self.root_version {
            return Err(invalid("root version (sealed under another root key)"));
        }
        let (header, rest) = blob.split_at(HEADER_LEN);
        let (nonce, rest) = rest.split_at(12);
        let (body, tag) = rest.split_at(rest.len() - 16);
        let nonce: [u8; 12] = nonce.try_into().expect("12 bytes");
        let tag: [u8; 16] = tag.try_into().expect("16 bytes");
        let mut plain = Zeroizing::new(body.to_vec());
        // On failure nothing of the unauthenticated bytes is used (`plain` is wiped when dropped).
        aead::decrypt(&self.key, &nonce, header, &mut plain, &tag)
            .map_err(|_| invalid("authentication (another image, platform, chain or a tampered blob)"))?;
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&plain[..32]);
        let root_epoch = u32::from_be_bytes(plain[32..36].try_into().expect("4 bytes"));
        let root_hash: H256 = plain[36..68].try_into().expect("32 bytes");
        let epoch = u32::from_be_bytes(plain[68..72].try_into().expect("4 bytes"));
        if epoch < root_epoch {
            return Err(invalid("epoch before the trust root"));
        }
        let (wallets, paths) = match postcard::take_from_bytes(&plain[FIXED_PLAIN_LEN..]) {
            Ok((w, [])) => w,
            _ => return Err(invalid("wallet store")),
        };
        Ok(SealedState { identity_secret: secret, trust_root: (root_epoch, root_hash), epoch, wallets, paths })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(chain_id: u64) -> Config {
        Config { chain_id, policy_hash: PolicyHashScheme::ChainBound { chain_id }, registration: None }
    }

    /// A Milan TCB_VERSION as the report holds it: bootloader 3, TEE 0, SNP 8, microcode 115.
    const TCB: [u8; 8] = [3, 0, 0, 0, 0, 0, 8, 115];

    fn state() -> SealedState {
        SealedState {
            identity_secret: Zeroizing::new([0x11; 32]),
            trust_root: (7, [0x22; 32]),
            epoch: 9,
            wallets: Default::default(),
            paths: Default::default(),
        }
    }

    #[test]
    fn seals_deterministically_and_opens() {
        let key = SealingKey::derive(&[0x5a; 32], PlatformKind::SevSnp, TCB, &config(14));
        let blob = key.seal(&state()).unwrap();
        assert_eq!(blob, key.seal(&state()).unwrap());
        assert_eq!(blob.len(), MIN_SEALED_LEN);
        assert_eq!(&blob[..6], b"FCCS\x04\x01");
        assert_eq!((root_version(&blob), key.root_version()), (Some(TCB), TCB));
        assert_eq!(key.open(&blob).unwrap(), state());
        let mut later = state();
        later.epoch = 10;
        // Another plaintext, another nonce.
        assert_ne!(key.seal(&later).unwrap()[14..26], blob[14..26]);
    }

    #[test]
    fn every_tampering_and_every_other_key_is_refused() {
        let key = SealingKey::derive(&[0x5a; 32], PlatformKind::SevSnp, TCB, &config(14));
        let blob = key.seal(&state()).unwrap();
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert!(matches!(key.open(&bad), Err(Error::SealedStateInvalid { .. })), "byte {i}");
        }
        assert!(key.open(&blob[..blob.len() - 1]).is_err());
        assert!(key.open(&[blob.as_slice(), &[0]].concat()).is_err());
        let others = [
            SealingKey::derive(&[0x5b; 32], PlatformKind::SevSnp, TCB, &config(14)),
            SealingKey::derive(&[0x5a; 32], PlatformKind::SevSnp, TCB, &config(19)),
            SealingKey::derive(
                &[0x5a; 32],
                PlatformKind::SevSnp,
                TCB,
                &Config { chain_id: 14, policy_hash: PolicyHashScheme::Legacy, registration: None },
            ),
        ];
        for other in &others {
            assert_eq!(
                other.open(&blob).unwrap_err(),
                Error::SealedStateInvalid {
                    what: "authentication (another image, platform, chain or a tampered blob)"
                }
            );
        }
        // The same root key labelled with another version: refused before any decryption.
        let relabelled = SealingKey::derive(&[0x5a; 32], PlatformKind::SevSnp, [0; 8], &config(14));
        assert_eq!(
            relabelled.open(&blob).unwrap_err(),
            Error::SealedStateInvalid { what: "root version (sealed under another root key)" }
        );
        // Simulated blobs never open on a hardware platform, whatever the root.
        let simulated = SealingKey::simulated(&config(14)).seal(&state()).unwrap();
        assert_eq!(
            key.open(&simulated).unwrap_err(),
            Error::SealedStateInvalid { what: "platform (sealed on another platform)" }
        );
    }

    #[test]
    fn the_root_version_is_read_only_from_blobs_of_this_format() {
        let blob = SealingKey::derive(&[1; 32], PlatformKind::SevSnp, TCB, &config(14)).seal(&state()).unwrap();
        assert_eq!(root_version(&blob), Some(TCB));
        assert_eq!(root_version(&blob[..MIN_SEALED_LEN - 1]), None);
        assert_eq!(root_version(&[blob.as_slice(), &[0; MAX_SEALED_LEN]].concat()), None);
        let mut v2 = blob.clone();
        v2[4] = 2;
        assert_eq!(root_version(&v2), None, "a version 2 blob");
        assert_eq!(root_version(&[0; MIN_SEALED_LEN]), None);
    }

    #[test]
    fn an_epoch_before_the_root_is_refused_even_when_authentic() {
        let key = SealingKey::simulated(&config(14));
        let mut s = state();
        s.epoch = 6;
        assert!(matches!(
            key.open(&key.seal(&s).unwrap()),
            Err(Error::SealedStateInvalid { what: "epoch before the trust root" })
        ));
    }
}
