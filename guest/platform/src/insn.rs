//! What #VC (SEV-SNP) and #VE (TDX) handling share at the instruction level: the MMIO emulation
//! around `fcc_cvm_abi::mmio`'s decoder, over instruction bytes the edition reads only from its
//! own code (the ROM's image; the UEFI application's loaded image). The platforms differ only in
//! how the access reaches the host (the GHCB, or TDG.VP.VMCALL<#VE.RequestMMIO>).

use fcc_cvm_abi::mmio::{self, Insn, MmioError};

use crate::frame::ExceptionFrame;

/// Why an MMIO access was not emulated.
#[derive(Debug)]
pub enum MmioRefusal<E> {
    /// The faulting instruction is not the guest's own code.
    Rip,
    /// Not an instruction the decoder handles.
    Decode(MmioError),
    /// The platform refused or failed the access.
    Access(E),
}

/// Emulates the MMIO instruction at the frame's RIP: reads it through `instruction_at` (the
/// bytes at a RIP inside the guest's code, else `None`), decodes it, lets `access` perform it
/// (given the instruction, the registers and its RIP; it returns the bytes read, anything for a
/// write) and completes it — destination register written, RIP past the instruction.
pub fn emulate_mmio<E>(
    frame: &mut ExceptionFrame,
    instruction_at: fn(u64) -> Option<&'static [u8]>,
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
