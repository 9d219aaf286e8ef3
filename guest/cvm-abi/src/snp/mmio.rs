//! MMIO under SEV-ES/SNP: the GHCB exchange for an instruction `crate::mmio` decoded. A load or
//! store to a device page (mapped shared) is a nested page fault the hypervisor reflects as #VC
//! with exit code NPF; the guest asks for the access through the GHCB (`MMIO_READ`/`MMIO_WRITE`,
//! data in the GHCB page's shared buffer) and completes it itself.

use super::ghcb::{ExitResult, Ghcb, exit, offset, result};
use crate::mmio::Insn;

/// The GHCB request for `insn` at guest-physical `gpa`, with the data in the GHCB page's shared
/// buffer, whose guest-physical address is `scratch_gpa`.
pub fn request(insn: &Insn, gpa: u64, regs: &[u64; 16], scratch_gpa: u64) -> Ghcb {
    let mut g = Ghcb::new();
    let size = usize::from(insn.size);
    match insn.write_value(regs) {
        Some(value) => {
            g.shared_buffer_mut()[..size].copy_from_slice(&value.to_le_bytes()[..size]);
            g.set_exit(exit::MMIO_WRITE, gpa, size as u64);
        }
        None => g.set_exit(exit::MMIO_READ, gpa, size as u64),
    }
    g.set(offset::SW_SCRATCH, scratch_gpa);
    g
}

/// The value a read returned (from the shared buffer), or the exit's failure.
pub fn read_value(insn: &Insn, answer: &mut Ghcb) -> Result<u64, ExitResult> {
    match result(answer) {
        ExitResult::Ok => {}
        other => return Err(other),
    }
    let mut bytes = [0u8; 8];
    let size = usize::from(insn.size);
    bytes[..size].copy_from_slice(&answer.shared_buffer_mut()[..size]);
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmio::decode;

    const RSI: u8 = 6;

    #[test]
    fn ghcb_requests() {
        let mut regs = [0u64; 16];
        regs[usize::from(RSI)] = 0xaabb_ccdd;
        let i = decode(&[0x89, 0x37]).unwrap(); // mov [rdi], esi
        let g = request(&i, 0xc000_1000, &regs, 0x1d2800);
        assert_eq!(g.get(offset::SW_EXIT_CODE), Ok(exit::MMIO_WRITE));
        assert_eq!((g.get(offset::SW_EXIT_INFO_1), g.get(offset::SW_EXIT_INFO_2)), (Ok(0xc000_1000), Ok(4)));
        assert_eq!(g.get(offset::SW_SCRATCH), Ok(0x1d2800));
        assert_eq!(&g.as_bytes()[offset::SHARED_BUFFER..offset::SHARED_BUFFER + 5], &[0xdd, 0xcc, 0xbb, 0xaa, 0]);
        let i = decode(&[0x0f, 0xb7, 0x07]).unwrap(); // movzx eax, word [rdi]
        let mut g = request(&i, 0xc000_1002, &regs, 0x1d2800);
        assert_eq!(g.get(offset::SW_EXIT_CODE), Ok(exit::MMIO_READ));
        assert!(read_value(&i, &mut g).is_err(), "the request's own exit info is not a completion");
        g.set_exit(exit::MMIO_READ, 0, 0);
        g.shared_buffer_mut()[..4].copy_from_slice(&[0x34, 0x12, 0xff, 0xff]);
        assert_eq!(read_value(&i, &mut g), Ok(0x1234));
    }
}
