//! The ROM's code for the #VC (SEV-SNP) and #VE (TDX) handlers' MMIO emulation
//! (`fcc_guest_platform::insn`): instruction bytes are read only from the kernel image.

use fcc_layout::{ROM_SIZE, ROM_VIRT_BASE};

/// The instruction bytes at `rip` (up to 15), if it lies in the kernel image (the ROM through
/// the high alias, which runs up to the end of the address space).
pub fn instruction_at(rip: u64) -> Option<&'static [u8]> {
    if rip < ROM_VIRT_BASE {
        return None;
    }
    let left = (ROM_VIRT_BASE + (ROM_SIZE - 1)) - rip + 1;
    let len = left.min(15) as usize;
    // SAFETY: [rip, rip + len) lies inside the ROM's high-alias mapping (present, read-only,
    // never written), so reading it is sound for the whole boot.
    Some(unsafe { core::slice::from_raw_parts(core::ptr::with_exposed_provenance::<u8>(rip as usize), len) })
}
