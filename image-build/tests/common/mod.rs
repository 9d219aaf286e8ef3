//! Hand-made firmware images: any footer-table entries, SEV metadata and TDVF sections.
#![allow(dead_code)]

use fcc_image::tables::entry;
use fcc_layout::guid_tables::{self as gt, Guid};

/// A raw SEV metadata section: gpa, size, type.
pub type Snp = (u32, u32, u32);
/// A raw TDVF section: data offset, raw size, gpa, memory size, type, attributes.
pub type Tdvf = (u32, u32, u64, u64, u32, u32);

/// Builds an image of `pages` pages (page i filled with byte i) whose footer table holds `extra`
/// entries plus, where given, the SEV-ES reset block, SEV metadata and TDVF descriptor. The
/// blocks go in the last page, below the table.
pub fn image(
    pages: usize,
    reset: Option<u32>,
    snp: Option<&[Snp]>,
    tdvf: Option<&[Tdvf]>,
    extra: &[(Guid, Vec<u8>)],
) -> Vec<u8> {
    let len = pages * 4096;
    let mut img: Vec<u8> = (0..len).map(|i| (i / 4096) as u8).collect();
    let base = len - 4096; // blocks from the start of the last page
    let mut entries: Vec<(Guid, Vec<u8>)> = extra.to_vec();
    if let Some(sections) = snp {
        let mut b = b"ASEV".to_vec();
        b.extend(((16 + 12 * sections.len()) as u32).to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend((sections.len() as u32).to_le_bytes());
        for (gpa, size, kind) in sections {
            b.extend(gpa.to_le_bytes());
            b.extend(size.to_le_bytes());
            b.extend(kind.to_le_bytes());
        }
        img[base..base + b.len()].copy_from_slice(&b);
        entries.push((gt::SEV_METADATA, ((len - base) as u32).to_le_bytes().to_vec()));
    }
    if let Some(sections) = tdvf {
        let at = base + 0x400;
        let mut b = b"TDVF".to_vec();
        b.extend(((16 + 32 * sections.len()) as u32).to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend((sections.len() as u32).to_le_bytes());
        for (off, raw, gpa, size, kind, attr) in sections {
            b.extend(off.to_le_bytes());
            b.extend(raw.to_le_bytes());
            b.extend(gpa.to_le_bytes());
            b.extend(size.to_le_bytes());
            b.extend(kind.to_le_bytes());
            b.extend(attr.to_le_bytes());
        }
        img[at..at + b.len()].copy_from_slice(&b);
        entries.push((gt::TDX_METADATA_OFFSET, ((len - at) as u32).to_le_bytes().to_vec()));
    }
    if let Some(addr) = reset {
        entries.push((gt::SEV_ES_RESET_BLOCK, addr.to_le_bytes().to_vec()));
    }
    let mut table = Vec::new();
    for (guid, data) in &entries {
        table.extend(entry(*guid, data));
    }
    table.extend(((table.len() + 18) as u16).to_le_bytes());
    table.extend(gt::FOOTER.0);
    let end = len - 0x20;
    img[end - table.len()..end].copy_from_slice(&table);
    img
}

/// The 4 GiB-relative address of page `i` of an image of `pages` pages.
pub fn gpa(pages: usize, i: usize) -> u64 {
    (1u64 << 32) - (pages * 4096) as u64 + (i * 4096) as u64
}

/// Builds the guest ROM from this workspace (as `fcc-image build` does) and returns its path and
/// bytes.
pub fn guest_rom() -> (std::path::PathBuf, Vec<u8>) {
    let workspace = fcc_image::build::workspace_root();
    let path = workspace.join(fcc_image::build::ROM_PATH);
    let rom = fcc_image::build::build_rom(&workspace, &path).unwrap();
    (path, rom.bytes)
}
