//! What a #VC exception asks for. Under SEV-ES/SNP the hypervisor cannot see the guest's
//! registers, so CPUID, port I/O and MSR accesses raise #VC with the exit code as the error code,
//! and the guest's handler decodes the instruction at RIP, performs it through the GHCB and
//! skips it. The guest triggers only a handful of instructions; anything else is refused (the
//! kernel halts with a diagnostic) rather than emulated.

use super::ghcb::{ExitResult, Ghcb, NotValid, exit, ioio_info, offset, result};

/// A decoded instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insn {
    /// CPUID.
    Cpuid,
    /// RDMSR.
    Rdmsr,
    /// WRMSR.
    Wrmsr,
    /// IN or OUT.
    Io {
        /// The port: an immediate, or `None` for DX.
        port: Option<u8>,
        /// Operand bytes: 1, 2 or 4.
        size: u8,
        /// IN (true) or OUT.
        input: bool,
    },
}

/// A decoded #VC: the instruction and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// What to do.
    pub insn: Insn,
    /// Bytes to skip.
    pub len: usize,
}

/// Why a #VC is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcError {
    /// An exit code the guest does not handle.
    UnsupportedExit(u64),
    /// The bytes at RIP are not an instruction of that exit the guest handles (e.g. string I/O).
    UnsupportedInstruction,
    /// The exit code and the instruction disagree.
    Mismatch,
}

/// Decodes the instruction `bytes` (from RIP, up to 15) for #VC `error_code`.
pub fn decode(error_code: u64, bytes: &[u8]) -> Result<Decoded, VcError> {
    if !matches!(error_code, exit::CPUID | exit::IOIO | exit::MSR) {
        return Err(VcError::UnsupportedExit(error_code));
    }
    // Only the operand-size prefix is accepted (16-bit IN/OUT); REP, segment and REX prefixes are
    // not produced by the guest's code for these instructions.
    let mut i = 0;
    let mut opsize16 = false;
    while i < bytes.len() && bytes[i] == 0x66 {
        opsize16 = true;
        i += 1;
    }
    let op = *bytes.get(i).ok_or(VcError::UnsupportedInstruction)?;
    let wide = if opsize16 { 2 } else { 4 };
    let (insn, len) = match op {
        0x0f => {
            let op2 = *bytes.get(i + 1).ok_or(VcError::UnsupportedInstruction)?;
            let insn = match op2 {
                0xa2 => Insn::Cpuid,
                0x32 => Insn::Rdmsr,
                0x30 => Insn::Wrmsr,
                _ => return Err(VcError::UnsupportedInstruction),
            };
            (insn, i + 2)
        }
        0xe4..=0xe7 => {
            let imm = *bytes.get(i + 1).ok_or(VcError::UnsupportedInstruction)?;
            let size = if op & 1 == 0 { 1 } else { wide };
            (Insn::Io { port: Some(imm), size, input: op < 0xe6 }, i + 2)
        }
        0xec..=0xef => {
            let size = if op & 1 == 0 { 1 } else { wide };
            (Insn::Io { port: None, size, input: op < 0xee }, i + 1)
        }
        _ => return Err(VcError::UnsupportedInstruction),
    };
    let expected = match insn {
        Insn::Cpuid => exit::CPUID,
        Insn::Rdmsr | Insn::Wrmsr => exit::MSR,
        Insn::Io { .. } => exit::IOIO,
    };
    if expected != error_code {
        return Err(VcError::Mismatch);
    }
    Ok(Decoded { insn, len })
}

/// The general-purpose registers a #VC instruction reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Regs {
    /// RAX.
    pub rax: u64,
    /// RBX.
    pub rbx: u64,
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
}

/// Why the hypervisor's answer to a forwarded instruction is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardError {
    /// CPUID is answered from the CPUID page, never forwarded.
    NotForwarded,
    /// The exit did not complete (see [`super::ghcb::result`]).
    Exit(super::ghcb::ExitResult),
    /// A register the instruction returns was not marked valid (its GHCB offset).
    NotValid(usize),
}

/// The GHCB request for a forwarded IN/OUT, RDMSR or WRMSR: exit code, both exit infos and the
/// input registers, each marked valid. CPUID is not forwarded (the CPUID page answers it).
pub fn request(insn: Insn, regs: &Regs) -> Result<Ghcb, ForwardError> {
    let mut g = Ghcb::new();
    match insn {
        Insn::Cpuid => return Err(ForwardError::NotForwarded),
        Insn::Rdmsr | Insn::Wrmsr => {
            let write = insn == Insn::Wrmsr;
            g.set(offset::RCX, regs.rcx & 0xffff_ffff);
            if write {
                g.set(offset::RAX, regs.rax & 0xffff_ffff);
                g.set(offset::RDX, regs.rdx & 0xffff_ffff);
            }
            g.set_exit(exit::MSR, u64::from(write), 0);
        }
        Insn::Io { port, size, input } => {
            let port = port.map_or(regs.rdx as u16, u16::from);
            let info = ioio_info(port, size, input).ok_or(ForwardError::NotForwarded)?;
            if !input {
                g.set(offset::RAX, regs.rax & size_mask(size));
            }
            g.set_exit(exit::IOIO, info, 0);
        }
    }
    Ok(g)
}

fn size_mask(size: u8) -> u64 {
    match size {
        1 => 0xff,
        2 => 0xffff,
        _ => 0xffff_ffff,
    }
}

/// Writes what the hypervisor answered into `regs`, as the instruction would have: IN replaces
/// AL/AX (the rest of RAX kept) or EAX (zero-extended into RAX); RDMSR sets EAX and EDX
/// (zero-extended). Only fields the hypervisor marked valid are believed.
pub fn apply(insn: Insn, answer: &Ghcb, regs: &mut Regs) -> Result<(), ForwardError> {
    match result(answer) {
        ExitResult::Ok => {}
        other => return Err(ForwardError::Exit(other)),
    }
    let get = |at| answer.get(at).map_err(|NotValid(at)| ForwardError::NotValid(at));
    match insn {
        Insn::Cpuid => return Err(ForwardError::NotForwarded),
        Insn::Wrmsr | Insn::Io { input: false, .. } => {}
        Insn::Rdmsr => {
            let (rax, rdx) = (get(offset::RAX)?, get(offset::RDX)?);
            regs.rax = rax & 0xffff_ffff;
            regs.rdx = rdx & 0xffff_ffff;
        }
        Insn::Io { size, input: true, .. } => {
            let value = get(offset::RAX)?;
            regs.rax = match size {
                4 => value & 0xffff_ffff,
                _ => (regs.rax & !size_mask(size)) | (value & size_mask(size)),
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_requests_and_answers() {
        let io = |port, size, input| Insn::Io { port, size, input };
        // out dx, al with DX = 0x3f8: only AL goes to the host.
        let regs = Regs { rax: 0xdead_beef_1234_5641, rdx: 0x1_03f8, ..Regs::default() };
        let g = request(io(None, 1, false), &regs).unwrap();
        assert_eq!(g.get(offset::SW_EXIT_CODE), Ok(exit::IOIO));
        assert_eq!(g.get(offset::SW_EXIT_INFO_1), Ok(0x03f8_0210));
        assert_eq!(g.get(offset::RAX), Ok(0x41));
        // in ax, dx: the answer replaces AX only.
        let mut regs = Regs { rax: 0x1111_2222_3333_4444, rdx: 0xcfc, ..Regs::default() };
        let g = request(io(None, 2, true), &regs).unwrap();
        assert!(!g.is_valid(offset::RAX), "nothing of RAX is sent for IN");
        let mut answer = g.clone();
        answer.set_exit(exit::IOIO, 0, 0);
        answer.set(offset::RAX, 0xffff_ffff_ffff_abcd);
        apply(io(None, 2, true), &answer, &mut regs).unwrap();
        assert_eq!(regs.rax, 0x1111_2222_3333_abcd);
        // in eax, dx: zero-extended.
        apply(io(None, 4, true), &answer, &mut regs).unwrap();
        assert_eq!(regs.rax, 0xffff_abcd);
        // in al, 0x71 (immediate port).
        let g = request(io(Some(0x71), 1, true), &regs).unwrap();
        assert_eq!(g.get(offset::SW_EXIT_INFO_1), Ok(0x0071_0211));
        // RDMSR / WRMSR.
        let mut regs = Regs { rax: u64::MAX, rcx: 0xffff_ffff_c000_0080, rdx: u64::MAX, ..Regs::default() };
        let g = request(Insn::Wrmsr, &regs).unwrap();
        assert_eq!((g.get(offset::RCX), g.get(offset::RAX)), (Ok(0xc000_0080), Ok(0xffff_ffff)));
        assert_eq!(g.get(offset::SW_EXIT_INFO_1), Ok(1));
        let g = request(Insn::Rdmsr, &regs).unwrap();
        assert_eq!((g.get(offset::SW_EXIT_INFO_1), g.is_valid(offset::RAX)), (Ok(0), false));
        let mut answer = g.clone();
        answer.set_exit(exit::MSR, 0, 0);
        answer.set(offset::RAX, 0x1_0000_0005);
        assert_eq!(apply(Insn::Rdmsr, &answer, &mut regs), Err(ForwardError::NotValid(offset::RDX)));
        answer.set(offset::RDX, 7);
        apply(Insn::Rdmsr, &answer, &mut regs).unwrap();
        assert_eq!((regs.rax, regs.rdx), (5, 7));
        assert!(matches!(request(Insn::Cpuid, &regs), Err(ForwardError::NotForwarded)));
    }

    #[test]
    fn refused_answers() {
        let mut regs = Regs::default();
        let insn = Insn::Io { port: None, size: 1, input: true };
        let mut answer = request(insn, &regs).unwrap();
        // The request's own SW_EXITINFO1 (the IOIO info) is not a "done".
        assert!(matches!(apply(insn, &answer, &mut regs), Err(ForwardError::Exit(_))));
        answer.set_exit(exit::IOIO, 0, 0);
        assert_eq!(apply(insn, &answer, &mut regs), Err(ForwardError::NotValid(offset::RAX)));
        answer.set_exit(exit::IOIO, 1, 0x8000_0b0d);
        assert_eq!(apply(insn, &answer, &mut regs), Err(ForwardError::Exit(ExitResult::Exception(0x8000_0b0d))));
        assert_eq!(regs, Regs::default(), "a refused answer changes no register");
    }

    #[test]
    fn instructions() {
        assert_eq!(decode(exit::CPUID, &[0x0f, 0xa2, 0x90]), Ok(Decoded { insn: Insn::Cpuid, len: 2 }));
        assert_eq!(decode(exit::MSR, &[0x0f, 0x32]), Ok(Decoded { insn: Insn::Rdmsr, len: 2 }));
        assert_eq!(decode(exit::MSR, &[0x0f, 0x30]), Ok(Decoded { insn: Insn::Wrmsr, len: 2 }));
        // out dx, al / in al, dx / in eax, dx / in ax, dx
        let io = |port, size, input| Insn::Io { port, size, input };
        assert_eq!(decode(exit::IOIO, &[0xee]), Ok(Decoded { insn: io(None, 1, false), len: 1 }));
        assert_eq!(decode(exit::IOIO, &[0xec]), Ok(Decoded { insn: io(None, 1, true), len: 1 }));
        assert_eq!(decode(exit::IOIO, &[0xed]), Ok(Decoded { insn: io(None, 4, true), len: 1 }));
        assert_eq!(decode(exit::IOIO, &[0x66, 0xed]), Ok(Decoded { insn: io(None, 2, true), len: 2 }));
        assert_eq!(decode(exit::IOIO, &[0x66, 0xef]), Ok(Decoded { insn: io(None, 2, false), len: 2 }));
        // out 0x80, al / in eax, 0x71
        assert_eq!(decode(exit::IOIO, &[0xe6, 0x80]), Ok(Decoded { insn: io(Some(0x80), 1, false), len: 2 }));
        assert_eq!(decode(exit::IOIO, &[0xe5, 0x71]), Ok(Decoded { insn: io(Some(0x71), 4, true), len: 2 }));
    }

    #[test]
    fn refusals() {
        assert_eq!(decode(exit::NPF, &[0x8b, 0x00]), Err(VcError::UnsupportedExit(exit::NPF)));
        assert_eq!(decode(0x6e, &[0x0f, 0x31]), Err(VcError::UnsupportedExit(0x6e)), "RDTSC");
        assert_eq!(decode(exit::IOIO, &[0xf3, 0x6e]), Err(VcError::UnsupportedInstruction), "rep outsb");
        assert_eq!(decode(exit::IOIO, &[0x6e]), Err(VcError::UnsupportedInstruction), "outsb");
        assert_eq!(decode(exit::CPUID, &[0xee]), Err(VcError::Mismatch));
        assert_eq!(decode(exit::MSR, &[0x0f, 0xa2]), Err(VcError::Mismatch));
        assert_eq!(decode(exit::CPUID, &[0x0f]), Err(VcError::UnsupportedInstruction), "truncated");
        assert_eq!(decode(exit::IOIO, &[0xe6]), Err(VcError::UnsupportedInstruction), "no immediate");
        assert_eq!(decode(exit::IOIO, &[]), Err(VcError::UnsupportedInstruction));
    }
}
