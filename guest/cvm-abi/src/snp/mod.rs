//! AMD SEV-SNP.

pub mod cpuid;
pub mod ghcb;
pub mod mmio;
pub mod msg;
pub mod msr;
pub mod psc;
pub mod report;
pub mod vc;

/// The SEV_STATUS MSR (read-only to the guest, never intercepted under SEV-ES/SNP).
pub const MSR_SEV_STATUS: u32 = 0xC001_0131;
/// The GHCB MSR: the MSR protocol's mailbox, later the registered GHCB page's address.
pub const MSR_GHCB: u32 = 0xC001_0130;

/// What SEV_STATUS says is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SevStatus(pub u64);

impl SevStatus {
    /// Memory encryption (SEV).
    pub const fn sev(self) -> bool {
        self.0 & 1 != 0
    }
    /// Encrypted register state (SEV-ES).
    pub const fn es(self) -> bool {
        self.0 & (1 << 1) != 0
    }
    /// Secure nested paging (SEV-SNP).
    pub const fn snp(self) -> bool {
        self.0 & (1 << 2) != 0
    }

    /// The guest runs as an SNP guest: all three bits, as SNP implies SEV and SEV-ES.
    pub const fn is_snp_guest(self) -> bool {
        self.sev() && self.es() && self.snp()
    }
}

/// CPUID Fn8000_001F: EAX bit 1 = SEV supported, bit 4 = SEV-SNP; EBX[5:0] = C-bit position.
pub const CPUID_SEV_LEAF: u32 = 0x8000_001F;

/// The C-bit position from CPUID Fn8000_001F EBX.
pub const fn cbit_from_ebx(ebx: u32) -> u8 {
    (ebx & 0x3f) as u8
}

/// Why the guest refuses its SNP environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnpError {
    /// The C-bit position is not one a real part uses (AMD parts: 47 or 51; anything at or above
    /// the guest's physical-address width, or below 32, would make "encrypted" addresses
    /// meaningless).
    ImplausibleCbit(u8),
    /// The hypervisor's SEV information (GHCB MSR protocol) names another C-bit than the
    /// firmware-checked CPUID page.
    CbitDisagrees {
        /// From the CPUID page.
        cpuid_page: u8,
        /// From the hypervisor.
        hypervisor: u8,
    },
    /// The hypervisor does not speak a GHCB protocol version this guest supports (2).
    GhcbVersion {
        /// Its minimum.
        min: u16,
        /// Its maximum.
        max: u16,
    },
    /// A GHCB MSR protocol answer of the wrong kind.
    UnexpectedResponse {
        /// The code sent.
        request: u16,
        /// The code received.
        response: u16,
    },
    /// The hypervisor refused a page-state change through the GHCB MSR protocol (its code).
    MsrPageStateChange(u32),
    /// A page-state change through the GHCB page failed.
    PageStateChange(psc::PscError),
    /// The CPUID page is malformed (count beyond its entries).
    CpuidPage,
    /// A leaf the guest needs is missing from the CPUID page.
    CpuidLeafMissing(u32),
    /// A guest message failed authentication or had the wrong header.
    Message(msg::MsgError),
}

/// The lowest and highest C-bit positions accepted.
pub const CBIT_RANGE: core::ops::RangeInclusive<u8> = 32..=51;

/// Checks the C-bit from the CPUID page (which the PSP validated at launch) and, where the
/// hypervisor reported one, that it agrees.
pub fn check_cbit(cpuid_page: u8, hypervisor: Option<u8>) -> Result<u8, SnpError> {
    if !CBIT_RANGE.contains(&cpuid_page) {
        return Err(SnpError::ImplausibleCbit(cpuid_page));
    }
    match hypervisor {
        Some(h) if h != cpuid_page => Err(SnpError::CbitDisagrees { cpuid_page, hypervisor: h }),
        _ => Ok(cpuid_page),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bits() {
        assert!(SevStatus(0b111).is_snp_guest());
        assert!(!SevStatus(0b011).is_snp_guest());
        assert!(!SevStatus(0).sev());
        // Upper bits (e.g. VTOM, DebugSwap) do not change the answer.
        assert!(SevStatus(0b111 | 1 << 16).is_snp_guest());
    }

    #[test]
    fn cbit() {
        assert_eq!(cbit_from_ebx(0x0000_016f), 47);
        assert_eq!(cbit_from_ebx(0x0000_4173), 51);
        assert_eq!(check_cbit(51, Some(51)), Ok(51));
        assert_eq!(check_cbit(51, None), Ok(51));
        assert_eq!(check_cbit(51, Some(47)), Err(SnpError::CbitDisagrees { cpuid_page: 51, hypervisor: 47 }));
        assert_eq!(check_cbit(12, None), Err(SnpError::ImplausibleCbit(12)));
        assert_eq!(check_cbit(63, None), Err(SnpError::ImplausibleCbit(63)));
    }
}
