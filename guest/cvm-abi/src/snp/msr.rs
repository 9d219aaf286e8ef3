//! The GHCB MSR protocol (GHCB specification, "MSR Protocol"): before a GHCB page is registered
//! the guest talks to the hypervisor through the GHCB MSR with `VMGEXIT`. Bits 11:0 carry the
//! request or response code ("GHCBInfo"), the rest the data.

use super::SnpError;
pub use super::psc::PageState;

/// GHCBInfo codes.
pub mod code {
    /// SEV information response (hypervisor → guest).
    pub const SEV_INFO_RESPONSE: u16 = 0x001;
    /// SEV information request.
    pub const SEV_INFO_REQUEST: u16 = 0x002;
    /// CPUID request.
    pub const CPUID_REQUEST: u16 = 0x004;
    /// CPUID response.
    pub const CPUID_RESPONSE: u16 = 0x005;
    /// Register the GHCB's GPA.
    pub const REGISTER_GHCB_REQUEST: u16 = 0x012;
    /// Its response.
    pub const REGISTER_GHCB_RESPONSE: u16 = 0x013;
    /// SNP page state change request.
    pub const PSC_REQUEST: u16 = 0x014;
    /// Its response.
    pub const PSC_RESPONSE: u16 = 0x015;
    /// Hypervisor feature support request.
    pub const HV_FEATURES_REQUEST: u16 = 0x080;
    /// Its response.
    pub const HV_FEATURES_RESPONSE: u16 = 0x081;
    /// Termination request.
    pub const TERMINATE: u16 = 0x100;
}

/// The GHCB protocol version this guest speaks (SNP needs 2).
pub const GHCB_VERSION: u16 = 2;

const INFO_MASK: u64 = 0xfff;

/// The GHCBInfo code of an MSR value.
pub const fn info(value: u64) -> u16 {
    (value & INFO_MASK) as u16
}

/// SEV information request.
pub const fn sev_info_request() -> u64 {
    code::SEV_INFO_REQUEST as u64
}

/// The hypervisor's SEV information: the protocol versions it supports and its C-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SevInfo {
    /// Highest GHCB protocol version.
    pub max_version: u16,
    /// Lowest GHCB protocol version.
    pub min_version: u16,
    /// The C-bit position.
    pub cbit: u8,
}

fn expect(value: u64, request: u16, response: u16) -> Result<(), SnpError> {
    if info(value) != response {
        return Err(SnpError::UnexpectedResponse { request, response: info(value) });
    }
    Ok(())
}

/// Decodes the SEV information response and checks the guest's version is supported.
pub fn sev_info_response(value: u64) -> Result<SevInfo, SnpError> {
    expect(value, code::SEV_INFO_REQUEST, code::SEV_INFO_RESPONSE)?;
    let i = SevInfo { max_version: (value >> 48) as u16, min_version: (value >> 32) as u16, cbit: (value >> 24) as u8 };
    if !(i.min_version..=i.max_version).contains(&GHCB_VERSION) {
        return Err(SnpError::GhcbVersion { min: i.min_version, max: i.max_version });
    }
    Ok(i)
}

/// A CPUID register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reg {
    /// EAX.
    Eax = 0,
    /// EBX.
    Ebx = 1,
    /// ECX.
    Ecx = 2,
    /// EDX.
    Edx = 3,
}

/// CPUID request for one register of `function` (sub-function 0 only, as the protocol allows).
pub const fn cpuid_request(function: u32, reg: Reg) -> u64 {
    ((function as u64) << 32) | ((reg as u64) << 30) | code::CPUID_REQUEST as u64
}

/// The register value of a CPUID response.
pub fn cpuid_response(value: u64) -> Result<u32, SnpError> {
    expect(value, code::CPUID_REQUEST, code::CPUID_RESPONSE)?;
    Ok((value >> 32) as u32)
}

/// Register the GHCB at guest frame `gfn`.
pub const fn register_ghcb_request(gfn: u64) -> u64 {
    (gfn << 12) | code::REGISTER_GHCB_REQUEST as u64
}

/// Checks the hypervisor registered the GHCB at `gfn`.
pub fn register_ghcb_response(value: u64, gfn: u64) -> Result<(), SnpError> {
    expect(value, code::REGISTER_GHCB_REQUEST, code::REGISTER_GHCB_RESPONSE)?;
    if value >> 12 != gfn {
        return Err(SnpError::UnexpectedResponse { request: code::REGISTER_GHCB_REQUEST, response: info(value) });
    }
    Ok(())
}

/// Page state change for one 4 KiB page.
pub const fn psc_request(gfn: u64, state: PageState) -> u64 {
    ((state as u64) << 52) | ((gfn & ((1 << 40) - 1)) << 12) | code::PSC_REQUEST as u64
}

/// Checks a page state change succeeded.
pub fn psc_response(value: u64) -> Result<(), SnpError> {
    expect(value, code::PSC_REQUEST, code::PSC_RESPONSE)?;
    match (value >> 32) as u32 {
        0 => Ok(()),
        err => Err(SnpError::MsrPageStateChange(err)),
    }
}

/// Hypervisor feature support request.
pub const fn hv_features_request() -> u64 {
    code::HV_FEATURES_REQUEST as u64
}

/// The hypervisor's feature bitmap (bit 0: SNP; bit 1: SNP AP creation; ...).
pub fn hv_features_response(value: u64) -> Result<u64, SnpError> {
    expect(value, code::HV_FEATURES_REQUEST, code::HV_FEATURES_RESPONSE)?;
    Ok(value >> 12)
}

/// Reason-code sets for termination.
pub mod reason {
    /// General: set 0.
    pub const SET_GENERAL: u8 = 0;
    /// General: unsupported GHCB protocol version.
    pub const GHCB_VERSION: u8 = 1;
    /// General: SNP feature not supported.
    pub const SNP_UNSUPPORTED: u8 = 2;
    /// The guest's own set, for fcc-specific reasons.
    pub const SET_FCC: u8 = 0xf;
    /// fcc set: the C-bit of the CPUID page is implausible or disagrees with the page tables or
    /// the hypervisor.
    pub const FCC_CBIT: u8 = 1;
    /// fcc set: the CPUID page is malformed.
    pub const FCC_CPUID_PAGE: u8 = 2;
    /// fcc set: SEV_STATUS enables a feature the kernel does not handle (vTOM, ReflectVC).
    pub const FCC_FEATURES: u8 = 3;
    /// fcc set: making the GHCB page shared or registering it failed, or a #VC came before it
    /// existed.
    pub const FCC_GHCB: u8 = 4;
    /// fcc set: a #VC inside the #VC handler (its stack would be overwritten).
    pub const FCC_NESTED_VC: u8 = 5;
    /// fcc set: an exception, a panic or a failed boot step, reported on the console first.
    pub const FCC_FAILURE: u8 = 6;
}

/// Ask the hypervisor to end the guest.
pub const fn terminate_request(set: u8, reason: u8) -> u64 {
    ((reason as u64) << 16) | (((set & 0xf) as u64) << 12) | code::TERMINATE as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(sev_info_request(), 0x002);
        // Versions 1..2, C-bit 51.
        assert_eq!(sev_info_response(0x0002_0001_3300_0001), Ok(SevInfo { max_version: 2, min_version: 1, cbit: 51 }));
        assert_eq!(sev_info_response(0x0001_0001_3300_0001), Err(SnpError::GhcbVersion { min: 1, max: 1 }));
        assert_eq!(
            sev_info_response(0x0002_0001_3300_0005),
            Err(SnpError::UnexpectedResponse { request: 2, response: 5 })
        );
        assert_eq!(cpuid_request(0x8000_001f, Reg::Ebx), 0x8000_001f_4000_0004);
        assert_eq!(cpuid_response(0x0000_016f_4000_0005), Ok(0x16f));
        assert_eq!(register_ghcb_request(0x1234), 0x0123_4012);
        assert_eq!(register_ghcb_response(0x0123_4013, 0x1234), Ok(()));
        assert!(register_ghcb_response(0x0123_5013, 0x1234).is_err());
        assert_eq!(psc_request(0xABCDE, PageState::Shared), 0x0020_0000_ABCD_E014);
        assert_eq!(psc_request(0xABCDE, PageState::Private), 0x0010_0000_ABCD_E014);
        assert_eq!(psc_response(0x015), Ok(()));
        assert_eq!(psc_response(0x0000_0007_0000_0015), Err(SnpError::MsrPageStateChange(7)));
        assert_eq!(hv_features_response(0x3081), Ok(3));
        assert_eq!(terminate_request(reason::SET_GENERAL, reason::GHCB_VERSION), 0x0001_0100);
        assert_eq!(terminate_request(reason::SET_FCC, 7), 0x0007_f100);
    }
}
