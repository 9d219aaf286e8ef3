//! The TDX MRTD of an image with a TDVF descriptor: SHA-384 over what the TDX module extends
//! MRTD with while the VMM builds the TD —
//!
//! * TDH.MEM.PAGE.ADD, per 4 KiB page of every section: a 128-byte record
//!   `"MEM.PAGE.ADD" (zero-padded to 16) ‖ u64 GPA ‖ zeros`;
//! * TDH.MR.EXTEND, per 256-byte chunk of the sections with the MR.EXTEND attribute: a 128-byte
//!   record `"MR.EXTEND" (zero-padded to 16) ‖ u64 GPA of the chunk ‖ zeros`, then the chunk.
//!
//! The order depends on the VMM, so both are computed and labelled:
//! * [`Order::PageByPage`] — upstream QEMU (≥ 9) with upstream KVM: for each section, for each
//!   page: PAGE.ADD, then its 16 MR.EXTENDs;
//! * [`Order::SectionBySection`] — older TDX QEMU/KVM forks: for each section, PAGE.ADD every
//!   page, then MR.EXTEND every chunk.
//!
//! Pages of a section beyond its data in the image are zero.

use anyhow::{Context, Result};
use fcc_layout::PAGE_SIZE;
use fcc_layout::guid_tables::{TDVF_ATTR_MR_EXTEND, TdvfSection};
use sha2::{Digest, Sha384};

use crate::ovmf::Tables;

/// The order the VMM adds and extends pages in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Upstream KVM (`tdx_gmem_post_populate`, Linux ≥ 6.16) with QEMU ≥ 10.1: each page added,
    /// then extended.
    PageByPage,
    /// A whole section added, then extended: pre-upstream TDX stacks; no VMM confirmed.
    SectionBySection,
}

impl Order {
    /// Both orders.
    pub const ALL: [Order; 2] = [Order::PageByPage, Order::SectionBySection];

    /// The manifest label.
    pub fn label(self) -> &'static str {
        match self {
            Order::PageByPage => "page_by_page",
            Order::SectionBySection => "section_by_section",
        }
    }

    /// What it means.
    pub fn description(self) -> &'static str {
        match self {
            Order::PageByPage => "upstream QEMU >= 9 / KVM: per page, TDH.MEM.PAGE.ADD then 16 x TDH.MR.EXTEND",
            Order::SectionBySection => {
                "older TDX QEMU/KVM forks: per section, every TDH.MEM.PAGE.ADD, then every TDH.MR.EXTEND"
            }
        }
    }
}

const CHUNK: u64 = 256;

fn record(tag: &[u8], gpa: u64) -> [u8; 128] {
    let mut r = [0u8; 128];
    r[..tag.len()].copy_from_slice(tag);
    r[16..24].copy_from_slice(&gpa.to_le_bytes());
    r
}

fn page_add(h: &mut Sha384, gpa: u64) {
    h.update(record(b"MEM.PAGE.ADD", gpa));
}

fn extend_page(h: &mut Sha384, gpa: u64, page: &[u8]) {
    for (i, chunk) in page.chunks(CHUNK as usize).enumerate() {
        h.update(record(b"MR.EXTEND", gpa + i as u64 * CHUNK));
        h.update(chunk);
    }
}

/// The contents of the section's page at `offset`.
fn page_of(image: &[u8], s: &TdvfSection, offset: u64) -> Vec<u8> {
    let mut page = vec![0u8; PAGE_SIZE as usize];
    if offset < u64::from(s.raw_data_size) {
        let start = s.data_offset as usize + offset as usize;
        page.copy_from_slice(&image[start..start + PAGE_SIZE as usize]);
    }
    page
}

/// The MRTD of `image` in the given order.
pub fn mrtd(image: &[u8], tables: &Tables, order: Order) -> Result<[u8; 48]> {
    let sections = tables
        .tdvf_sections
        .as_ref()
        .context("the image has no TDVF metadata (GUID e47a6535-984a-4798-865e-4685a7bf8ec2)")?;
    let mut h = Sha384::new();
    for s in sections {
        let extend = s.attributes & TDVF_ATTR_MR_EXTEND != 0;
        let offsets = (0..s.region.size()).step_by(PAGE_SIZE as usize);
        match order {
            Order::PageByPage => {
                for offset in offsets {
                    page_add(&mut h, s.region.start + offset);
                    if extend {
                        extend_page(&mut h, s.region.start + offset, &page_of(image, s, offset));
                    }
                }
            }
            Order::SectionBySection => {
                for offset in offsets.clone() {
                    page_add(&mut h, s.region.start + offset);
                }
                if extend {
                    for offset in offsets {
                        extend_page(&mut h, s.region.start + offset, &page_of(image, s, offset));
                    }
                }
            }
        }
    }
    Ok(h.finalize().into())
}

/// RTMR2 of a TD booted with this runtime configuration: both editions extend it once, from
/// zero, with the configuration record (`fcc_cvm_abi::tdx::config_record`, docs/PLATFORMS.md)
/// before the TEE exists, and nothing else extends it.
pub fn rtmr2(chain_id: u64, proxy_ip: [u8; 4], proxy_port: u16, chain_bound: bool) -> [u8; 48] {
    let record = fcc_cvm_abi::tdx::config_record(chain_id, proxy_ip, proxy_port, chain_bound);
    Sha384::new().chain_update([0u8; 48]).chain_update(record).finalize().into()
}

/// [`rtmr2`] of a boot with `settings`.
pub fn settings_rtmr2(settings: &fcc_guest_platform::config::Settings) -> [u8; 48] {
    let chain_bound = matches!(settings.policy_hash, fcc_core::policy::PolicyHashScheme::ChainBound { .. });
    rtmr2(settings.chain_id, settings.proxy.ip, settings.proxy.port, chain_bound)
}

/// The settings a UEFI edition reads from `file` (its `\EFI\fcc\settings`), or, without one, the
/// defaults fw_cfg gives when it sets nothing.
pub fn uefi_settings(file: Option<&[u8]>) -> Result<fcc_guest_platform::config::Settings> {
    use fcc_guest_platform::config::{self, SettingsFile, Source};
    /// No setting at all: every default.
    struct Nothing;
    impl Source for Nothing {
        fn get(&mut self, _: &'static str, _: &mut [u8]) -> Option<Result<usize, ()>> {
            None
        }
    }
    let read = match file {
        Some(bytes) => {
            let mut file = SettingsFile::parse(bytes).map_err(|e| anyhow::anyhow!("the settings file: {e}"))?;
            config::read(&mut file)
        }
        None => config::read(&mut Nothing),
    };
    read.map_err(|e| anyhow::anyhow!("the settings: {e}"))
}
