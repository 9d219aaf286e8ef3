//! The GHCB page (GHCB specification, "GHCB Layout"): the 4 KiB page, shared with the
//! hypervisor, through which a guest hands it the state a non-automatic exit needs. Offsets of
//! the save-area fields follow the VMCB save area; each has a bit in the valid bitmap (bit =
//! offset / 8) that says the writer set it. The guest clears the page, sets what the exit needs,
//! `VMGEXIT`s, and believes only fields the hypervisor marked valid.

/// Field offsets in the page.
pub mod offset {
    /// RAX.
    pub const RAX: usize = 0x1F8;
    /// RCX.
    pub const RCX: usize = 0x308;
    /// RDX.
    pub const RDX: usize = 0x310;
    /// RBX.
    pub const RBX: usize = 0x318;
    /// SW_EXITCODE.
    pub const SW_EXIT_CODE: usize = 0x390;
    /// SW_EXITINFO1.
    pub const SW_EXIT_INFO_1: usize = 0x398;
    /// SW_EXITINFO2.
    pub const SW_EXIT_INFO_2: usize = 0x3A0;
    /// SW_SCRATCH.
    pub const SW_SCRATCH: usize = 0x3A8;
    /// XCR0.
    pub const XCR0: usize = 0x3E8;
    /// The valid bitmap (16 bytes).
    pub const VALID_BITMAP: usize = 0x3F0;
    /// The shared buffer (2032 bytes).
    pub const SHARED_BUFFER: usize = 0x800;
    /// The protocol version (u16).
    pub const PROTOCOL_VERSION: usize = 0xFFA;
    /// The usage (u32; 0 = standard).
    pub const USAGE: usize = 0xFFC;
}

/// Bytes of the shared buffer.
pub const SHARED_BUFFER_LEN: usize = 2032;

/// Exit codes the guest uses (SVM exit codes and the GHCB's own).
pub mod exit {
    /// CPUID.
    pub const CPUID: u64 = 0x72;
    /// IN/OUT.
    pub const IOIO: u64 = 0x7B;
    /// RDMSR/WRMSR.
    pub const MSR: u64 = 0x7C;
    /// Nested page fault (MMIO under SEV-ES).
    pub const NPF: u64 = 0x400;
    /// MMIO read.
    pub const MMIO_READ: u64 = 0x8000_0001;
    /// MMIO write.
    pub const MMIO_WRITE: u64 = 0x8000_0002;
    /// SNP page state change through the shared buffer.
    pub const SNP_PSC: u64 = 0x8000_0010;
    /// SNP guest request.
    pub const SNP_GUEST_REQUEST: u64 = 0x8000_0011;
}

/// The page, as bytes the guest owns a copy of (the kernel copies to and from the shared page,
/// so the hypervisor cannot change a field between the guest's check and its use).
#[derive(Clone)]
pub struct Ghcb {
    page: [u8; 4096],
}

impl Default for Ghcb {
    fn default() -> Self {
        Self::new()
    }
}

/// A field the hypervisor should have set but did not mark valid (its offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotValid(pub usize);

impl Ghcb {
    /// A cleared page for the standard usage and protocol version 2.
    pub fn new() -> Self {
        let mut g = Self { page: [0; 4096] };
        g.page[offset::PROTOCOL_VERSION..offset::PROTOCOL_VERSION + 2]
            .copy_from_slice(&super::msr::GHCB_VERSION.to_le_bytes());
        g
    }

    /// The page's bytes (to copy into the shared page).
    pub fn as_bytes(&self) -> &[u8; 4096] {
        &self.page
    }

    /// Takes the shared page's bytes after `VMGEXIT`.
    pub fn from_bytes(page: &[u8; 4096]) -> Self {
        Self { page: *page }
    }

    /// Sets a u64 field and marks it valid.
    pub fn set(&mut self, at: usize, value: u64) {
        self.page[at..at + 8].copy_from_slice(&value.to_le_bytes());
        let bit = at / 8;
        self.page[offset::VALID_BITMAP + bit / 8] |= 1 << (bit % 8);
    }

    /// Whether a field is marked valid.
    pub fn is_valid(&self, at: usize) -> bool {
        let bit = at / 8;
        self.page[offset::VALID_BITMAP + bit / 8] & (1 << (bit % 8)) != 0
    }

    /// A u64 field the hypervisor must have marked valid.
    pub fn get(&self, at: usize) -> Result<u64, NotValid> {
        if !self.is_valid(at) {
            return Err(NotValid(at));
        }
        Ok(u64::from_le_bytes(self.page[at..at + 8].try_into().expect("8 bytes")))
    }

    /// SW_EXITINFO1 regardless of the bitmap (the outcome of the exit lives there).
    pub fn exit_info_1(&self) -> u64 {
        u64::from_le_bytes(self.page[offset::SW_EXIT_INFO_1..offset::SW_EXIT_INFO_1 + 8].try_into().expect("8"))
    }

    /// SW_EXITINFO2 regardless of the bitmap (the hypervisor's result code lives there).
    pub fn exit_info_2(&self) -> u64 {
        u64::from_le_bytes(self.page[offset::SW_EXIT_INFO_2..offset::SW_EXIT_INFO_2 + 8].try_into().expect("8"))
    }

    /// Sets the exit code and both exit infos.
    pub fn set_exit(&mut self, code: u64, info1: u64, info2: u64) {
        self.set(offset::SW_EXIT_CODE, code);
        self.set(offset::SW_EXIT_INFO_1, info1);
        self.set(offset::SW_EXIT_INFO_2, info2);
    }

    /// The shared buffer.
    pub fn shared_buffer_mut(&mut self) -> &mut [u8] {
        &mut self.page[offset::SHARED_BUFFER..offset::SHARED_BUFFER + SHARED_BUFFER_LEN]
    }
}

/// The outcome of a `VMGEXIT` (SW_EXITINFO1 after the call: 0 = done, 1 = error with an
/// exception to inject in SW_EXITINFO2, 2 = error with a reason code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitResult {
    /// Done.
    Ok,
    /// The hypervisor asks for an exception (vector in bits 7:0 of SW_EXITINFO2).
    Exception(u64),
    /// The hypervisor refused: reason code.
    Error(u64),
    /// An answer the protocol does not define.
    Malformed(u64),
}

/// Reads the outcome (SW_EXITINFO1's low 32 bits, per the specification).
pub fn result(g: &Ghcb) -> ExitResult {
    match g.exit_info_1() & 0xffff_ffff {
        0 => ExitResult::Ok,
        1 => ExitResult::Exception(g.exit_info_2()),
        2 => ExitResult::Error(g.exit_info_2()),
        other => ExitResult::Malformed(other),
    }
}

/// SNP guest request: SW_EXITINFO2 on return holds the firmware's status (bits 31:0) and the
/// VMM's (bits 63:32; 2 = busy, try again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestRequestStatus {
    /// The firmware answered.
    Done,
    /// The host is busy: send the same request again.
    Busy,
    /// The VMM or the firmware failed.
    Failed {
        /// The VMM's code.
        vmm: u32,
        /// The firmware's code.
        firmware: u32,
    },
}

/// The guest-request outcome from SW_EXITINFO2.
pub fn guest_request_status(info2: u64) -> GuestRequestStatus {
    let (vmm, firmware) = ((info2 >> 32) as u32, info2 as u32);
    match (vmm, firmware) {
        (0, 0) => GuestRequestStatus::Done,
        (2, _) => GuestRequestStatus::Busy,
        (vmm, firmware) => GuestRequestStatus::Failed { vmm, firmware },
    }
}

/// The IOIO exit's SW_EXITINFO1 (AMD APM vol. 2, "IOIO Intercept"): bit 0 = IN, 4..6 = operand
/// size 8/16/32 (one-hot), 9 = 64-bit address size, 16..31 = port.
pub fn ioio_info(port: u16, size_bytes: u8, input: bool) -> Option<u64> {
    let size_bit = match size_bytes {
        1 => 1 << 4,
        2 => 1 << 5,
        4 => 1 << 6,
        _ => return None,
    };
    Some((u64::from(port) << 16) | (1 << 9) | size_bit | u64::from(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_bitmap_indices() {
        // The bit numbers other implementations name (RAX 63, RCX 97, SW_EXITCODE 114, XCR0 125).
        for (at, bit) in [(offset::RAX, 63), (offset::RCX, 97), (offset::SW_EXIT_CODE, 114), (offset::XCR0, 125)] {
            let mut g = Ghcb::new();
            g.set(at, 7);
            assert_eq!(g.as_bytes()[offset::VALID_BITMAP + bit / 8], 1 << (bit % 8), "offset {at:#x}");
            assert_eq!(g.get(at), Ok(7));
        }
        let g = Ghcb::new();
        assert_eq!(g.get(offset::RAX), Err(NotValid(offset::RAX)));
        assert_eq!(&g.as_bytes()[0xFFA..0xFFC], &[2, 0]);
        assert_eq!(&g.as_bytes()[0xFFC..], &[0, 0, 0, 0]);
    }

    #[test]
    fn results_and_statuses() {
        let mut g = Ghcb::new();
        g.set_exit(exit::IOIO, 0, 0);
        assert_eq!(result(&g), ExitResult::Ok);
        g.set_exit(exit::IOIO, 1, 0x8000_0b0d);
        assert_eq!(result(&g), ExitResult::Exception(0x8000_0b0d));
        g.set_exit(exit::IOIO, 2, 5);
        assert_eq!(result(&g), ExitResult::Error(5));
        g.set_exit(exit::IOIO, 3, 0);
        assert_eq!(result(&g), ExitResult::Malformed(3));
        assert_eq!(guest_request_status(0), GuestRequestStatus::Done);
        assert_eq!(guest_request_status(2 << 32), GuestRequestStatus::Busy);
        assert_eq!(guest_request_status(0x16), GuestRequestStatus::Failed { vmm: 0, firmware: 0x16 });
        assert_eq!(guest_request_status(1 << 32), GuestRequestStatus::Failed { vmm: 1, firmware: 0 });
    }

    #[test]
    fn ioio() {
        // OUT 0x3F8, AL: port << 16 | A64 | SZ8.
        assert_eq!(ioio_info(0x3f8, 1, false), Some(0x03f8_0210));
        // IN EAX, 0xCFC.
        assert_eq!(ioio_info(0xcfc, 4, true), Some(0x0cfc_0241));
        assert_eq!(ioio_info(0xcfc, 8, true), None);
    }
}
