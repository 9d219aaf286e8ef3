//! ELF → flat ROM: every `PT_LOAD` segment's file bytes go to (physical address − ROM base);
//! bytes no segment covers are `fcc_layout::ROM_FILL` (0xFF); then the GUID tables
//! ([`crate::tables`]) go into the area the linker left as fill, and are read back. Only the physical addresses and
//! file bytes of the load segments reach the ROM, so symbols, section names and anything else
//! in the ELF cannot change the image.

use anyhow::{Context, Result, bail, ensure};
use fcc_layout::{RESET_VECTOR, ROM, ROM_FILL, Region};
use object::elf::PT_LOAD;
use object::read::elf::{ElfFile64, ProgramHeader as _};
use object::{Endianness, Object as _};
use sha2::{Digest, Sha384};

/// A ROM image and what went into it.
#[derive(Debug, Clone)]
pub struct Rom {
    /// The image, exactly `fcc_layout::ROM_SIZE` bytes.
    pub bytes: Vec<u8>,
    /// The physical ranges the ELF's load segments filled, in address order.
    pub segments: Vec<Region>,
}

impl Rom {
    /// Bytes the load segments fill (the rest is fill).
    pub fn used(&self) -> u64 {
        self.segments.iter().map(Region::size).sum()
    }

    /// SHA-384 of the image (the hash SEV-SNP and TDX measurements are built from).
    pub fn sha384(&self) -> [u8; 48] {
        Sha384::digest(&self.bytes).into()
    }
}

/// Builds the ROM from the kernel's ELF.
pub fn from_elf(elf: &[u8]) -> Result<Rom> {
    let file = ElfFile64::<Endianness>::parse(elf).context("parsing the kernel ELF")?;
    let endian = file.endian();
    ensure!(file.architecture() == object::Architecture::X86_64, "the kernel ELF is not x86-64");

    let mut bytes = vec![ROM_FILL; usize::try_from(ROM.size())?];
    let mut segments: Vec<Region> = Vec::new();
    for ph in file.elf_program_headers() {
        if ph.p_type(endian) != PT_LOAD || ph.p_filesz(endian) == 0 {
            continue; // .bss-only segments have nothing to load
        }
        let start = ph.p_paddr(endian);
        let end = start.checked_add(ph.p_filesz(endian)).context("segment end overflows")?;
        let region = Region { start, end };
        if !ROM.contains_region(&region) {
            bail!(
                "load segment at physical [{start:#x}, {end:#x}) is outside the ROM [{:#x}, {:#x})",
                ROM.start,
                ROM.end
            );
        }
        if let Some(other) = segments.iter().find(|r| r.overlaps(&region)) {
            bail!("load segments [{start:#x}, {end:#x}) and [{:#x}, {:#x}) overlap", other.start, other.end);
        }
        let data =
            ph.data(endian, elf).map_err(|()| anyhow::anyhow!("segment at {start:#x}: file bytes out of the ELF"))?;
        let offset = usize::try_from(start - ROM.start)?;
        bytes[offset..offset + data.len()].copy_from_slice(data);
        segments.push(region);
    }
    segments.sort_by_key(|r| r.start);

    ensure!(segments.iter().any(|r| r.contains(RESET_VECTOR.start)), "no load segment covers the reset vector");
    crate::tables::write(&mut bytes)?;
    check_tables(&bytes)?;
    Ok(Rom { bytes, segments })
}

/// Reads the tables back and checks they say exactly what `fcc_layout::guid_tables` does.
fn check_tables(bytes: &[u8]) -> Result<()> {
    use fcc_layout::guid_tables as gt;
    let t = crate::ovmf::parse(bytes).context("reading back the GUID tables")?;
    ensure!(t.rom == ROM, "tables: ROM range");
    ensure!(t.sev_es_reset == Some(gt::SNP_AP_RESET_ADDRESS), "tables: SEV-ES reset block");
    ensure!(t.snp_sections.as_deref() == Some(&gt::SNP_SECTIONS[..]), "tables: SEV metadata");
    ensure!(t.tdvf_sections.as_deref() == Some(&gt::TDVF_SECTIONS[..]), "tables: TDVF sections");
    let guid_at = usize::try_from(gt::TDVF_GUID_AT - ROM.start)?;
    ensure!(bytes[guid_at..guid_at + 16] == gt::TDVF_METADATA.0, "tables: TDVF metadata GUID");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with the given (paddr, bytes) load segments.
    fn elf(segments: &[(u64, &[u8])]) -> Vec<u8> {
        let phoff = 64u64;
        let data_off = phoff + 56 * segments.len() as u64;
        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // 64-bit
        out[5] = 1; // little endian
        out[6] = 1;
        out[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        out[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[32..40].copy_from_slice(&phoff.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes());
        out[54..56].copy_from_slice(&56u16.to_le_bytes());
        out[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        let mut offset = data_off;
        for (paddr, data) in segments {
            let mut ph = Vec::new();
            ph.extend_from_slice(&PT_LOAD.to_le_bytes());
            ph.extend_from_slice(&5u32.to_le_bytes());
            ph.extend_from_slice(&offset.to_le_bytes());
            ph.extend_from_slice(&paddr.to_le_bytes()); // vaddr
            ph.extend_from_slice(&paddr.to_le_bytes());
            ph.extend_from_slice(&(data.len() as u64).to_le_bytes());
            ph.extend_from_slice(&(data.len() as u64).to_le_bytes());
            ph.extend_from_slice(&0x1000u64.to_le_bytes());
            out.extend_from_slice(&ph);
            offset += data.len() as u64;
        }
        for (_, data) in segments {
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn places_segments_at_physical_addresses() {
        let rom = from_elf(&elf(&[(ROM.start, &[1, 2, 3]), (RESET_VECTOR.start, &[0x0f, 0x31])])).unwrap();
        assert_eq!(rom.bytes.len() as u64, ROM.size());
        assert_eq!(&rom.bytes[..4], &[1, 2, 3, ROM_FILL]);
        let rv = (RESET_VECTOR.start - ROM.start) as usize;
        assert_eq!(&rom.bytes[rv..rv + 3], &[0x0f, 0x31, ROM_FILL]);
        assert_eq!(rom.used(), 5);
        let guid =
            (fcc_layout::GUID_TABLE.start - ROM.start) as usize..(fcc_layout::GUID_TABLE.end - ROM.start) as usize;
        let outside = rom.bytes.iter().enumerate().filter(|(i, b)| !guid.contains(i) && **b != ROM_FILL).count();
        assert_eq!(outside, 5, "only the segments and the GUID tables leave the fill");
        assert!(crate::ovmf::parse(&rom.bytes).unwrap().snp_sections.is_some());
    }

    #[test]
    fn refuses_bad_images() {
        let rv: &[u8] = &[0x0f, 0x31];
        let below = from_elf(&elf(&[(ROM.start - 1, &[1, 2]), (RESET_VECTOR.start, rv)]));
        assert!(below.unwrap_err().to_string().contains("outside the ROM"));
        let past_end = from_elf(&elf(&[(RESET_VECTOR.start, &[0; 17])]));
        assert!(past_end.unwrap_err().to_string().contains("outside the ROM"));
        let overlap = from_elf(&elf(&[(ROM.start, &[1, 2]), (ROM.start + 1, &[3]), (RESET_VECTOR.start, rv)]));
        assert!(overlap.unwrap_err().to_string().contains("overlap"));
        let no_reset = from_elf(&elf(&[(ROM.start, &[1])]));
        assert!(no_reset.unwrap_err().to_string().contains("reset vector"));
        let guid = from_elf(&elf(&[(fcc_layout::GUID_TABLE.start, &[0]), (RESET_VECTOR.start, rv)]));
        assert!(guid.unwrap_err().to_string().contains("GUID"));
        assert!(from_elf(b"not an elf").is_err());
    }
}
