//! What a #VC exception asks for. Under SEV-ES/SNP the hypervisor cannot see the guest's
//! registers, so CPUID, port I/O and MSR accesses raise #VC with the exit code as the error code,
//! and the guest's handler decodes the instruction at RIP, performs it through the GHCB and
//! skips it. The guest triggers only a handful of instructions; anything else is refused (the
//! kernel halts with a diagnostic) rather than emulated.

use super::ghcb::exit;

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

#[cfg(test)]
mod tests {
    use super::*;

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
