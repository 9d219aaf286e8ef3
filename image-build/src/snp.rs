//! The SEV-SNP launch digest QEMU/KVM produce for an OVMF-style image, as the AMD SEV-SNP ABI
//! specification defines it (SNP_LAUNCH_UPDATE, the PAGE_INFO structure): SHA-384 chained over
//! 0x70-byte PAGE_INFO records `digest ‖ contents ‖ u16 0x70 ‖ u8 page type ‖ u8 IMI ‖ 3 × u8
//! VMPL permissions ‖ u8 0 ‖ u64 GPA`:
//!
//! 1. every 4 KiB page of the image, NORMAL, contents = SHA-384 of the page;
//! 2. the SEV metadata sections in their order: SEC_MEM (and SVSM_CAA, KERNEL_HASHES without
//!    `-kernel`) as ZERO pages, the SECRETS page, the CPUID page, contents = 48 zero bytes;
//! 3. one VMSA page per vCPU at GPA 0xFFFF_FFFF_F000, contents = SHA-384 of the page: the boot
//!    vCPU starts at 0xFFFF_FFF0, the others at the SEV-ES reset block's address; RDX holds the
//!    CPU signature and SEV_FEATURES the guest features.
//!
//! The VMSA is the initial state QEMU/KVM give a vCPU (the state-save-area layout of AMD APM
//! vol. 2, table B-4).

use anyhow::{Context, Result, ensure};
use fcc_layout::PAGE_SIZE;
use fcc_layout::guid_tables::SnpSectionType;
use sha2::{Digest, Sha384};

use crate::ovmf::Tables;

/// PAGE_INFO page types.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
enum PageType {
    Normal = 1,
    Vmsa = 2,
    Zero = 3,
    Secrets = 5,
    Cpuid = 6,
}

/// The GPA the VMSA pages are recorded with ((u64)-1, page-aligned, bits above 51 clear).
pub const VMSA_GPA: u64 = 0xFFFF_FFFF_F000;
/// Where the boot vCPU starts.
pub const BSP_RESET: u32 = 0xFFFF_FFF0;

/// The guest features QEMU sets by default for SNP: SNPActive.
pub const DEFAULT_GUEST_FEATURES: u64 = 0x1;

/// A CPU model as QEMU names it (`-cpu`), with the family, model and stepping its CPUID reports.
#[derive(Debug, Clone, Copy)]
pub struct CpuType {
    /// QEMU's name.
    pub name: &'static str,
    /// Family, model, stepping.
    pub fms: (u32, u32, u32),
}

/// The CPU models this tool knows (QEMU's EPYC models; `EPYC-v4` is Zen 1, family 0x17).
pub const CPU_TYPES: [CpuType; 8] = [
    CpuType { name: "EPYC", fms: (23, 1, 2) },
    CpuType { name: "EPYC-v4", fms: (23, 1, 2) },
    CpuType { name: "EPYC-Rome", fms: (23, 49, 0) },
    CpuType { name: "EPYC-Milan", fms: (25, 1, 1) },
    CpuType { name: "EPYC-Milan-v2", fms: (25, 1, 1) },
    CpuType { name: "EPYC-Genoa", fms: (25, 17, 0) },
    CpuType { name: "EPYC-Genoa-v1", fms: (25, 17, 0) },
    CpuType { name: "EPYC-Turin", fms: (26, 0, 0) },
];

/// CPUID Fn0000_0001_EAX for a family, model and stepping (AMD CPUID specification #25481).
pub const fn cpu_signature(family: u32, model: u32, stepping: u32) -> u32 {
    let (base_family, ext_family) = if family > 0xf { (0xf, (family - 0xf) & 0xff) } else { (family, 0) };
    (ext_family << 20) | (((model >> 4) & 0xf) << 16) | (base_family << 8) | ((model & 0xf) << 4) | (stepping & 0xf)
}

/// The signature of a named CPU model.
pub fn cpu_type_signature(name: &str) -> Result<u32> {
    CPU_TYPES
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
        .map(|t| cpu_signature(t.fms.0, t.fms.1, t.fms.2))
        .with_context(|| {
            let known: Vec<_> = CPU_TYPES.iter().map(|t| t.name).collect();
            format!("unknown vCPU type {name:?} (known: {})", known.join(", "))
        })
}

/// The launch-digest chain.
struct Gctx {
    digest: [u8; 48],
}

impl Gctx {
    fn update(&mut self, page_type: PageType, gpa: u64, contents: &[u8; 48]) {
        let mut info = [0u8; 0x70];
        info[..48].copy_from_slice(&self.digest);
        info[48..96].copy_from_slice(contents);
        info[96..98].copy_from_slice(&0x70u16.to_le_bytes());
        info[98] = page_type as u8;
        // 99: IMI page (0); 100..103: VMPL3/2/1 permissions (0); 103: reserved.
        info[104..112].copy_from_slice(&gpa.to_le_bytes());
        self.digest = Sha384::digest(info).into();
    }

    fn pages(&mut self, page_type: PageType, gpa: u64, bytes: u64, contents: &[u8; 48]) {
        for offset in (0..bytes).step_by(PAGE_SIZE as usize) {
            self.update(page_type, gpa + offset, contents);
        }
    }
}

fn put(page: &mut [u8], at: usize, bytes: &[u8]) {
    page[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A segment register in the VMSA: selector, attributes, limit, base.
fn segment(page: &mut [u8], at: usize, selector: u16, attrib: u16, limit: u32, base: u64) {
    put(page, at, &selector.to_le_bytes());
    put(page, at + 2, &attrib.to_le_bytes());
    put(page, at + 4, &limit.to_le_bytes());
    put(page, at + 8, &base.to_le_bytes());
}

/// The VMSA page of a vCPU that starts in real mode at `eip` (QEMU/KVM's reset state).
pub fn vmsa(eip: u32, cpu_signature: u32, guest_features: u64) -> Vec<u8> {
    let mut p = vec![0u8; PAGE_SIZE as usize];
    let cs_base = u64::from(eip & 0xffff_0000);
    segment(&mut p, 0x00, 0, 0x93, 0xffff, 0); // ES
    segment(&mut p, 0x10, 0xf000, 0x9b, 0xffff, cs_base); // CS
    for at in [0x20, 0x30, 0x40, 0x50] {
        segment(&mut p, at, 0, 0x93, 0xffff, 0); // SS, DS, FS, GS
    }
    segment(&mut p, 0x60, 0, 0, 0xffff, 0); // GDTR
    segment(&mut p, 0x70, 0, 0x82, 0xffff, 0); // LDTR
    segment(&mut p, 0x80, 0, 0, 0xffff, 0); // IDTR
    segment(&mut p, 0x90, 0, 0x8b, 0xffff, 0); // TR
    put(&mut p, 0xd0, &0x1000u64.to_le_bytes()); // EFER: SVME
    put(&mut p, 0x148, &0x40u64.to_le_bytes()); // CR4: MCE
    put(&mut p, 0x158, &0x10u64.to_le_bytes()); // CR0: ET
    put(&mut p, 0x160, &0x400u64.to_le_bytes()); // DR7
    put(&mut p, 0x168, &0xffff_0ff0u64.to_le_bytes()); // DR6
    put(&mut p, 0x170, &0x2u64.to_le_bytes()); // RFLAGS
    put(&mut p, 0x178, &u64::from(eip & 0xffff).to_le_bytes()); // RIP
    put(&mut p, 0x268, &0x0007_0406_0007_0406u64.to_le_bytes()); // G_PAT (power-on PAT)
    put(&mut p, 0x310, &u64::from(cpu_signature).to_le_bytes()); // RDX
    put(&mut p, 0x3b0, &guest_features.to_le_bytes()); // SEV_FEATURES
    put(&mut p, 0x3e8, &0x1u64.to_le_bytes()); // XCR0
    put(&mut p, 0x408, &0x1f80u32.to_le_bytes()); // MXCSR
    put(&mut p, 0x410, &0x37fu16.to_le_bytes()); // x87 FCW
    p
}

/// How the VMM launches the data-less pages of the SEV metadata (SEC_MEM and the like).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroPages {
    /// As ZERO pages (PAGE_INFO type 3, contents 0): QEMU for OVMF-style images and for IGVM page
    /// data without data (`backends/igvm.c`), and `sev-snp-measure`.
    Zero,
    /// As NORMAL pages of zeros (type 1, contents SHA-384 of a zero page): what the `igvm`
    /// crate's `generate_snp_measurement` assumes for page data without data.
    NormalZeroed,
}

/// The SEV-SNP launch digest of `image` (with its parsed `tables`) for `vcpus` vCPUs, as QEMU
/// launches it.
pub fn launch_digest(
    image: &[u8],
    tables: &Tables,
    vcpus: u32,
    cpu_signature: u32,
    guest_features: u64,
) -> Result<[u8; 48]> {
    launch_digest_with(image, tables, vcpus, cpu_signature, guest_features, ZeroPages::Zero)
}

/// [`launch_digest`] with the given convention for data-less pages.
pub fn launch_digest_with(
    image: &[u8],
    tables: &Tables,
    vcpus: u32,
    cpu_signature: u32,
    guest_features: u64,
    zero_pages: ZeroPages,
) -> Result<[u8; 48]> {
    let all = launch_digests(image, tables, vcpus, cpu_signature, guest_features, zero_pages)?;
    Ok(*all.last().expect("at least one vCPU"))
}

/// The launch digests for 1..=`max_vcpus` vCPUs (element `n - 1` for `n` vCPUs): the VMSA pages
/// come last, so each count continues the chain of the one before.
pub fn launch_digests(
    image: &[u8],
    tables: &Tables,
    max_vcpus: u32,
    cpu_signature: u32,
    guest_features: u64,
    zero_pages: ZeroPages,
) -> Result<Vec<[u8; 48]>> {
    ensure!(max_vcpus >= 1, "at least one vCPU");
    let sections = tables
        .snp_sections
        .as_ref()
        .context("the image has no SEV metadata (GUID dc886566-984a-4798-a75e-5585a7bf67cc): QEMU refuses SNP")?;
    let ap_reset = tables
        .sev_es_reset
        .context("the image has no SEV-ES reset block (GUID 00f771de-1a7e-4fcb-890e-68c77e2fb44e)")?;
    let mut g = Gctx { digest: [0; 48] };
    for (i, page) in image.chunks(PAGE_SIZE as usize).enumerate() {
        let contents: [u8; 48] = Sha384::digest(page).into();
        g.update(PageType::Normal, tables.rom.start + i as u64 * PAGE_SIZE, &contents);
    }
    for s in sections {
        match s.kind {
            SnpSectionType::SecMem | SnpSectionType::SvsmCaa | SnpSectionType::KernelHashes => match zero_pages {
                ZeroPages::Zero => g.pages(PageType::Zero, s.region.start, s.region.size(), &[0; 48]),
                ZeroPages::NormalZeroed => {
                    let zero: [u8; 48] = Sha384::digest([0u8; PAGE_SIZE as usize]).into();
                    g.pages(PageType::Normal, s.region.start, s.region.size(), &zero)
                }
            },
            SnpSectionType::Secrets => g.pages(PageType::Secrets, s.region.start, s.region.size(), &[0; 48]),
            SnpSectionType::Cpuid => g.pages(PageType::Cpuid, s.region.start, s.region.size(), &[0; 48]),
        }
    }
    let bsp: [u8; 48] = Sha384::digest(vmsa(BSP_RESET, cpu_signature, guest_features)).into();
    let ap: [u8; 48] = Sha384::digest(vmsa(ap_reset, cpu_signature, guest_features)).into();
    let mut digests = Vec::with_capacity(max_vcpus as usize);
    for i in 0..max_vcpus {
        g.update(PageType::Vmsa, VMSA_GPA, if i == 0 { &bsp } else { &ap });
        digests.push(g.digest);
    }
    Ok(digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        assert_eq!(cpu_type_signature("EPYC-v4").unwrap(), 0x0080_0f12);
        assert_eq!(cpu_type_signature("EPYC-Milan").unwrap(), 0x00a0_0f11);
        assert_eq!(cpu_type_signature("epyc-genoa").unwrap(), 0x00a1_0f10);
        assert!(cpu_type_signature("Skylake").unwrap_err().to_string().contains("EPYC-Genoa"));
    }

    #[test]
    fn vmsa_fields() {
        let p = vmsa(0xffff_f800, 0xa00f11, 1);
        assert_eq!(&p[0x10..0x20], &[0x00, 0xf0, 0x9b, 0, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]);
        assert_eq!(u64::from_le_bytes(p[0x178..0x180].try_into().unwrap()), 0xf800);
        assert_eq!(u64::from_le_bytes(p[0x310..0x318].try_into().unwrap()), 0xa00f11);
    }
}
