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

    /// The platform as a `bytes32` name: [`Self::name`] right-padded — the attestation
    /// statement's and the contracts' `platform` (`TeeExtensionRegistry`), one name for both.
    pub const fn id(self) -> [u8; 32] {
        crate::op::name(self.name())
    }

    /// Numeric code in the sealed state and its key derivation (0 plain, 1 SEV-SNP, 2 TDX).
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
    /// The 48-byte launch measurement the platform reports for this guest (SNP MEASUREMENT,
    /// TDX MRTD, plain QEMU: the ROM's SHA-384 as the guest reads it), `None` when unknown.
    fn measurement(&mut self) -> Option<[u8; 48]>;
}

/// Magic that starts every simulated attestation; no production verifier accepts it.
pub const SIMULATED_MAGIC: &[u8; 32] = b"FCC-SIMULATED-ATTESTATION-NOT-HW";

/// A platform without hardware attestation (plain QEMU, tests). Its "evidence" is the magic
/// followed by the REPORT_DATA, and says so; it knows no measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Simulated;

impl Attester for Simulated {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Plain
    }

    fn attest(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, Error> {
        Ok(simulated_evidence(report_data, None))
    }

    fn measurement(&mut self) -> Option<[u8; 48]> {
        None
    }
}

/// [`Simulated`] that knows its image's hash (the ROM's SHA-384, read from itself; the UEFI edition's
/// logged Authenticode): the evidence carries it after the REPORT_DATA. Self-reported, like all.
#[derive(Debug, Clone, Copy)]
pub struct SimulatedRom(pub [u8; 48]);

impl Attester for SimulatedRom {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Plain
    }

    fn attest(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, Error> {
        Ok(simulated_evidence(report_data, Some(&self.0)))
    }

    fn measurement(&mut self) -> Option<[u8; 48]> {
        Some(self.0)
    }
}

/// `SIMULATED_MAGIC ‖ report_data [‖ rom_sha384]` (fcc-attest's `simulated` module reads it).
pub fn simulated_evidence(report_data: &[u8; 64], rom_sha384: Option<&[u8; 48]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(144);
    out.extend_from_slice(SIMULATED_MAGIC);
    out.extend_from_slice(report_data);
    if let Some(rom) = rom_sha384 {
        out.extend_from_slice(rom);
    }
    out
}

/// The last piece of hardware evidence and the statement it is over, so that a burst of
/// connections asking for the same REPORT_DATA costs one hardware request, not one each: hosts
/// throttle them (SEV-SNP guest requests, TDX quotes), and a cached answer is exactly as good
/// as a new one while it is fresh. Time is whatever monotonic tick the caller counts in.
#[derive(Debug, Default)]
pub struct EvidenceCache {
    last: Option<Cached>,
}

#[derive(Debug)]
struct Cached {
    report_data: [u8; 64],
    evidence: Vec<u8>,
    at: u64,
}

impl EvidenceCache {
    /// How long hardware evidence for one statement is served again (seconds): a burst of
    /// reconnects costs one hardware request (hosts throttle them), and a report this young is
    /// as good as a new one.
    pub const FRESH_S: u64 = 300;

    /// An empty cache.
    pub const fn new() -> Self {
        Self { last: None }
    }

    /// The evidence for `report_data` if it was taken less than `max_age` ticks before `now`
    /// (a clock that went backwards finds nothing).
    pub fn get(&self, report_data: &[u8; 64], now: u64, max_age: u64) -> Option<&[u8]> {
        let c = self.last.as_ref()?;
        let fresh = now.checked_sub(c.at).is_some_and(|age| age < max_age);
        (fresh && c.report_data == *report_data).then_some(&c.evidence[..])
    }

    /// Remembers `evidence` for `report_data`, taken at `now` (only the last one is kept).
    pub fn put(&mut self, report_data: &[u8; 64], evidence: &[u8], now: u64) {
        self.last = Some(Cached { report_data: *report_data, evidence: evidence.to_vec(), at: now });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_statement_is_served_while_fresh_and_only_then() {
        let mut cache = EvidenceCache::new();
        assert_eq!(cache.get(&[1; 64], 0, 10), None);
        cache.put(&[1; 64], b"report", 100);
        assert_eq!(cache.get(&[1; 64], 100, 10), Some(&b"report"[..]));
        assert_eq!(cache.get(&[1; 64], 109, 10), Some(&b"report"[..]), "one tick before it ages out");
        assert_eq!(cache.get(&[1; 64], 110, 10), None, "max_age old");
        assert_eq!(cache.get(&[1; 64], 99, 10), None, "the clock went backwards");
        assert_eq!(cache.get(&[2; 64], 100, 10), None, "another statement");
        assert_eq!(cache.get(&[1; 64], 100, 0), None, "max_age 0 caches nothing");
        cache.put(&[2; 64], b"other", 105);
        assert_eq!(cache.get(&[1; 64], 105, 10), None, "only the last is kept");
        assert_eq!(cache.get(&[2; 64], 105, 10), Some(&b"other"[..]));
    }
}
