//! The exception frame `exceptions.s` builds: every general-purpose register as it was when
//! the exception happened, the vector and error code, and what the CPU pushed. The exception
//! handlers read it; the resumable ones (#VC, #VE) change it, and the stub restores from it.

/// What `exception_common` leaves on the stack (see `exceptions.s`): the general-purpose
/// registers as they were when the exception happened (restored from here on return from #VC).
#[repr(C)]
#[allow(missing_docs)]
#[derive(Debug)]
pub struct ExceptionFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The vector (exception number).
    pub vector: u64,
    /// The CPU's error code (for #VC: the exit code).
    pub error_code: u64,
    /// Where the exception happened (#VC: advanced past the emulated instruction).
    pub rip: u64,
    /// The interrupted code segment.
    pub cs: u64,
    /// The interrupted flags.
    pub rflags: u64,
    /// The interrupted code's stack pointer.
    pub rsp: u64,
    /// The interrupted stack segment.
    pub ss: u64,
}

impl ExceptionFrame {
    /// The 16 general-purpose registers in instruction-encoding order (RAX, RCX, RDX, RBX, RSP,
    /// RBP, RSI, RDI, R8..R15).
    pub fn gprs(&self) -> [u64; 16] {
        [
            self.rax, self.rcx, self.rdx, self.rbx, self.rsp, self.rbp, self.rsi, self.rdi, self.r8, self.r9, self.r10,
            self.r11, self.r12, self.r13, self.r14, self.r15,
        ]
    }

    /// Writes back what [`Self::gprs`] returned (the #VC handler's results; RSP is not restored
    /// by `vc_common` and must be unchanged).
    pub fn set_gprs(&mut self, r: &[u64; 16]) {
        [
            self.rax,
            self.rcx,
            self.rdx,
            self.rbx,
            _,
            self.rbp,
            self.rsi,
            self.rdi,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
        ] = *r;
    }
}
