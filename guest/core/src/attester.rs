//! The attester: what the core needs from the platform it runs on — which TEE it is and hardware
//! evidence over 64 bytes of REPORT_DATA. The guest kernel's platform layer implements it; tests
//! and host tools use [`Simulated`].

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The kind of TEE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlatformKind {
    /// Plain QEMU/KVM: no hardware protection; attestation is simulated and worthless.
    Plain,
    /// AMD SEV-SNP.
    SevSnp,
    /// Intel TDX.
    Tdx,
}

impl PlatformKind {
    /// Lower-case name, as printed on the console and in the `platform` field of contracts.
    pub const fn name(self) -> &'static str {
        match self {
            PlatformKind::Plain => "plain",
            PlatformKind::SevSnp => "sev-snp",
            PlatformKind::Tdx => "tdx",
        }
    }

    /// Numeric code used in ABI-encoded info (0 plain, 1 SEV-SNP, 2 TDX).
    pub const fn code(self) -> u8 {
        match self {
            PlatformKind::Plain => 0,
            PlatformKind::SevSnp => 1,
            PlatformKind::Tdx => 2,
        }
    }
}

/// Which platform this is and its evidence: the one thing the core asks of the platform.
pub trait Attester {
    /// Which TEE this is.
    fn kind(&self) -> PlatformKind;
    /// Hardware evidence (SNP report, TDX quote...) whose REPORT_DATA is `report_data`.
    fn attest(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, Error>;
}

/// Magic that starts every simulated attestation; no production verifier accepts it.
pub const SIMULATED_MAGIC: &[u8; 32] = b"FCC-SIMULATED-ATTESTATION-NOT-HW";

/// A platform without hardware attestation (plain QEMU, tests). Its "evidence" is the magic
/// followed by the REPORT_DATA, and says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct Simulated;

impl Attester for Simulated {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Plain
    }

    fn attest(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(96);
        out.extend_from_slice(SIMULATED_MAGIC);
        out.extend_from_slice(report_data);
        Ok(out)
    }
}
