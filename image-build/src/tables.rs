//! Writes the OVMF-style GUID tables of `fcc_layout::guid_tables` into a ROM image: the SEV
//! metadata block, the TDVF descriptor (after its GUID) and the footer table ending at
//! 4 GiB − 0x20. Only this module serializes them; [`crate::ovmf`] parses any image back.

use anyhow::{Result, ensure};
use fcc_layout::guid_tables::{self as gt, Guid};
use fcc_layout::{GUID_TABLE, ROM, ROM_FILL};

fn at(addr: u64) -> usize {
    usize::try_from(addr - ROM.start).expect("ROM offsets fit in usize")
}

/// Offset from the end of the ROM, as the footer-table entries store it.
fn from_end(addr: u64) -> u32 {
    u32::try_from(ROM.end - addr).expect("inside the ROM")
}

/// The SEV metadata block.
pub fn sev_metadata() -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&gt::SEV_METADATA_SIGNATURE);
    out.extend_from_slice(&(gt::SEV_METADATA_BLOCK.size() as u32).to_le_bytes());
    out.extend_from_slice(&gt::METADATA_VERSION.to_le_bytes());
    out.extend_from_slice(&(gt::SNP_SECTIONS.len() as u32).to_le_bytes());
    for s in gt::SNP_SECTIONS {
        out.extend_from_slice(&(s.region.start as u32).to_le_bytes());
        out.extend_from_slice(&(s.region.size() as u32).to_le_bytes());
        out.extend_from_slice(&(s.kind as u32).to_le_bytes());
    }
    out
}

/// The TDVF descriptor (without the GUID before it).
pub fn tdvf_descriptor() -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&gt::TDVF_SIGNATURE);
    out.extend_from_slice(&(gt::TDVF_DESCRIPTOR.size() as u32).to_le_bytes());
    out.extend_from_slice(&gt::METADATA_VERSION.to_le_bytes());
    out.extend_from_slice(&(gt::TDVF_SECTIONS.len() as u32).to_le_bytes());
    for s in gt::TDVF_SECTIONS {
        out.extend_from_slice(&s.data_offset.to_le_bytes());
        out.extend_from_slice(&s.raw_data_size.to_le_bytes());
        out.extend_from_slice(&s.region.start.to_le_bytes());
        out.extend_from_slice(&s.region.size().to_le_bytes());
        out.extend_from_slice(&(s.kind as u32).to_le_bytes());
        out.extend_from_slice(&s.attributes.to_le_bytes());
    }
    out
}

/// One footer-table entry: `data ‖ u16 length ‖ GUID`.
pub fn entry(guid: Guid, data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    out.extend_from_slice(&u16::try_from(data.len() + 18).expect("small entry").to_le_bytes());
    out.extend_from_slice(&guid.0);
    out
}

/// The footer table: the entries (lowest first), the total length, the footer GUID.
pub fn footer_table() -> Vec<u8> {
    let mut out = Vec::new();
    for (guid, len) in gt::FOOTER_ENTRIES {
        let data = match guid {
            g if g == gt::TDX_METADATA_OFFSET => from_end(gt::TDVF_DESCRIPTOR.start),
            g if g == gt::SEV_ES_RESET_BLOCK => gt::SNP_AP_RESET_ADDRESS,
            g if g == gt::SEV_METADATA => from_end(gt::SEV_METADATA_BLOCK.start),
            _ => unreachable!("an entry fcc-image does not know"),
        };
        assert_eq!(len, 4);
        out.extend(entry(guid, &data.to_le_bytes()));
    }
    out.extend_from_slice(&u16::try_from(out.len() + 18).expect("small table").to_le_bytes());
    out.extend_from_slice(&gt::FOOTER.0);
    out
}

/// Writes every table into `rom` (a whole ROM image whose GUID-table area is still fill).
pub fn write(rom: &mut [u8]) -> Result<()> {
    ensure!(rom.len() as u64 == ROM.size(), "the ROM is {} bytes, not {}", rom.len(), ROM.size());
    let area = at(GUID_TABLE.start)..at(GUID_TABLE.end);
    ensure!(rom[area].iter().all(|&b| b == ROM_FILL), "the GUID table area is not empty");
    let mut put = |addr: u64, bytes: &[u8]| rom[at(addr)..at(addr) + bytes.len()].copy_from_slice(bytes);
    let sev = sev_metadata();
    assert_eq!(sev.len() as u64, gt::SEV_METADATA_BLOCK.size());
    put(gt::SEV_METADATA_BLOCK.start, &sev);
    put(gt::TDVF_GUID_AT, &gt::TDVF_METADATA.0);
    let tdvf = tdvf_descriptor();
    assert_eq!(tdvf.len() as u64, gt::TDVF_DESCRIPTOR.size());
    put(gt::TDVF_DESCRIPTOR.start, &tdvf);
    let table = footer_table();
    assert_eq!(table.len() as u64, gt::FOOTER_TABLE.size());
    put(gt::FOOTER_TABLE.start, &table);
    Ok(())
}
