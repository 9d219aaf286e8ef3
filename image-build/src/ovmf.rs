//! Reads the OVMF-style GUID tables of any firmware image, as QEMU (`pc_system_parse_ovmf_flash`,
//! `hw/i386/tdvf.c`, `target/i386/sev.c`) and `sev-snp-measure` do, but strictly: every
//! inconsistency that could make a VMM and this crate disagree about what is measured (lengths out
//! of range, duplicate entries, unknown or overlapping sections, unaligned sizes, a truncated
//! image) is an error, never a guess.

use anyhow::{Context, Result, bail, ensure};
use fcc_layout::guid_tables::{
    self as gt, Guid, SnpSection, SnpSectionType, TDVF_ATTR_MR_EXTEND, TDVF_ATTR_PAGE_AUG, TdvfSection, TdvfSectionType,
};
use fcc_layout::{FOUR_GIB, PAGE_SIZE, Region};

/// What the tables of an image say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// Where the image is mapped: it ends at 4 GiB.
    pub rom: Region,
    /// Footer-table entries, from the footer down: GUID and data.
    pub entries: Vec<(Guid, Vec<u8>)>,
    /// The SEV-ES reset block's address (where SNP application processors start).
    pub sev_es_reset: Option<u32>,
    /// SEV metadata sections (`None` without the SEV metadata entry).
    pub snp_sections: Option<Vec<SnpSection>>,
    /// TDVF sections (`None` without the TDX metadata entry).
    pub tdvf_sections: Option<Vec<TdvfSection>>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The u32 data of a footer-table entry.
fn entry_u32(entries: &[(Guid, Vec<u8>)], guid: Guid, what: &str) -> Result<Option<u32>> {
    match entries.iter().find(|(g, _)| *g == guid) {
        None => Ok(None),
        Some((_, data)) => {
            ensure!(data.len() >= 4, "the {what} entry has {} bytes of data, not 4", data.len());
            Ok(Some(u32_at(data, 0)))
        }
    }
}

/// A block that a footer-table entry points at by its offset from the end of the image: its
/// header must lie inside the image.
fn block_at(image: &[u8], offset_from_end: u32, what: &str) -> Result<usize> {
    let offset = offset_from_end as usize;
    ensure!(
        offset >= 16 && offset <= image.len(),
        "the {what} offset {offset:#x} from the end lies outside the {:#x}-byte image",
        image.len()
    );
    Ok(image.len() - offset)
}

/// Parses the footer table and, where present, the SEV metadata, SEV-ES reset block and TDVF
/// descriptor.
pub fn parse(image: &[u8]) -> Result<Tables> {
    let len = image.len();
    ensure!(len >= PAGE_SIZE as usize, "the image is truncated: {len} bytes, less than one page");
    ensure!(
        len.is_multiple_of(PAGE_SIZE as usize),
        "the image is truncated: {len} bytes is not a whole number of pages"
    );
    ensure!(len as u64 <= FOUR_GIB / 2, "the image is {len} bytes: too big for a ROM below 4 GiB");
    let rom = Region { start: FOUR_GIB - len as u64, end: FOUR_GIB };

    let footer_at = len - 0x30;
    ensure!(
        image[footer_at..footer_at + 16] == gt::FOOTER.0,
        "bad GUID table: no OVMF table footer GUID ({}) at end - 0x30",
        "96b582de-1fb2-45f7-baea-a366c55a082d"
    );
    let total = u16_at(image, footer_at - 2) as usize;
    ensure!(total >= 18, "bad GUID table: total length {total} is less than the footer's 18 bytes");
    let table_len = total - 18;
    ensure!(table_len <= footer_at - 2, "bad GUID table: total length {total} runs past the start of the image");
    let table = &image[footer_at - 2 - table_len..footer_at - 2];

    let mut entries: Vec<(Guid, Vec<u8>)> = Vec::new();
    let mut end = table.len();
    while end > 0 {
        ensure!(end >= 18, "bad GUID table: {end} bytes left before the first entry, too few for an entry");
        let guid = Guid(table[end - 16..end].try_into().expect("16 bytes"));
        let entry_len = u16_at(table, end - 18) as usize;
        ensure!(
            (18..=end).contains(&entry_len),
            "bad GUID table: entry {} has length {entry_len}, outside 18..={end}",
            hex::encode(guid.0)
        );
        ensure!(
            !entries.iter().any(|(g, _)| *g == guid),
            "bad GUID table: entry {} appears twice",
            hex::encode(guid.0)
        );
        entries.push((guid, table[end - entry_len..end - 18].to_vec()));
        end -= entry_len;
    }

    let sev_es_reset = entry_u32(&entries, gt::SEV_ES_RESET_BLOCK, "SEV-ES reset block")?;
    if let Some(addr) = sev_es_reset {
        ensure!(addr != 0, "the SEV-ES reset block's address is zero");
    }
    let snp_sections = match entry_u32(&entries, gt::SEV_METADATA, "SEV metadata")? {
        None => None,
        Some(offset) => Some(parse_sev_metadata(image, block_at(image, offset, "SEV metadata")?, rom)?),
    };
    let tdvf_sections = match entry_u32(&entries, gt::TDX_METADATA_OFFSET, "TDX metadata offset")? {
        None => None,
        Some(offset) => Some(parse_tdvf(image, block_at(image, offset, "TDVF descriptor")?)?),
    };
    Ok(Tables { rom, entries, sev_es_reset, snp_sections, tdvf_sections })
}

/// Checks the 16-byte header both metadata blocks share (signature, total length, version 1,
/// entry count) and returns the entry count: at least `min_count` entries of `entry_len` bytes
/// must fit in the stated length, which must fit in the image.
fn metadata_header(
    image: &[u8],
    at: usize,
    what: &str,
    signature: [u8; 4],
    entry_len: usize,
    min_count: usize,
) -> Result<usize> {
    let shown = String::from_utf8_lossy(&signature);
    ensure!(image[at..at + 4] == signature, "{what}: signature is not \"{shown}\"");
    let size = u32_at(image, at + 4) as usize;
    let version = u32_at(image, at + 8);
    let count = u32_at(image, at + 12) as usize;
    ensure!(version == gt::METADATA_VERSION, "{what}: version {version}, only 1 is known");
    ensure!(at + size <= image.len(), "{what}: its length {size} runs past the end of the image");
    ensure!(
        count >= min_count && count.checked_mul(entry_len).and_then(|n| n.checked_add(16)).is_some_and(|n| n <= size),
        "{what}: {count} sections do not fit in its length {size}"
    );
    Ok(count)
}

fn parse_sev_metadata(image: &[u8], at: usize, rom: Region) -> Result<Vec<SnpSection>> {
    let count = metadata_header(image, at, "SEV metadata", gt::SEV_METADATA_SIGNATURE, 12, 0)?;
    let mut sections: Vec<SnpSection> = Vec::new();
    for i in 0..count {
        let d = at + 16 + 12 * i;
        let (gpa, len, kind) = (u32_at(image, d), u32_at(image, d + 4), u32_at(image, d + 8));
        let kind =
            SnpSectionType::from_u32(kind).with_context(|| format!("SEV metadata section {i}: unknown type {kind}"))?;
        let region = Region { start: u64::from(gpa), end: u64::from(gpa) + u64::from(len) };
        ensure!(
            len > 0 && region.is_aligned(PAGE_SIZE),
            "SEV metadata section {i} ({kind:?}) at {gpa:#x}, {len:#x} bytes: not whole pages"
        );
        ensure!(region.end <= FOUR_GIB, "SEV metadata section {i} ({kind:?}) ends above 4 GiB");
        if matches!(kind, SnpSectionType::Secrets | SnpSectionType::Cpuid) {
            ensure!(len as u64 == PAGE_SIZE, "SEV metadata section {i} ({kind:?}) is {len:#x} bytes, not one page");
        }
        ensure!(!region.overlaps(&rom), "SEV metadata section {i} ({kind:?}) overlaps the ROM");
        if let Some((j, _)) = sections.iter().enumerate().find(|(_, s)| s.region.overlaps(&region)) {
            bail!("SEV metadata sections {j} and {i} overlap");
        }
        sections.push(SnpSection { region, kind });
    }
    Ok(sections)
}

fn parse_tdvf(image: &[u8], at: usize) -> Result<Vec<TdvfSection>> {
    let count = metadata_header(image, at, "TDVF descriptor", gt::TDVF_SIGNATURE, 32, 1)?;
    let mut sections: Vec<TdvfSection> = Vec::new();
    for i in 0..count {
        let d = at + 16 + 32 * i;
        let (data_offset, raw_data_size) = (u32_at(image, d), u32_at(image, d + 4));
        let (gpa, mem_size) = (u64_at(image, d + 8), u64_at(image, d + 16));
        let (kind, attributes) = (u32_at(image, d + 24), u32_at(image, d + 28));
        let kind = TdvfSectionType::from_u32(kind).with_context(|| {
            format!("TDVF section {i}: unsupported type {kind} (QEMU accepts BFV, CFV, TD_HOB, TEMP_MEM)")
        })?;
        let region = Region { start: gpa, end: gpa.checked_add(mem_size).context("TDVF section end overflows")? };
        let page = PAGE_SIZE as u32;
        ensure!(
            mem_size > 0 && region.is_aligned(PAGE_SIZE) && data_offset % page == 0 && raw_data_size % page == 0,
            "TDVF section {i} ({kind:?}): address, size, data offset or data size not 4 KiB aligned"
        );
        ensure!(u64::from(raw_data_size) <= mem_size, "TDVF section {i} ({kind:?}): more data than memory");
        ensure!(
            data_offset as usize + raw_data_size as usize <= image.len(),
            "TDVF section {i} ({kind:?}): its data runs past the end of the image"
        );
        ensure!(
            attributes & !(TDVF_ATTR_MR_EXTEND | TDVF_ATTR_PAGE_AUG) == 0,
            "TDVF section {i}: unknown attributes {attributes:#x}"
        );
        match kind {
            TdvfSectionType::Bfv | TdvfSectionType::Cfv => {
                ensure!(raw_data_size > 0, "TDVF section {i} ({kind:?}) carries no data");
                ensure!(attributes & TDVF_ATTR_PAGE_AUG == 0, "TDVF section {i} ({kind:?}) cannot be PAGE_AUG");
            }
            TdvfSectionType::TdHob | TdvfSectionType::TempMem => {
                ensure!(raw_data_size == 0, "TDVF section {i} ({kind:?}) must not carry data");
                ensure!(attributes == 0, "TDVF section {i} ({kind:?}) must have no attributes (no MR.EXTEND)");
            }
        }
        if let Some((j, _)) = sections.iter().enumerate().find(|(_, s)| s.region.overlaps(&region)) {
            bail!("TDVF sections {j} and {i} overlap");
        }
        sections.push(TdvfSection { data_offset, raw_data_size, region, kind, attributes });
    }
    ensure!(
        sections.iter().filter(|s| s.kind == TdvfSectionType::Bfv).count() == 1,
        "TDVF descriptor: needs exactly one BFV section"
    );
    Ok(sections)
}
