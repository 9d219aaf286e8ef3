//! The MMIO instructions the guest emulates for both SEV-SNP (#VC with exit code NPF) and TDX
//! (#VE for an EPT violation on a shared page): a load or store to a device register traps, the
//! handler decodes the instruction here, has the host perform the access (SNP: GHCB
//! `MMIO_READ`/`MMIO_WRITE`; TDX: TDG.VP.VMCALL<#VE.RequestMMIO>) and completes it itself. Only
//! the forms compilers emit for volatile device accesses are decoded: `MOV` between a
//! general-purpose register or an immediate and memory, and `MOVZX` from memory; any prefix but
//! the operand-size prefix and REX is refused, as is a register operand. Registers are numbered
//! as in the instruction encoding (0 = RAX, 1 = RCX, 2 = RDX, 3 = RBX, 4 = RSP, 5 = RBP, 6 = RSI,
//! 7 = RDI, 8..15 = R8..R15).

/// Where a memory operand points: `base + index * scale + disp` (RIP-relative: RIP of the next
/// instruction + disp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// Base register.
    pub base: Option<u8>,
    /// Index register and scale (1, 2, 4, 8).
    pub index: Option<(u8, u8)>,
    /// Displacement.
    pub disp: i32,
    /// Relative to the next instruction's address.
    pub rip_relative: bool,
}

/// A register operand: its number and, for the legacy byte registers AH, CH, DH, BH (no REX),
/// the second byte of RAX, RCX, RDX, RBX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg {
    /// Register number.
    pub num: u8,
    /// Bits 15:8 instead of 7:0 (byte operands only).
    pub high_byte: bool,
}

/// What the instruction does with the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read `size` bytes into `dest`; `zero_extend_to` is the destination width in bytes for
    /// MOVZX (2, 4 or 8), `None` for MOV.
    Read {
        /// Destination register.
        dest: Reg,
        /// MOVZX's destination width.
        zero_extend_to: Option<u8>,
    },
    /// Write a register's low `size` bytes.
    WriteReg(Reg),
    /// Write an immediate.
    WriteImm(u64),
}

/// A decoded MMIO instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// The access.
    pub access: Access,
    /// Bytes accessed: 1, 2, 4 or 8.
    pub size: u8,
    /// The memory operand.
    pub address: Address,
    /// Instruction length.
    pub len: usize,
}

/// Why an MMIO instruction is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmioError {
    /// Not one of the decoded forms (or truncated).
    Unsupported,
    /// The ModRM names a register, not memory.
    NotMemory,
}

struct Bytes<'a> {
    b: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn u8(&mut self) -> Result<u8, MmioError> {
        let v = *self.b.get(self.at).ok_or(MmioError::Unsupported)?;
        self.at += 1;
        Ok(v)
    }
    fn i32(&mut self) -> Result<i32, MmioError> {
        let s = self.b.get(self.at..self.at + 4).ok_or(MmioError::Unsupported)?;
        self.at += 4;
        Ok(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn imm(&mut self, size: u8) -> Result<u64, MmioError> {
        Ok(match size {
            1 => u64::from(self.u8()?),
            2 => u64::from(u16::from_le_bytes([self.u8()?, self.u8()?])),
            4 => u64::from(self.i32()? as u32),
            // 64-bit MOV to memory takes a sign-extended imm32.
            _ => self.i32()? as i64 as u64,
        })
    }
}

/// Decodes the instruction at the start of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Insn, MmioError> {
    let mut c = Bytes { b: bytes, at: 0 };
    let mut opsize16 = false;
    let mut op = c.u8()?;
    while op == 0x66 {
        opsize16 = true;
        op = c.u8()?;
    }
    let rex = if op & 0xf0 == 0x40 {
        let r = op;
        op = c.u8()?;
        r
    } else {
        0
    };
    let (w, r, x, b) = (rex & 8 != 0, (rex >> 2) & 1, (rex >> 1) & 1, rex & 1);
    let wide = if w {
        8
    } else if opsize16 {
        2
    } else {
        4
    };
    let two_byte = op == 0x0f;
    if two_byte {
        op = c.u8()?;
    }
    // (size of the memory access, what happens)
    enum Form {
        Load(Option<u8>),
        StoreReg,
        StoreImm,
    }
    let (size, form) = match (two_byte, op) {
        (false, 0x8a) => (1, Form::Load(None)),
        (false, 0x8b) => (wide, Form::Load(None)),
        (false, 0x88) => (1, Form::StoreReg),
        (false, 0x89) => (wide, Form::StoreReg),
        (false, 0xc6) => (1, Form::StoreImm),
        (false, 0xc7) => (wide, Form::StoreImm),
        (true, 0xb6) => (1, Form::Load(Some(wide))),
        (true, 0xb7) => (2, Form::Load(Some(wide))),
        _ => return Err(MmioError::Unsupported),
    };
    let modrm = c.u8()?;
    let (md, reg_field, rm) = (modrm >> 6, (modrm >> 3) & 7, modrm & 7);
    if md == 3 {
        return Err(MmioError::NotMemory);
    }
    let mut address = Address { base: None, index: None, disp: 0, rip_relative: false };
    if rm == 4 {
        let sib = c.u8()?;
        let (scale, index, base) = (1u8 << (sib >> 6), ((sib >> 3) & 7) | (x << 3), (sib & 7) | (b << 3));
        if index != 4 {
            address.index = Some((index, scale));
        }
        if sib & 7 == 5 && md == 0 {
            address.disp = c.i32()?;
        } else {
            address.base = Some(base);
        }
    } else if rm == 5 && md == 0 {
        address.rip_relative = true;
        address.disp = c.i32()?;
    } else {
        address.base = Some(rm | (b << 3));
    }
    match md {
        1 => address.disp = c.u8()? as i8 as i32,
        2 => address.disp = c.i32()?,
        _ => {}
    }
    // The register operand; without REX, byte registers 4-7 are AH, CH, DH, BH.
    let reg_num = reg_field | (r << 3);
    let byte_reg = size == 1 && !matches!(form, Form::Load(Some(_)));
    let reg = Reg {
        num: if byte_reg && rex == 0 && (4..8).contains(&reg_num) { reg_num - 4 } else { reg_num },
        high_byte: byte_reg && rex == 0 && (4..8).contains(&reg_num),
    };
    let access = match form {
        Form::Load(zero_extend_to) => Access::Read { dest: reg, zero_extend_to },
        Form::StoreReg => Access::WriteReg(reg),
        Form::StoreImm => {
            if reg_field != 0 {
                return Err(MmioError::Unsupported);
            }
            Access::WriteImm(c.imm(size)?)
        }
    };
    Ok(Insn { access, size, address, len: c.at })
}

impl Insn {
    /// The address the instruction accesses, given the registers and its own RIP.
    pub fn effective_address(&self, regs: &[u64; 16], rip: u64) -> u64 {
        let a = &self.address;
        let mut ea = (a.disp as i64) as u64;
        if a.rip_relative {
            ea = ea.wrapping_add(rip).wrapping_add(self.len as u64);
        }
        if let Some(base) = a.base {
            ea = ea.wrapping_add(regs[usize::from(base)]);
        }
        if let Some((index, scale)) = a.index {
            ea = ea.wrapping_add(regs[usize::from(index)].wrapping_mul(u64::from(scale)));
        }
        ea
    }

    /// The bytes a write sends (little-endian, `size` of them), `None` for a read.
    pub fn write_value(&self, regs: &[u64; 16]) -> Option<u64> {
        let value = match self.access {
            Access::Read { .. } => return None,
            Access::WriteImm(v) => v,
            Access::WriteReg(reg) => {
                let v = regs[usize::from(reg.num)];
                if reg.high_byte { v >> 8 } else { v }
            }
        };
        Some(value & mask(self.size))
    }

    /// Completes a read: writes `value` (the device's `size` bytes) into the destination
    /// register as the instruction would.
    pub fn complete_read(&self, regs: &mut [u64; 16], value: u64) {
        let Access::Read { dest, zero_extend_to } = self.access else { return };
        let value = value & mask(self.size);
        let r = &mut regs[usize::from(dest.num)];
        // Writing a 32-bit register clears bits 63:32; 8/16-bit writes keep the rest.
        let width = zero_extend_to.unwrap_or(self.size);
        *r = match (width, dest.high_byte) {
            (1, true) => (*r & !0xff00) | (value << 8),
            (1, false) => (*r & !0xff) | value,
            (2, _) => (*r & !0xffff) | value,
            _ => value,
        };
    }
}

fn mask(size: u8) -> u64 {
    if size >= 8 { u64::MAX } else { (1u64 << (8 * size)) - 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAX: u8 = 0;
    const RCX: u8 = 1;
    const RDX: u8 = 2;
    const RSI: u8 = 6;
    const RDI: u8 = 7;
    const R8: u8 = 8;
    const R14: u8 = 14;

    fn reg(num: u8) -> Reg {
        Reg { num, high_byte: false }
    }

    #[test]
    fn loads() {
        // mov eax, dword ptr [rdi + 0x14]
        let i = decode(&[0x8b, 0x47, 0x14, 0x90]).unwrap();
        assert_eq!(i.access, Access::Read { dest: reg(RAX), zero_extend_to: None });
        assert_eq!((i.size, i.len), (4, 3));
        assert_eq!(i.address, Address { base: Some(RDI), index: None, disp: 0x14, rip_relative: false });
        // movzx ecx, byte ptr [rsi]
        let i = decode(&[0x0f, 0xb6, 0x0e]).unwrap();
        assert_eq!(i.access, Access::Read { dest: reg(RCX), zero_extend_to: Some(4) });
        assert_eq!((i.size, i.len), (1, 3));
        // movzx r8d, word ptr [r14 + rcx*2 + 0x100]
        let i = decode(&[0x45, 0x0f, 0xb7, 0x84, 0x4e, 0x00, 0x01, 0x00, 0x00]).unwrap();
        assert_eq!(i.access, Access::Read { dest: reg(R8), zero_extend_to: Some(4) });
        assert_eq!(i.address, Address { base: Some(R14), index: Some((RCX, 2)), disp: 0x100, rip_relative: false });
        assert_eq!((i.size, i.len), (2, 9));
        // mov rdx, qword ptr [rax]
        let i = decode(&[0x48, 0x8b, 0x10]).unwrap();
        assert_eq!((i.access, i.size, i.len), (Access::Read { dest: reg(RDX), zero_extend_to: None }, 8, 3));
        // mov ax, word ptr [rdi]
        let i = decode(&[0x66, 0x8b, 0x07]).unwrap();
        assert_eq!((i.size, i.len), (2, 3));
        // mov ah, byte ptr [rdi] (no REX: reg 4 is AH)
        let i = decode(&[0x8a, 0x27]).unwrap();
        assert_eq!(i.access, Access::Read { dest: Reg { num: RAX, high_byte: true }, zero_extend_to: None });
        // mov spl, byte ptr [rdi] (REX: reg 4 is SPL)
        let i = decode(&[0x40, 0x8a, 0x27]).unwrap();
        assert_eq!(i.access, Access::Read { dest: reg(4), zero_extend_to: None });
    }

    #[test]
    fn stores() {
        // mov dword ptr [rdi + 0x10], esi
        let i = decode(&[0x89, 0x77, 0x10]).unwrap();
        assert_eq!((i.access, i.size, i.len), (Access::WriteReg(reg(RSI)), 4, 3));
        // mov byte ptr [rax], 0x7f
        let i = decode(&[0xc6, 0x00, 0x7f]).unwrap();
        assert_eq!((i.access, i.size, i.len), (Access::WriteImm(0x7f), 1, 3));
        // mov word ptr [rax + 0x12345678], 0xabcd
        let i = decode(&[0x66, 0xc7, 0x80, 0x78, 0x56, 0x34, 0x12, 0xcd, 0xab]).unwrap();
        assert_eq!((i.access, i.size, i.len), (Access::WriteImm(0xabcd), 2, 9));
        assert_eq!(i.address.disp, 0x1234_5678);
        // mov qword ptr [rcx], -1 (imm32 sign-extended)
        let i = decode(&[0x48, 0xc7, 0x01, 0xff, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!((i.access, i.size, i.len), (Access::WriteImm(u64::MAX), 8, 7));
        // mov dword ptr [rip + 0x10], eax
        let i = decode(&[0x89, 0x05, 0x10, 0, 0, 0]).unwrap();
        assert!(i.address.rip_relative);
        assert_eq!(i.effective_address(&[0; 16], 0x1000), 0x1016);
        // mov dword ptr [disp32] (SIB without base or index)
        let i = decode(&[0x89, 0x04, 0x25, 0x00, 0x00, 0x00, 0xc0]).unwrap();
        assert_eq!(i.effective_address(&[7; 16], 0), 0xffff_ffff_c000_0000, "disp32 is sign-extended");
    }

    #[test]
    fn refusals() {
        assert_eq!(decode(&[0x8b, 0xc1]), Err(MmioError::NotMemory), "mov eax, ecx");
        assert_eq!(decode(&[0xf3, 0xa5]), Err(MmioError::Unsupported), "rep movsd");
        assert_eq!(decode(&[0x65, 0x8b, 0x00]), Err(MmioError::Unsupported), "GS prefix");
        assert_eq!(decode(&[0x01, 0x00]), Err(MmioError::Unsupported), "add [rax], eax");
        assert_eq!(decode(&[0xc7, 0x08, 0, 0, 0, 0]), Err(MmioError::Unsupported), "C7 /1");
        assert_eq!(decode(&[0x8b, 0x47]), Err(MmioError::Unsupported), "truncated");
        assert_eq!(decode(&[0x48]), Err(MmioError::Unsupported));
        assert_eq!(decode(&[]), Err(MmioError::Unsupported));
    }

    #[test]
    fn completion_and_addresses() {
        let mut regs = [0u64; 16];
        regs[usize::from(RDI)] = 0xc000_0000;
        regs[usize::from(RAX)] = 0x1111_2222_3333_4444;
        // mov eax, [rdi + 0x14]: zero-extends.
        let i = decode(&[0x8b, 0x47, 0x14]).unwrap();
        assert_eq!(i.effective_address(&regs, 0), 0xc000_0014);
        i.complete_read(&mut regs, 0xffff_ffff_dead_beef);
        assert_eq!(regs[0], 0xdead_beef);
        // mov ax, [rdi]: keeps bits 63:16.
        regs[0] = 0x1111_2222_3333_4444;
        decode(&[0x66, 0x8b, 0x07]).unwrap().complete_read(&mut regs, 0xabcd);
        assert_eq!(regs[0], 0x1111_2222_3333_abcd);
        // mov ah, [rdi]
        decode(&[0x8a, 0x27]).unwrap().complete_read(&mut regs, 0x5a);
        assert_eq!(regs[0], 0x1111_2222_3333_5acd);
        // movzx eax, byte [rdi]
        decode(&[0x0f, 0xb6, 0x07]).unwrap().complete_read(&mut regs, 0x1ff);
        assert_eq!(regs[0], 0xff);
        // Writes: the low bytes of the source, or AH.
        regs[usize::from(RSI)] = 0x1234_5678_9abc_def0;
        assert_eq!(decode(&[0x89, 0x77, 0x10]).unwrap().write_value(&regs), Some(0x9abc_def0));
        regs[0] = 0x4321;
        assert_eq!(decode(&[0x88, 0x27]).unwrap().write_value(&regs), Some(0x43), "mov [rdi], ah");
        assert_eq!(decode(&[0x8b, 0x07]).unwrap().write_value(&regs), None);
    }
}
