//! ECIES over secp256k1 exactly as go-ethereum's `crypto/ecies` does it for `S256()` (its
//! `ECIES_AES128_SHA256` parameters) — the encryption Flare's data providers and TEEs use for
//! key splits and direct key transfers:
//!
//! ```text
//! R = r·G (fresh r)                 z  = x(r·P), 32 bytes big-endian
//! K  = SHA256(00000001 ‖ z ‖ s1)    Ke = K[0..16]   Km = SHA256(K[16..32])
//! em = IV(16, fresh) ‖ AES-128-CTR(Ke, IV, m)       (IV is the whole 128-bit big-endian counter)
//! d  = HMAC-SHA256(Km, em ‖ s2)
//! ciphertext = 0x04 ‖ x(R) ‖ y(R) ‖ em ‖ d          (113 bytes longer than m)
//! ```
//! Decryption takes only the uncompressed form of `R`, refuses points off the curve and the
//! identity, and checks the tag (in constant time) before it decrypts anything.

use alloc::vec::Vec;

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};
use k256::elliptic_curve::sec1::{FromSec1Point, ToSec1Point};
use k256::elliptic_curve::subtle::ConstantTimeEq;
use k256::sha2::{Digest, Sha256};
use k256::{AffinePoint, NonZeroScalar, ProjectivePoint};
use rand_core::TryCryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::entropy::draw32;
use crate::error::Error;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;
type HmacSha256 = hmac::Hmac<Sha256>;

/// Bytes of the ephemeral public key (uncompressed, with its 0x04 tag).
pub const POINT_LEN: usize = 65;
/// Bytes of the IV.
pub const IV_LEN: usize = 16;
/// Bytes of the tag.
pub const TAG_LEN: usize = 32;
/// How much longer a ciphertext is than its plaintext.
pub const OVERHEAD: usize = POINT_LEN + IV_LEN + TAG_LEN;

/// `x ‖ y` of a public key as a curve point; `None` off the curve.
pub fn point(public: &[u8; 64]) -> Option<AffinePoint> {
    let mut sec1 = [0u8; POINT_LEN];
    sec1[0] = 4;
    sec1[1..].copy_from_slice(public);
    parse_point(&sec1)
}

fn parse_point(sec1: &[u8; POINT_LEN]) -> Option<AffinePoint> {
    let encoded = k256::Sec1Point::from_bytes(sec1).ok()?;
    Option::from(AffinePoint::from_sec1_point(&encoded))
}

/// Encrypts `m` to `recipient` (`x ‖ y`) with shared infos `s1` (into the KDF) and `s2` (into
/// the tag), drawing the ephemeral key and the IV from `rng`.
pub fn encrypt(
    rng: &mut impl TryCryptoRng,
    recipient: &[u8; 64],
    m: &[u8],
    s1: &[u8],
    s2: &[u8],
) -> Result<Vec<u8>, Error> {
    let recipient = point(recipient).ok_or(Error::Malformed { what: "ECIES recipient key" })?;
    let ephemeral = loop {
        let mut bytes = Zeroizing::new(draw32(rng)?);
        if let Some(s) = Option::<NonZeroScalar>::from(NonZeroScalar::from_repr((*bytes).into())) {
            bytes.zeroize();
            break s;
        }
    };
    let mut iv = [0u8; IV_LEN];
    rng.try_fill_bytes(&mut iv).map_err(|_| Error::EntropyUnavailable)?;
    Ok(encrypt_with(&ephemeral, &iv, &recipient, m, s1, s2))
}

/// [`encrypt`] with a given ephemeral key and IV (known-answer tests).
pub fn encrypt_with(
    ephemeral: &NonZeroScalar,
    iv: &[u8; IV_LEN],
    recipient: &AffinePoint,
    m: &[u8],
    s1: &[u8],
    s2: &[u8],
) -> Vec<u8> {
    let r = (ProjectivePoint::GENERATOR * **ephemeral).to_affine();
    let (ke, km) = derive_keys(&shared_x(ephemeral, recipient), s1);
    let mut out = Vec::with_capacity(OVERHEAD + m.len());
    out.extend_from_slice(r.to_sec1_point(false).as_bytes());
    out.extend_from_slice(iv);
    let start = out.len();
    out.extend_from_slice(m);
    Aes128Ctr::new((&*ke).into(), iv.into()).apply_keystream(&mut out[start..]);
    let tag = tag(&km, &out[POINT_LEN..], s2);
    out.extend_from_slice(&tag);
    out
}

/// Decrypts what [`encrypt`] (or go-ethereum's `ecies.Encrypt`) made for `secret`'s public key.
pub fn decrypt(secret: &NonZeroScalar, ct: &[u8], s1: &[u8], s2: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    const WHAT: &str = "ECIES ciphertext";
    if ct.len() < OVERHEAD {
        return Err(Error::Truncated { what: WHAT, need: OVERHEAD, got: ct.len() });
    }
    let r: &[u8; POINT_LEN] = ct[..POINT_LEN].try_into().expect("length checked");
    if r[0] != 4 {
        return Err(Error::Malformed { what: "ECIES ephemeral key (uncompressed only)" });
    }
    let r = parse_point(r).ok_or(Error::Malformed { what: "ECIES ephemeral key" })?;
    let (ke, km) = derive_keys(&shared_x(secret, &r), s1);
    let body = &ct[POINT_LEN..ct.len() - TAG_LEN];
    if !bool::from(tag(&km, body, s2).ct_eq(&ct[ct.len() - TAG_LEN..])) {
        return Err(Error::Malformed { what: "ECIES tag" });
    }
    let (iv, em) = body.split_at(IV_LEN);
    let mut m = Zeroizing::new(em.to_vec());
    Aes128Ctr::new((&*ke).into(), iv.into()).apply_keystream(&mut m);
    Ok(m)
}

/// The x coordinate of `secret·point`, big-endian (never the identity: `secret` is non-zero and
/// the curve has prime order).
fn shared_x(secret: &NonZeroScalar, point: &AffinePoint) -> Zeroizing<[u8; 32]> {
    let shared = (ProjectivePoint::from(*point) * **secret).to_affine();
    let mut x = Zeroizing::new([0u8; 32]);
    x.copy_from_slice(&shared.to_sec1_point(false).as_bytes()[1..33]);
    x
}

/// go-ethereum's `deriveKeys`: one round of the NIST SP 800-56 concatenation KDF, then the MAC
/// half hashed once more.
fn derive_keys(z: &[u8; 32], s1: &[u8]) -> (Zeroizing<[u8; 16]>, Zeroizing<[u8; 32]>) {
    let k = Zeroizing::new(<[u8; 32]>::from(
        Sha256::new().chain_update(1u32.to_be_bytes()).chain_update(z).chain_update(s1).finalize(),
    ));
    let mut ke = Zeroizing::new([0u8; 16]);
    ke.copy_from_slice(&k[..16]);
    let km = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(&k[16..])));
    (ke, km)
}

fn tag(km: &[u8; 32], em: &[u8], s2: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(km).expect("HMAC takes any key length");
    mac.update(em);
    mac.update(s2);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::CountingRng;

    fn scalar(h: &str) -> NonZeroScalar {
        let b: [u8; 32] = hex::decode(h).unwrap().try_into().unwrap();
        NonZeroScalar::from_repr(b.into()).unwrap()
    }

    fn public(s: &NonZeroScalar) -> [u8; 64] {
        let p = (ProjectivePoint::GENERATOR * **s).to_affine();
        p.to_sec1_point(false).as_bytes()[1..].try_into().unwrap()
    }

    /// go-ethereum made this ciphertext (the RLPx v4 auth message of the devp2p handshake test
    /// vectors, fjl's gist, also in pydevp2p's `test_go_handshake.py`): ECIES with no shared
    /// infos, to the receiver's key. Our decryption must give back its plaintext exactly.
    #[test]
    fn decrypts_go_ethereums_ciphertext() {
        let receiver = scalar("c45f950382d542169ea207959ee0220ec1491755abe405cd7498d6b16adb6df8");
        let ct = hex::decode(GO_AUTH_CIPHERTEXT).unwrap();
        let pt = decrypt(&receiver, &ct, &[], &[]).unwrap();
        assert_eq!(hex::encode(&*pt), GO_AUTH_PLAINTEXT);
        // Any flipped bit anywhere is refused.
        for i in [0usize, 1, 64, 65, 80, 81, ct.len() - 33, ct.len() - 1] {
            let mut bad = ct.clone();
            bad[i] ^= 1;
            assert!(decrypt(&receiver, &bad, &[], &[]).is_err(), "byte {i}");
        }
        // The shared infos are bound.
        assert!(decrypt(&receiver, &ct, b"x", &[]).is_err());
        assert!(decrypt(&receiver, &ct, &[], b"x").is_err());
        // Another key cannot open it.
        assert!(decrypt(&scalar("01".repeat(32).as_str()), &ct, &[], &[]).is_err());
    }

    #[test]
    fn round_trips_and_bounds() {
        let sk = scalar("7ebbc6a8358bc76dd73ebc557056702c8cfc34e5cfcd90eb83af0347575fd2ad");
        let pk = public(&sk);
        let mut rng = CountingRng(3);
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let m: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let ct = encrypt(&mut rng, &pk, &m, b"s1", b"s2").unwrap();
            assert_eq!(ct.len(), m.len() + OVERHEAD);
            assert_eq!(&*decrypt(&sk, &ct, b"s1", b"s2").unwrap(), &m);
        }
        // Exactly the overhead is an empty message; one byte less is truncated.
        let ct = encrypt(&mut rng, &pk, &[], &[], &[]).unwrap();
        assert!(decrypt(&sk, &ct, &[], &[]).unwrap().is_empty());
        assert!(matches!(decrypt(&sk, &ct[..OVERHEAD - 1], &[], &[]), Err(Error::Truncated { .. })));
        // A compressed ephemeral key is not go-ethereum's format.
        let mut compressed = ct.clone();
        compressed[0] = 2;
        assert!(decrypt(&sk, &compressed, &[], &[]).is_err());
        // A recipient off the curve is refused.
        assert!(encrypt(&mut rng, &[1; 64], b"m", &[], &[]).is_err());
    }

    /// Encryption with a fixed ephemeral key and IV against a vector computed independently in
    /// Python (coincurve ECDH, pycryptodome AES-CTR/HMAC) from go-ethereum's definition; its
    /// recipient and ephemeral keys are go-ethereum's `TestSharedKeyPadding` keys.
    #[test]
    fn encrypts_as_the_independent_vector() {
        let recipient = scalar("1adf5c18167d96a1f9a0b1ef63be8aa27eaf6032c233b2b38f7850cf5b859fd9");
        let ephemeral = scalar("0097a076fc7fcd9208240668e31c9abee952cbb6e375d1b8febc7499d6e16f1a");
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let to = point(&public(&recipient)).unwrap();
        let ct = encrypt_with(&ephemeral, &iv, &to, b"hello flare", &[], &[]);
        assert_eq!(hex::encode(&ct), PY_CIPHERTEXT);
        assert_eq!(&*decrypt(&recipient, &ct, &[], &[]).unwrap(), b"hello flare");
        // go-ethereum's TestSharedKeyStatic: the shared x of two fixed keys.
        let a = scalar("7ebbc6a8358bc76dd73ebc557056702c8cfc34e5cfcd90eb83af0347575fd2ad");
        let b = scalar("6a3d6396903245bba5837752b9e0348874e72db0c4e11e9c485a81b4ea4353b9");
        let shared = shared_x(&a, &point(&public(&b)).unwrap());
        assert_eq!(hex::encode(*shared), "167ccc13ac5e8a26b131c3446030c60fbfac6aa8e31149d0869f93626a4cdf62");
    }

    const PY_CIPHERTEXT: &str = "046ab3ac374251f638d0abb3ef596d1dc67955b507c104e5f2009724812dc027b88ad915f2b503a8be6facab6588731fefeb584fd2dfa9a77a5e0bba1ec439e4fa000102030405060708090a0b0c0d0e0ff6ddac8c80d5a61dcf5e689457d66829a1e1f1cb5110a30e21ae6b02d61d6a37dd6b0a292b98a3552b7cc9";
    const GO_AUTH_PLAINTEXT: &str = "884c36f7ae6b406637c1f61b2f57e1d2cab813d24c6559aaf843c3f48962f32f46662c066d39669b7b2e3ba14781477417600e7728399278b1b5d801a519aa570034fdb5419558137e0d44cd13d319afe5629eeccb47fd9dfe55cc6089426e46cc762dd8a0636e07a54b31169eba0c7a20a1ac1ef68596f1f283b5c676bae4064abfcce24799d09f67e392632d3ffdc12e3d6430dcb0ea19c318343ffa7aae74d4cd26fecb93657d1cd9e9eaf4f8be720b56dd1d39f190c4e1c6b7ec66f077bb1100";
    const GO_AUTH_CIPHERTEXT: &str = "04a0274c5951e32132e7f088c9bdfdc76c9d91f0dc6078e848f8e3361193dbdc43b94351ea3d89e4ff33ddcefbc80070498824857f499656c4f79bbd97b6c51a514251d69fd1785ef8764bd1d262a883f780964cce6a14ff206daf1206aa073a2d35ce2697ebf3514225bef186631b2fd2316a4b7bcdefec8d75a1025ba2c5404a34e7795e1dd4bc01c6113ece07b0df13b69d3ba654a36e35e69ff9d482d88d2f0228e7d96fe11dccbb465a1831c7d4ad3a026924b182fc2bdfe016a6944312021da5cc459713b13b86a686cf34d6fe6615020e4acf26bf0d5b7579ba813e7723eb95b3cef9942f01a58bd61baee7c9bdd438956b426a4ffe238e61746a8c93d5e10680617c82e48d706ac4953f5e1c4c4f7d013c87d34a06626f498f34576dc017fdd3d581e83cfd26cf125b6d2bda1f1d56";
}
