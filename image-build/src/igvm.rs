//! `fcc-image igvm`: the same image as an IGVM file, for VMMs that load IGVM (QEMU ≥ 9.2's
//! `-object igvm-cfg`, OpenVMM, Hyper-V), and the cross-check of our measurements against the
//! `igvm` crate's own SNP and TDX measurement functions.
//!
//! One file carries both platforms (compatibility mask [`SNP_MASK`] for SEV-SNP, [`TDX_MASK`] for
//! TDX), in the order our OVMF-style launch measures them:
//!
//! 1. every ROM page, with its data, for both platforms;
//! 2. SNP: the SEV metadata sections — SEC_MEM as page data without data, the SECRETS and CPUID
//!    pages by their data types;
//! 3. TDX: TD_HOB and TEMP_MEM as unmeasured pages (TDH.MEM.PAGE.ADD only);
//! 4. SNP: one VMSA per vCPU, the boot vCPU at the reset vector, the others at the SEV-ES reset
//!    block's address — the bytes [`snp::vmsa`] gives, at [`snp::VMSA_GPA`].
//!
//! Measured by the `igvm` crate, the file gives the TDX MRTD of [`tdx::Order::PageByPage`] and
//! the SNP digest of [`snp::ZeroPages::NormalZeroed`]; QEMU launches its data-less pages as ZERO
//! pages, i.e. the digest of [`snp::ZeroPages::Zero`] — our OVMF-form digest. The one difference
//! is that convention; everything else (order, addresses, page types, VMSA bytes) is checked
//! equal by `tests/igvm.rs`.

use anyhow::{Context, Result, ensure};
use fcc_layout::PAGE_SIZE;
use fcc_layout::guid_tables::{SnpSectionType, TDVF_ATTR_MR_EXTEND};
use igvm::snp_defs::SevVmsa;
use igvm::{IgvmDirectiveHeader, IgvmFile, IgvmInitializationHeader, IgvmPlatformHeader, IgvmRevision};
use igvm_defs::{
    IGVM_VHS_SUPPORTED_PLATFORM, IgvmPageDataFlags, IgvmPageDataType, IgvmPlatformType, SnpPolicy, TdxPolicy,
};
use zerocopy::FromBytes;

use crate::ovmf::Tables;
use crate::snp;

/// The SEV-SNP platform's compatibility mask.
pub const SNP_MASK: u32 = 0x1;
/// The TDX platform's compatibility mask.
pub const TDX_MASK: u32 = 0x2;

/// The launch parameters an IGVM file fixes (the VMSAs hold the vCPU count and signature).
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// vCPUs (one VMSA each).
    pub vcpus: u32,
    /// CPUID Fn0000_0001_EAX in every VMSA's RDX.
    pub cpu_signature: u32,
    /// SEV features in every VMSA.
    pub guest_features: u64,
}

/// The SNP guest policy the file asks for: ABI 0.0, SMT allowed, no migration agent, debug
/// refused. It is not part of the launch digest; the report shows it.
pub fn snp_policy() -> u64 {
    SnpPolicy::new().with_smt(1).with_reserved_must_be_one(1).with_debug(0).into()
}

/// The TDX policy: debug refused, #VE on pending EPT violations disabled (the guest accepts all
/// its memory up front).
pub fn tdx_policy() -> u64 {
    TdxPolicy::new().with_debug_allowed(0).with_sept_ve_disable(1).into()
}

fn page(gpa: u64, mask: u32, data_type: IgvmPageDataType, unmeasured: bool, data: Vec<u8>) -> IgvmDirectiveHeader {
    IgvmDirectiveHeader::PageData {
        gpa,
        compatibility_mask: mask,
        flags: IgvmPageDataFlags::new().with_unmeasured(unmeasured),
        data_type,
        data,
    }
}

fn vmsa(eip: u32, p: &Params) -> Result<Box<SevVmsa>> {
    let bytes = snp::vmsa(eip, p.cpu_signature, p.guest_features);
    let size = size_of::<SevVmsa>();
    ensure!(size <= bytes.len(), "the igvm crate's VMSA ({size} bytes) is larger than a page");
    // The page beyond the structure must be zero, or the crate would measure a different page.
    ensure!(bytes[size..].iter().all(|&b| b == 0), "VMSA bytes beyond the igvm crate's structure");
    let vmsa = SevVmsa::read_from_bytes(&bytes[..size]).map_err(|_| anyhow::anyhow!("VMSA layout"))?;
    Ok(Box::new(vmsa))
}

fn platform(mask: u32, platform_type: IgvmPlatformType) -> IgvmPlatformHeader {
    IgvmPlatformHeader::SupportedPlatform(IGVM_VHS_SUPPORTED_PLATFORM {
        compatibility_mask: mask,
        highest_vtl: 0,
        platform_type,
        platform_version: 1,
        shared_gpa_boundary: 0,
    })
}

/// The IGVM form of `image` (with its parsed `tables`).
pub fn build(image: &[u8], tables: &Tables, p: &Params) -> Result<IgvmFile> {
    ensure!(p.vcpus >= 1, "at least one vCPU");
    let snp_sections = tables.snp_sections.as_ref().context("the image has no SEV metadata")?;
    let tdvf_sections = tables.tdvf_sections.as_ref().context("the image has no TDVF metadata")?;
    let ap_reset = tables.sev_es_reset.context("the image has no SEV-ES reset block")?;
    // TDX measures the BFV from the image; the IGVM form has one copy of the ROM for both
    // platforms, so the TDVF must describe exactly the ROM as its only measured section.
    let mut extended = tdvf_sections.iter().filter(|s| s.attributes & TDVF_ATTR_MR_EXTEND != 0);
    let bfv = extended.next().context("no TDVF section is extended into MRTD")?;
    ensure!(
        extended.next().is_none() && bfv.region == tables.rom && bfv.data_offset == 0,
        "the IGVM form needs the ROM as the one MR.EXTEND section"
    );

    let mut directives = Vec::new();
    for (i, bytes) in image.chunks(PAGE_SIZE as usize).enumerate() {
        let gpa = tables.rom.start + i as u64 * PAGE_SIZE;
        directives.push(page(gpa, SNP_MASK | TDX_MASK, IgvmPageDataType::NORMAL, false, bytes.to_vec()));
    }
    for s in snp_sections {
        let data_type = match s.kind {
            SnpSectionType::SecMem | SnpSectionType::SvsmCaa | SnpSectionType::KernelHashes => IgvmPageDataType::NORMAL,
            SnpSectionType::Secrets => IgvmPageDataType::SECRETS,
            SnpSectionType::Cpuid => IgvmPageDataType::CPUID_DATA,
        };
        for gpa in (s.region.start..s.region.end).step_by(PAGE_SIZE as usize) {
            directives.push(page(gpa, SNP_MASK, data_type, false, Vec::new()));
        }
    }
    for s in tdvf_sections.iter().filter(|s| s.attributes & TDVF_ATTR_MR_EXTEND == 0) {
        for gpa in (s.region.start..s.region.end).step_by(PAGE_SIZE as usize) {
            directives.push(page(gpa, TDX_MASK, IgvmPageDataType::NORMAL, true, Vec::new()));
        }
    }
    for vp in 0..p.vcpus {
        let eip = if vp == 0 { snp::BSP_RESET } else { ap_reset };
        directives.push(IgvmDirectiveHeader::SnpVpContext {
            gpa: snp::VMSA_GPA,
            compatibility_mask: SNP_MASK,
            vp_index: u16::try_from(vp).context("too many vCPUs")?,
            vmsa: vmsa(eip, p)?,
        });
    }
    let initialization = vec![
        IgvmInitializationHeader::GuestPolicy { policy: snp_policy(), compatibility_mask: SNP_MASK },
        IgvmInitializationHeader::GuestPolicy { policy: tdx_policy(), compatibility_mask: TDX_MASK },
    ];
    let platforms = vec![platform(SNP_MASK, IgvmPlatformType::SEV_SNP), platform(TDX_MASK, IgvmPlatformType::TDX)];
    IgvmFile::new(IgvmRevision::V1, platforms, initialization, directives).context("the igvm crate refused the file")
}

/// The file's bytes.
pub fn to_bytes(file: &IgvmFile) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    file.serialize(&mut out).context("serialising the IGVM file")?;
    Ok(out)
}

/// Parses an IGVM file.
pub fn parse(bytes: &[u8]) -> Result<IgvmFile> {
    IgvmFile::new_from_binary(bytes, None).context("parsing the IGVM file")
}

/// The SNP launch digest the `igvm` crate computes for the file.
pub fn crate_snp_digest(file: &IgvmFile) -> Result<[u8; 48]> {
    igvm::measurement::generate_snp_measurement(file.initializations(), file.directives(), SNP_MASK)
        .context("igvm crate: SNP measurement")
}

/// The TDX MRTD the `igvm` crate computes for the file.
pub fn crate_mrtd(file: &IgvmFile) -> Result<[u8; 48]> {
    igvm::measurement::generate_tdx_measurement(file.directives(), TDX_MASK).context("igvm crate: TDX measurement")
}
