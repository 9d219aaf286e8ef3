//! Entropy as the core takes it: 32 bytes at a time from the platform's source (or the TEE's
//! DRBG), refusing a source that is obviously broken.

use rand_core::TryCryptoRng;
use zeroize::Zeroize;

use crate::error::Error;

/// Draws 32 bytes, refusing obviously broken sources (a constant fill).
pub fn draw32(rng: &mut impl TryCryptoRng) -> Result<[u8; 32], Error> {
    let mut b = [0u8; 32];
    rng.try_fill_bytes(&mut b).map_err(|_| Error::EntropyUnavailable)?;
    if b.iter().all(|&x| x == b[0]) {
        b.zeroize();
        return Err(Error::EntropyUnavailable);
    }
    Ok(b)
}
