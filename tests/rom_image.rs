//! The built ROM, byte by byte where it matters: its size, the GUID tables (as fcc-layout defines them), and a
//! reset vector whose first instructions decode the same in 16-bit real mode and 32-bit protected
//! mode — the TDX path cannot be booted here, so its entry is checked at the byte level.

use fcc_e2e::rom;
use fcc_layout::{BOOT_CODE, PROTECTED_MODE_ENTRY, RESET_VECTOR, ROM, SNP_AP_ENTRY, guid_tables};

fn at(image: &[u8], addr: u64) -> &[u8] {
    &image[usize::try_from(addr - ROM.start).unwrap()..]
}

#[test]
fn size_and_guid_tables() {
    let image = std::fs::read(rom()).unwrap();
    assert_eq!(image.len() as u64, ROM.size());
    let tables = fcc_image::ovmf::parse(&image).unwrap();
    assert_eq!(tables.sev_es_reset, Some(guid_tables::SNP_AP_RESET_ADDRESS));
    assert_eq!(tables.snp_sections.as_deref(), Some(&guid_tables::SNP_SECTIONS[..]));
    assert_eq!(tables.tdvf_sections.as_deref(), Some(&guid_tables::TDVF_SECTIONS[..]));
    // The SNP AP entry parks: cli; pause; jmp back to the pause.
    assert_eq!(&at(&image, SNP_AP_ENTRY.start)[..5], &[0xfa, 0xf3, 0x90, 0xeb, 0xfc]);
}

#[test]
fn reset_vector_serves_both_start_modes() {
    let image = std::fs::read(rom()).unwrap();
    let rv = at(&image, RESET_VECTOR.start);
    // rdtsc; mov ecx, cr0; test cl, 1 — identical in both modes.
    assert_eq!(&rv[..8], &[0x0f, 0x31, 0x0f, 0x20, 0xc1, 0xf6, 0xc1, 0x01]);
    // jnz rel8 → the 32-bit entry (taken only when CR0.PE = 1).
    assert_eq!(rv[8], 0x75);
    let after_jnz = RESET_VECTOR.start + 10;
    assert_eq!(after_jnz.wrapping_add_signed(i64::from(rv[9] as i8)), PROTECTED_MODE_ENTRY.start);
    // Real mode falls through to jmp rel16 (IP wraps inside the last 64 KiB) into the boot code.
    assert_eq!(rv[10], 0xe9);
    let ip = (after_jnz + 3) as u16;
    let target = 0xffff_0000 + u64::from(ip.wrapping_add(u16::from_le_bytes([rv[11], rv[12]])));
    assert!(BOOT_CODE.contains(target), "real-mode jump to {target:#x}");
    // The 32-bit entry: jmp rel32 into the boot code.
    let pm = at(&image, PROTECTED_MODE_ENTRY.start);
    assert_eq!(pm[0], 0xe9);
    let rel = i32::from_le_bytes(pm[1..5].try_into().unwrap());
    let target = (PROTECTED_MODE_ENTRY.start + 5).wrapping_add_signed(i64::from(rel)) & 0xffff_ffff;
    assert!(BOOT_CODE.contains(target), "protected-mode jump to {target:#x}");
}
