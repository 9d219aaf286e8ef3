//! The simulated attestation of plain QEMU: a labelled stand-in for local tests that no
//! production verifier accepts.
//!
//! ```text
//! 0..32    "FCC-SIMULATED-ATTESTATION-NOT-HW"   (fcc_core::attester::SIMULATED_MAGIC)
//! 32..96   REPORT_DATA                           (the identity binding, as in a real report)
//! 96..144  SHA-384 of the ROM                    (optional: fcc-core's `Simulated` omits it)
//! ```
//!
//! Nothing signs it: anyone can make one for any key, so it proves nothing about where the key
//! lives. [`crate::Verifier`] refuses it with [`Error::SimulatedAttestation`] unless
//! `allow_simulated` is set, and its verdict then says "simulated, not a TEE".

use fcc_core::attester::SIMULATED_MAGIC;

use crate::error::Error;

/// Size without the ROM hash (what fcc-core's `Simulated` platform emits today).
pub const SHORT_LEN: usize = 96;
/// Size with the ROM hash.
pub const LEN: usize = 144;

/// A decoded simulated attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulated {
    /// The REPORT_DATA it claims.
    pub report_data: [u8; 64],
    /// The image hash it claims, when present: the ROM's SHA-384, or the UEFI edition's
    /// Authenticode SHA-384 (`Manifest::match_simulated` tells which).
    pub rom_sha384: Option<[u8; 48]>,
}

/// Whether bytes are (or start like) a simulated attestation.
pub fn is_simulated(bytes: &[u8]) -> bool {
    bytes.starts_with(SIMULATED_MAGIC)
}

/// Encodes a simulated attestation with the ROM hash.
pub fn encode(report_data: &[u8; 64], rom_sha384: &[u8; 48]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LEN);
    out.extend_from_slice(SIMULATED_MAGIC);
    out.extend_from_slice(report_data);
    out.extend_from_slice(rom_sha384);
    out
}

/// Decodes either form.
pub fn decode(bytes: &[u8]) -> Result<Simulated, Error> {
    if !is_simulated(bytes) {
        return Err(Error::Malformed { what: "simulated attestation", reason: "no FCC-SIMULATED magic".into() });
    }
    if bytes.len() != SHORT_LEN && bytes.len() != LEN {
        return Err(Error::Length { what: "simulated attestation", len: bytes.len(), expected: "96 or 144" });
    }
    let report_data = bytes[32..96].try_into().expect("64 bytes");
    let rom_sha384 = (bytes.len() == LEN).then(|| bytes[96..144].try_into().expect("48 bytes"));
    Ok(Simulated { report_data, rom_sha384 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcc_core::attester::{Attester, Simulated as CoreSimulated};

    #[test]
    fn round_trips_and_reads_fcc_cores_form() {
        let rd = [7u8; 64];
        let rom = [9u8; 48];
        let enc = encode(&rd, &rom);
        assert_eq!(enc.len(), LEN);
        assert_eq!(&enc[..32], b"FCC-SIMULATED-ATTESTATION-NOT-HW");
        assert_eq!(decode(&enc).unwrap(), Simulated { report_data: rd, rom_sha384: Some(rom) });
        let core = CoreSimulated.attest(&rd).unwrap();
        assert_eq!(decode(&core).unwrap(), Simulated { report_data: rd, rom_sha384: None });
    }

    #[test]
    fn refuses_other_sizes_and_magics() {
        let enc = encode(&[1; 64], &[2; 48]);
        for n in [0, 31, 32, 95, 97, 143, 145] {
            let mut b = enc.clone();
            b.resize(n, 0);
            assert!(decode(&b).is_err(), "{n} bytes");
        }
        let mut b = enc.clone();
        b[0] ^= 1;
        assert!(matches!(decode(&b), Err(Error::Malformed { .. })));
    }
}
