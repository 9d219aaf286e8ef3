//! The SEV-SNP ATTESTATION_REPORT (SEV-SNP firmware ABI #56860, table "ATTESTATION_REPORT
//! Structure"): the one definition of its layout, for the guest (which asks for it), `fcc-attest`
//! (which verifies it) and `fcc-image verify` (which matches its measurement with a ROM).
//! A zero-copy view in smoltcp's style: field ranges in [`field`], a length check in
//! [`Report::new_checked`], and accessors that cannot fail afterwards.

/// Bytes of an ATTESTATION_REPORT.
pub const REPORT_LEN: usize = 0x4A0;
/// The bytes the signature covers: `[0, 0x2A0)`.
pub const SIGNED_LEN: usize = 0x2A0;
/// Guest policy bit 19: DEBUG allowed (the host may read and change guest memory).
pub const POLICY_DEBUG: u64 = 1 << 19;

/// Field offsets.
pub mod field {
    use core::ops::Range;

    /// Report format version (u32).
    pub const VERSION: Range<usize> = 0x00..0x04;
    /// Guest SVN (u32).
    pub const GUEST_SVN: Range<usize> = 0x04..0x08;
    /// Guest policy (u64).
    pub const POLICY: Range<usize> = 0x08..0x10;
    /// The VMPL the report was requested at (u32).
    pub const VMPL: Range<usize> = 0x30..0x34;
    /// Signature algorithm (u32; 1 = ECDSA P-384 with SHA-384).
    pub const SIGNATURE_ALGO: Range<usize> = 0x34..0x38;
    /// KEY_INFO (u32): bits 4:2 the signing key (0 VCEK, 1 VLEK).
    pub const KEY_INFO: Range<usize> = 0x48..0x4C;
    /// REPORT_DATA (64 bytes) as the guest asked.
    pub const REPORT_DATA: Range<usize> = 0x50..0x90;
    /// The launch measurement (48 bytes).
    pub const MEASUREMENT: Range<usize> = 0x90..0xC0;
    /// CURRENT_TCB (u64; component layout per product): the firmware running now.
    pub const CURRENT_TCB: Range<usize> = 0x38..0x40;
    /// REPORTED_TCB (u64; component layout per product).
    pub const REPORTED_TCB: Range<usize> = 0x180..0x188;
    /// COMMITTED_TCB: the lowest TCB the firmware can be rolled back to (SNP_COMMIT).
    pub const COMMITTED_TCB: Range<usize> = 0x1E0..0x1E8;
    /// LAUNCH_TCB: CURRENT_TCB when the guest was launched.
    pub const LAUNCH_TCB: Range<usize> = 0x1F0..0x1F8;
    /// CPUID family, model and stepping (versions 3 and later; zero before).
    pub const CPUID: Range<usize> = 0x188..0x18B;
    /// CHIP_ID (64 bytes).
    pub const CHIP_ID: Range<usize> = 0x1A0..0x1E0;
    /// The signature (r and s, 72 bytes each, little-endian, then reserved).
    pub const SIGNATURE: Range<usize> = super::SIGNED_LEN..super::REPORT_LEN;
}

/// A report that is not [`REPORT_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongLength(pub usize);

/// A view of an ATTESTATION_REPORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report<T: AsRef<[u8]>> {
    buffer: T,
}

fn u32_at(b: &[u8], r: core::ops::Range<usize>) -> u32 {
    u32::from_le_bytes(b[r].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], r: core::ops::Range<usize>) -> u64 {
    u64::from_le_bytes(b[r].try_into().expect("8 bytes"))
}

impl<T: AsRef<[u8]>> Report<T> {
    /// `buffer` as a report, if it is exactly [`REPORT_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<Self, WrongLength> {
        match buffer.as_ref().len() {
            REPORT_LEN => Ok(Self { buffer }),
            n => Err(WrongLength(n)),
        }
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Report format version.
    pub fn version(&self) -> u32 {
        u32_at(self.b(), field::VERSION)
    }

    /// Guest policy.
    pub fn policy(&self) -> u64 {
        u64_at(self.b(), field::POLICY)
    }

    /// Whether the policy allows debugging.
    pub fn debug_allowed(&self) -> bool {
        self.policy() & POLICY_DEBUG != 0
    }

    /// The VMPL the report was requested at.
    pub fn vmpl(&self) -> u32 {
        u32_at(self.b(), field::VMPL)
    }

    /// The signing key: 0 VCEK, 1 VLEK (KEY_INFO bits 4:2).
    pub fn signing_key(&self) -> u32 {
        (u32_at(self.b(), field::KEY_INFO) >> 2) & 7
    }

    /// REPORT_DATA.
    pub fn report_data(&self) -> &[u8; 64] {
        self.b()[field::REPORT_DATA].try_into().expect("64 bytes")
    }

    /// The launch measurement.
    pub fn measurement(&self) -> &[u8; 48] {
        self.b()[field::MEASUREMENT].try_into().expect("48 bytes")
    }

    /// REPORTED_TCB's eight bytes.
    pub fn reported_tcb(&self) -> &[u8; 8] {
        self.b()[field::REPORTED_TCB].try_into().expect("8 bytes")
    }

    /// CURRENT_TCB's eight bytes.
    pub fn current_tcb(&self) -> &[u8; 8] {
        self.b()[field::CURRENT_TCB].try_into().expect("8 bytes")
    }

    /// COMMITTED_TCB's eight bytes (what the guest's sealing key is derived at).
    pub fn committed_tcb(&self) -> &[u8; 8] {
        self.b()[field::COMMITTED_TCB].try_into().expect("8 bytes")
    }

    /// LAUNCH_TCB's eight bytes.
    pub fn launch_tcb(&self) -> &[u8; 8] {
        self.b()[field::LAUNCH_TCB].try_into().expect("8 bytes")
    }

    /// The CPU's family, model and stepping, where the version records them (3 and later) and
    /// they are set.
    pub fn cpuid(&self) -> Option<(u8, u8, u8)> {
        let c = &self.b()[field::CPUID];
        (self.version() >= 3 && c[0] != 0).then(|| (c[0], c[1], c[2]))
    }

    /// CHIP_ID.
    pub fn chip_id(&self) -> &[u8; 64] {
        self.b()[field::CHIP_ID].try_into().expect("64 bytes")
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.b()[..SIGNED_LEN]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report filled with 0xa5 (so a field read from the wrong place shows), then each field
    /// written where the ABI puts it.
    #[test]
    fn fields_are_read_from_their_offsets() {
        let mut b = [0xa5u8; REPORT_LEN];
        b[0x00..0x04].copy_from_slice(&3u32.to_le_bytes());
        b[0x08..0x10].copy_from_slice(&0x30000u64.to_le_bytes());
        b[0x30..0x34].copy_from_slice(&0u32.to_le_bytes());
        b[0x48..0x4C].copy_from_slice(&(1u32 << 2).to_le_bytes());
        b[0x50..0x90].fill(0x11);
        b[0x90..0xC0].fill(0x22);
        b[0x180..0x188].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        b[0x188..0x18B].copy_from_slice(&[0x19, 0x01, 0x01]);
        b[0x1A0..0x1E0].fill(0x33);
        b[0x38..0x40].copy_from_slice(&[9, 0, 0, 0, 0, 0, 9, 9]);
        b[0x1E0..0x1E8].copy_from_slice(&[7, 0, 0, 0, 0, 0, 7, 7]);
        b[0x1F0..0x1F8].copy_from_slice(&[6, 0, 0, 0, 0, 0, 6, 6]);
        let r = Report::new_checked(&b[..]).unwrap();
        assert_eq!((r.current_tcb()[0], r.committed_tcb()[6], r.launch_tcb()[7]), (9, 7, 6));
        assert_eq!((r.version(), r.policy(), r.vmpl(), r.signing_key()), (3, 0x30000, 0, 1));
        assert!(!r.debug_allowed());
        assert_eq!((r.report_data()[0], r.measurement()[47], r.chip_id()[0]), (0x11, 0x22, 0x33));
        assert_eq!(r.reported_tcb(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(r.cpuid(), Some((0x19, 0x01, 0x01)));
        assert_eq!(r.signed_bytes().len(), 0x2A0);
        b[0..4].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(Report::new_checked(&b[..]).unwrap().cpuid(), None, "version 2 has no CPUID field");
        assert_eq!(Report::new_checked(&b[..REPORT_LEN - 1]), Err(WrongLength(REPORT_LEN - 1)));
    }
}
