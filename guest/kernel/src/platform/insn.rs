//! What #VC (SEV-SNP) and #VE (TDX) handling share at the instruction level: the bytes at the
//! faulting RIP — read only from the kernel image — and the MMIO emulation around
//! `fcc_cvm_abi::mmio`'s decoder. The two platforms differ only in how the access reaches the
//! host (the GHCB, or TDG.VP.VMCALL<#VE.RequestMMIO>).

use fcc_cvm_abi::mmio::{self, Insn, MmioError};
use fcc_guest_platform::frame::ExceptionFrame;
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

/// Why an MMIO access was not emulated.
#[derive(Debug)]
pub enum MmioRefusal<E> {
    /// The faulting instruction is not in the kernel image.
    Rip,
    /// Not an instruction the decoder handles.
    Decode(MmioError),
    /// The platform refused or failed the access.
    Access(E),
}

/// Emulates the MMIO instruction at the frame's RIP: decodes it, lets `access` perform it (given
/// the instruction, the registers and its RIP; it returns the bytes read, anything for a write)
/// and completes it — destination register written, RIP past the instruction.
pub fn emulate_mmio<E>(
    frame: &mut ExceptionFrame,
    access: impl FnOnce(&Insn, &[u64; 16], u64) -> Result<u64, E>,
) -> Result<(), MmioRefusal<E>> {
    let bytes = instruction_at(frame.rip).ok_or(MmioRefusal::Rip)?;
    let insn = mmio::decode(bytes).map_err(MmioRefusal::Decode)?;
    let mut regs = frame.gprs();
    let value = access(&insn, &regs, frame.rip).map_err(MmioRefusal::Access)?;
    insn.complete_read(&mut regs, value);
    frame.set_gprs(&regs);
    frame.rip += insn.len as u64;
    Ok(())
}
