//! Intel TDX: what the guest asks the TDX module (TDCALL leaves, Intel TDX Module ABI) and the
//! host (TDVMCALL sub-functions, Intel GHCI), and the structures it gets back.
//!
//! TDCALL takes the leaf in RAX and returns a completion status in RAX (0 = success; bits 63:32
//! the class). TDG.VP.VMCALL passes a register bitmap in RCX, the sub-function in R11, and the
//! host's status in R10.

pub mod quote;

/// TDCALL leaves.
pub mod leaf {
    /// TDG.VP.VMCALL: call the host.
    pub const VP_VMCALL: u64 = 0;
    /// TDG.VP.INFO: the TD's execution environment.
    pub const VP_INFO: u64 = 1;
    /// TDG.MR.RTMR.EXTEND: extend a runtime measurement register.
    pub const MR_RTMR_EXTEND: u64 = 2;
    /// TDG.VP.VEINFO.GET: the current #VE's information.
    pub const VP_VEINFO_GET: u64 = 3;
    /// TDG.MR.REPORT: a TDREPORT with the given REPORTDATA.
    pub const MR_REPORT: u64 = 4;
    /// TDG.MEM.PAGE.ACCEPT: accept a pending private page.
    pub const MEM_PAGE_ACCEPT: u64 = 6;
}

/// TDG.VP.VMCALL sub-functions (R11), GHCI.
pub mod vmcall {
    /// MapGPA: convert a range between private and shared.
    pub const MAP_GPA: u64 = 0x10001;
    /// GetQuote: ask the host's quoting service to turn a TDREPORT into a quote.
    pub const GET_QUOTE: u64 = 0x10002;
    /// ReportFatalError: the TD cannot go on (R12 = error code); the host logs it.
    pub const REPORT_FATAL_ERROR: u64 = 0x10003;
    /// SetupEventNotifyInterrupt.
    pub const SETUP_EVENT_NOTIFY: u64 = 0x10004;
    /// TDVMCALL status: success.
    pub const SUCCESS: u64 = 0;
    /// TDVMCALL status: retry (MapGPA partially done; R11 holds where to resume).
    pub const RETRY: u64 = 1;
}

/// TDCALL completion status classes worth telling apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TdcallError {
    /// The operand is busy: try again.
    Busy(u64),
    /// The page was already accepted (harmless for PAGE.ACCEPT when re-run).
    AlreadyAccepted,
    /// Anything else: the class and details.
    Other(u64),
}

/// TDX_OPERAND_BUSY (class 0x8000_0200).
const OPERAND_BUSY: u64 = 0x8000_0200;
/// TDX_OPERAND_BUSY_HOST_PRIORITY (class 0x8000_0204): the host holds the operand's lock with
/// priority (for example while it blocks the page); the TDX module 1.5 may return it to the
/// guest during TDG.MEM.PAGE.ACCEPT. As transient as OPERAND_BUSY.
const OPERAND_BUSY_HOST_PRIORITY: u64 = 0x8000_0204;
/// TDX_PAGE_ALREADY_ACCEPTED (class 0x0000_0B0A).
const PAGE_ALREADY_ACCEPTED: u64 = 0x0000_0B0A;

/// Interprets a TDCALL's RAX.
pub fn status(rax: u64) -> Result<(), TdcallError> {
    match rax >> 32 {
        0 if rax == 0 => Ok(()),
        OPERAND_BUSY | OPERAND_BUSY_HOST_PRIORITY => Err(TdcallError::Busy(rax)),
        PAGE_ALREADY_ACCEPTED => Err(TdcallError::AlreadyAccepted),
        _ => Err(TdcallError::Other(rax)),
    }
}

/// TDG.MEM.PAGE.ACCEPT's RCX: the GPA with the page level in bits 2:0 (0 = 4 KiB, 1 = 2 MiB).
pub const fn accept_operand(gpa: u64, level_2m: bool) -> u64 {
    (gpa & !0xfff) | level_2m as u64
}

/// What TDG.VP.INFO returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpInfo {
    /// GPA width (RCX[5:0]): the shared bit is bit `gpaw - 1`.
    pub gpaw: u8,
    /// TD attributes (RDX).
    pub attributes: u64,
    /// Number of vCPUs (R8[31:0]).
    pub num_vcpus: u32,
    /// Maximum vCPUs (R8[63:32]).
    pub max_vcpus: u32,
    /// This vCPU's VCPU_INDEX (R9[31:0]): unique, 0 for the first vCPU the host initialised.
    pub vcpu_index: u32,
}

impl VpInfo {
    /// From the registers RCX, RDX, R8, R9.
    pub fn from_regs(rcx: u64, rdx: u64, r8: u64, r9: u64) -> Self {
        Self {
            gpaw: (rcx & 0x3f) as u8,
            attributes: rdx,
            num_vcpus: r8 as u32,
            max_vcpus: (r8 >> 32) as u32,
            vcpu_index: r9 as u32,
        }
    }

    /// The shared-GPA bit (GPAW 48 → bit 47, GPAW 52 → bit 51), or `None` for a width the
    /// module does not use.
    pub fn shared_bit(&self) -> Option<u64> {
        matches!(self.gpaw, 48 | 52).then(|| 1u64 << (self.gpaw - 1))
    }

    /// TD attribute bit 0: DEBUG — the host can read the TD's state.
    pub fn debug(&self) -> bool {
        self.attributes & 1 != 0
    }
}

/// TDREPORT_STRUCT: `REPORTMACSTRUCT (256) ‖ TEE_TCB_INFO (239) ‖ reserved (17) ‖ TDINFO (512)`.
pub const TDREPORT_LEN: usize = 1024;
/// REPORTDATA in REPORTMACSTRUCT.
pub const TDREPORT_REPORTDATA: usize = 128;
/// TDINFO's offset in TDREPORT.
pub const TDREPORT_TDINFO: usize = 512;
/// MRTD within TDINFO (after ATTRIBUTES and XFAM).
pub const TDINFO_MRTD: usize = 16;
/// RTMR0 within TDINFO (after MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG).
pub const TDINFO_RTMR0: usize = 16 + 4 * 48;

/// The fields the guest and its verifier read from a TDREPORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TdReport<'a> {
    bytes: &'a [u8],
}

impl<'a> TdReport<'a> {
    /// A view of a 1024-byte TDREPORT.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() == TDREPORT_LEN).then_some(Self { bytes })
    }
    /// REPORTDATA.
    pub fn report_data(&self) -> &'a [u8] {
        &self.bytes[TDREPORT_REPORTDATA..TDREPORT_REPORTDATA + 64]
    }
    /// TD attributes.
    pub fn attributes(&self) -> u64 {
        u64::from_le_bytes(self.bytes[TDREPORT_TDINFO..TDREPORT_TDINFO + 8].try_into().expect("8 bytes"))
    }
    /// MRTD.
    pub fn mrtd(&self) -> &'a [u8] {
        &self.bytes[TDREPORT_TDINFO + TDINFO_MRTD..TDREPORT_TDINFO + TDINFO_MRTD + 48]
    }
    /// RTMR `i` (0..4).
    pub fn rtmr(&self, i: usize) -> &'a [u8] {
        let at = TDREPORT_TDINFO + TDINFO_RTMR0 + 48 * i;
        &self.bytes[at..at + 48]
    }
}

/// The GetQuote shared buffer (GHCI): `u64 version (1) ‖ u64 status ‖ u32 in_len ‖ u32 out_len ‖
/// data`. The guest writes the TDREPORT as data with status 0; the host writes the quote back
/// and sets status — whenever it likes, also after the guest stopped waiting, so an answer is
/// taken only when it is a TDX quote whose REPORTDATA is the one asked for.
pub mod quote_buffer {
    use super::quote::{Quote, QuoteError};

    /// Header bytes.
    pub const HEADER_LEN: usize = 24;
    /// Status: success.
    pub const SUCCESS: u64 = 0;
    /// Status: still in flight (the buffer is the host's).
    pub const IN_FLIGHT: u64 = 0xffff_ffff_ffff_ffff;
    /// Status: the quote could not be generated.
    pub const ERROR: u64 = 0x8000_0000_0000_0000;
    /// Status: the quoting service is unavailable.
    pub const SERVICE_UNAVAILABLE: u64 = 0x8000_0000_0000_0001;
    /// Offset of the status field (u64), which the guest polls.
    pub const STATUS_OFFSET: usize = 8;

    /// Why the host's answer is not the quote asked for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ResponseError {
        /// A status other than success or in flight ([`ERROR`], [`SERVICE_UNAVAILABLE`], …).
        Status(u64),
        /// Success, but `out_len` is 0 or runs past the buffer (or the buffer is shorter than
        /// its header).
        Length(u64),
        /// Success, but the bytes are no TDX quote.
        NotAQuote(QuoteError),
        /// A TDX quote of another REPORTDATA: a late answer to an earlier request, or a host
        /// replaying one.
        ReportData,
    }

    /// Writes a request for `report` into `buf`; returns its length.
    pub fn request(report: &[u8], buf: &mut [u8]) -> Option<usize> {
        let len = HEADER_LEN + report.len();
        if buf.len() < len {
            return None;
        }
        buf[..HEADER_LEN].fill(0);
        buf[0..8].copy_from_slice(&1u64.to_le_bytes());
        buf[16..20].copy_from_slice(&(report.len() as u32).to_le_bytes());
        buf[HEADER_LEN..len].copy_from_slice(report);
        Some(len)
    }

    /// The status field of `buf` (`None`: shorter than the header).
    pub fn status(buf: &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(buf.get(STATUS_OFFSET..STATUS_OFFSET + 8)?.try_into().ok()?))
    }

    /// The host's answer to a request for a quote of `report_data`: `Ok(None)` while in flight,
    /// the quote when done.
    pub fn response<'a>(buf: &'a [u8], report_data: &[u8; 64]) -> Result<Option<&'a [u8]>, ResponseError> {
        let (Some(status), Some(out_len)) = (status(buf), buf.get(20..HEADER_LEN)) else {
            return Err(ResponseError::Length(0));
        };
        let out_len = u32::from_le_bytes(out_len.try_into().expect("4 bytes"));
        match status {
            IN_FLIGHT => return Ok(None),
            SUCCESS => {}
            other => return Err(ResponseError::Status(other)),
        }
        let quote = buf
            .get(HEADER_LEN..HEADER_LEN.saturating_add(out_len as usize))
            .filter(|q| !q.is_empty())
            .ok_or(ResponseError::Length(u64::from(out_len)))?;
        let view = Quote::new_checked(quote).map_err(ResponseError::NotAQuote)?;
        if view.report_data() != report_data {
            return Err(ResponseError::ReportData);
        }
        Ok(Some(quote))
    }
}

/// The TDX module's answer to TDG.VP.VEINFO.GET (RCX, RDX, R8, R9, R10): why the #VE came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VeInfo {
    /// The VM-exit reason the TD would have caused ([`exit_reason`]).
    pub exit_reason: u32,
    /// The exit qualification (I/O: size, direction, port; EPT violation: access bits).
    pub exit_qualification: u64,
    /// Guest linear address (EPT violation).
    pub gla: u64,
    /// Guest physical address (EPT violation), shared bit included.
    pub gpa: u64,
    /// Length of the instruction (not valid for EPT violations: decode it).
    pub insn_len: u32,
}

impl VeInfo {
    /// From TDG.VP.VEINFO.GET's output registers.
    pub fn from_regs(rcx: u64, rdx: u64, r8: u64, r9: u64, r10: u64) -> Self {
        Self { exit_reason: rcx as u32, exit_qualification: rdx, gla: r8, gpa: r9, insn_len: r10 as u32 }
    }
}

/// The VM-exit reasons a #VE reports and TDG.VP.VMCALL uses as sub-functions for instruction
/// emulation (GHCI "Instruction.*" and "#VE.RequestMMIO": the sub-function is the exit reason).
pub mod exit_reason {
    /// CPUID.
    pub const CPUID: u32 = 10;
    /// HLT.
    pub const HLT: u32 = 12;
    /// IN/OUT (and INS/OUTS, refused here).
    pub const IO: u32 = 30;
    /// RDMSR.
    pub const RDMSR: u32 = 31;
    /// WRMSR.
    pub const WRMSR: u32 = 32;
    /// EPT violation: an access to a shared GPA the host does not back with memory (MMIO).
    pub const EPT_VIOLATION: u32 = 48;
}

/// Why a #VE is not handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VeError {
    /// An exit reason this kernel does not emulate.
    UnsupportedExit(u32),
    /// String or REP port I/O (INS/OUTS): not used by this kernel.
    StringIo,
    /// An instruction length outside 1..=15.
    InsnLen(u32),
}

/// A port I/O access, from a #VE's exit qualification (as VMX defines it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Io {
    /// The port.
    pub port: u16,
    /// 1, 2 or 4 bytes.
    pub size: u8,
    /// IN (true) or OUT.
    pub input: bool,
}

impl Io {
    /// Decodes the exit qualification: bits 2:0 size − 1, bit 3 direction (1 = IN), bit 4
    /// string, bit 5 REP, bits 31:16 the port.
    pub fn from_qualification(q: u64) -> Result<Self, VeError> {
        if q & (1 << 4 | 1 << 5) != 0 {
            return Err(VeError::StringIo);
        }
        let size = match q & 7 {
            0 => 1,
            1 => 2,
            3 => 4,
            _ => return Err(VeError::UnsupportedExit(exit_reason::IO)),
        };
        Ok(Self { port: (q >> 16) as u16, size, input: q & (1 << 3) != 0 })
    }

    /// The low `size` bytes of a value.
    pub fn mask(&self) -> u64 {
        (1u64 << (8 * u32::from(self.size))) - 1
    }
}

/// Checks a #VE's instruction length (architecturally 1..=15).
pub fn insn_len(info: &VeInfo) -> Result<u64, VeError> {
    match info.insn_len {
        1..=15 => Ok(u64::from(info.insn_len)),
        n => Err(VeError::InsnLen(n)),
    }
}

/// The registers of one TDG.VP.VMCALL (TDCALL leaf 0): in RCX the bitmap of registers the host
/// may see, R10 = 0 (a GHCI-standard call), R11 = sub-function, R12..R15 = arguments. On return
/// R10 holds the host's status and R11 (and for CPUID R12..R15) the results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vmcall {
    /// R10: 0 in, status out.
    pub r10: u64,
    /// R11: sub-function in, result out.
    pub r11: u64,
    /// R12.
    pub r12: u64,
    /// R13.
    pub r13: u64,
    /// R14.
    pub r14: u64,
    /// R15.
    pub r15: u64,
}

/// RCX of every TDG.VP.VMCALL here: R10..R15 go to the host (bits 10..15); no other register,
/// so nothing else of the TD's state is exposed.
pub const VMCALL_EXPOSE: u64 = 0xfc00;

/// The host refused a TDG.VP.VMCALL (R10, non-zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmcallError(pub u64);

impl Vmcall {
    fn call(sub: u64, r12: u64, r13: u64, r14: u64, r15: u64) -> Self {
        Self { r10: 0, r11: sub, r12, r13, r14, r15 }
    }
    /// Instruction.CPUID: EAX and ECX in; EAX..EDX back in R12..R15.
    pub fn cpuid(eax: u32, ecx: u32) -> Self {
        Self::call(exit_reason::CPUID.into(), eax.into(), ecx.into(), 0, 0)
    }
    /// Instruction.HLT with interrupts blocked (this kernel never enables them).
    pub fn hlt() -> Self {
        Self::call(exit_reason::HLT.into(), 1, 0, 0, 0)
    }
    /// Instruction.IO: size, direction (0 = in, 1 = out), port, value; the read value in R11.
    pub fn io(io: Io, value: u64) -> Self {
        let value = if io.input { 0 } else { value & io.mask() };
        Self::call(exit_reason::IO.into(), io.size.into(), (!io.input).into(), io.port.into(), value)
    }
    /// Instruction.RDMSR: the value in R11.
    pub fn rdmsr(msr: u32) -> Self {
        Self::call(exit_reason::RDMSR.into(), msr.into(), 0, 0, 0)
    }
    /// Instruction.WRMSR.
    pub fn wrmsr(msr: u32, value: u64) -> Self {
        Self::call(exit_reason::WRMSR.into(), msr.into(), value, 0, 0)
    }
    /// #VE.RequestMMIO: size, direction (0 = read, 1 = write), GPA, value; the read value in R11.
    pub fn mmio(size: u8, write: Option<u64>, gpa: u64) -> Self {
        Self::call(exit_reason::EPT_VIOLATION.into(), size.into(), write.is_some().into(), gpa, write.unwrap_or(0))
    }
    /// MapGPA of `[gpa, gpa + len)`: shared if `gpa` carries the shared bit, else private.
    pub fn map_gpa(gpa: u64, len: u64) -> Self {
        Self::call(vmcall::MAP_GPA, gpa, len, 0, 0)
    }
    /// GetQuote with the shared buffer at `gpa` (shared bit included), `len` bytes.
    pub fn get_quote(gpa: u64, len: u64) -> Self {
        Self::call(vmcall::GET_QUOTE, gpa, len, 0, 0)
    }
    /// ReportFatalError: `code` goes to R12 bits 31:16 (QEMU refuses a code with any of bits
    /// 15:0 set), `message` (ASCII, NUL-padded) to R14 ‖ R15, which QEMU prints as the panic
    /// message (the RCX bitmap exposes both).
    pub fn report_fatal_error(code: u16, message: &[u8; 16]) -> Self {
        let word = |i: usize| u64::from_le_bytes(message[i..i + 8].try_into().expect("8 bytes"));
        Self::call(vmcall::REPORT_FATAL_ERROR, u64::from(code) << 16, 0, word(0), word(8))
    }

    /// The host's status after the call.
    pub fn status(&self) -> Result<(), VmcallError> {
        if self.r10 == vmcall::SUCCESS { Ok(()) } else { Err(VmcallError(self.r10)) }
    }
}

/// Where a MapGPA of `[start, end)` goes on after the host answered with `answer`: `Ok(None)`
/// when done, `Ok(Some(next))` on RETRY (the host converted `[start, next)`; `next` must make
/// progress and stay inside the range, or the host is refused), `Err` on any other status.
pub fn map_gpa_next(start: u64, end: u64, answer: &Vmcall) -> Result<Option<u64>, VmcallError> {
    match answer.r10 {
        vmcall::SUCCESS => Ok(None),
        vmcall::RETRY if answer.r11 > start && answer.r11 < end && answer.r11.is_multiple_of(4096) => {
            Ok(Some(answer.r11))
        }
        status => Err(VmcallError(status)),
    }
}

/// CPUID leaves a #VE may forward to the host: only the hypervisor range (Linux does the same).
/// Every other leaf the TDX module does not answer itself reads as zeros: the host does not
/// get to describe the CPU.
pub const fn cpuid_from_host(leaf: u32) -> bool {
    leaf >= 0x4000_0000 && leaf <= 0x4fff_ffff
}

/// The registers a #VE for CPUID, I/O or an MSR reads and writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VeRegs {
    /// RAX.
    pub rax: u64,
    /// RBX.
    pub rbx: u64,
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
}

/// What a #VE (other than an EPT violation) asks the host: `Ok(None)` when the guest answers it
/// itself (a CPUID leaf outside the hypervisor range: zeros, see [`cpuid_from_host`]).
pub fn ve_request(info: &VeInfo, regs: &VeRegs) -> Result<Option<Vmcall>, VeError> {
    insn_len(info)?;
    Ok(Some(match info.exit_reason {
        exit_reason::CPUID if !cpuid_from_host(regs.rax as u32) => return Ok(None),
        exit_reason::CPUID => Vmcall::cpuid(regs.rax as u32, regs.rcx as u32),
        exit_reason::HLT => Vmcall::hlt(),
        exit_reason::IO => Vmcall::io(Io::from_qualification(info.exit_qualification)?, regs.rax),
        exit_reason::RDMSR => Vmcall::rdmsr(regs.rcx as u32),
        exit_reason::WRMSR => Vmcall::wrmsr(regs.rcx as u32, (regs.rdx << 32) | (regs.rax & 0xffff_ffff)),
        other => return Err(VeError::UnsupportedExit(other)),
    }))
}

/// Completes the instruction of a #VE from the host's answer (`None` where [`ve_request`] asked
/// nothing): the registers as the instruction leaves them, and the bytes to advance RIP by.
pub fn ve_apply(info: &VeInfo, answer: Option<&Vmcall>, regs: &mut VeRegs) -> Result<u64, VeError> {
    let len = insn_len(info)?;
    let out = answer.copied().unwrap_or_default();
    let lo = |v: u64| v & 0xffff_ffff;
    match info.exit_reason {
        // CPUID writes the four 32-bit registers, clearing their upper halves.
        exit_reason::CPUID => *regs = VeRegs { rax: lo(out.r12), rbx: lo(out.r13), rcx: lo(out.r14), rdx: lo(out.r15) },
        exit_reason::HLT | exit_reason::WRMSR => {}
        exit_reason::IO => {
            let io = Io::from_qualification(info.exit_qualification)?;
            if io.input {
                // IN EAX clears RAX[63:32]; IN AL/AX keep the rest of RAX.
                let keep = if io.size == 4 { 0 } else { regs.rax & !io.mask() };
                regs.rax = keep | (out.r11 & io.mask());
            }
        }
        exit_reason::RDMSR => (regs.rax, regs.rdx) = (lo(out.r11), out.r11 >> 32),
        other => return Err(VeError::UnsupportedExit(other)),
    }
    Ok(len)
}

/// The GPA of an MMIO #VE (EPT violation) with the shared bit removed, if the access was to a
/// shared GPA and the whole `size` bytes lie in `[window_start, window_end)`; else `None`.
pub fn mmio_gpa(gpa: u64, shared_bit: u64, size: u8, window_start: u64, window_end: u64) -> Option<u64> {
    let private = gpa & !shared_bit;
    let end = private.checked_add(u64::from(size))?;
    (shared_bit != 0 && gpa & shared_bit != 0 && private >= window_start && end <= window_end).then_some(private)
}

/// The CPUID leaf 0x21 (sub-leaf 0) vendor string of a TD: EBX, EDX, ECX = "IntelTDX    ".
pub fn is_td_vendor(ebx: u32, ecx: u32, edx: u32) -> bool {
    let mut v = [0u8; 12];
    v[0..4].copy_from_slice(&ebx.to_le_bytes());
    v[4..8].copy_from_slice(&edx.to_le_bytes());
    v[8..12].copy_from_slice(&ecx.to_le_bytes());
    &v == b"IntelTDX    "
}

/// TDG.MR.REPORT's subtype (R8): 0, the only one defined.
pub const REPORT_SUBTYPE: u64 = 0;

/// The RTMR the guest extends with its runtime configuration: RTMR2 (RTMR0/1 are, by the TDVF
/// convention, firmware and OS loader; this ROM has neither, so they stay zero).
pub const CONFIG_RTMR: u64 = 2;

/// Tag of the runtime-configuration record.
pub const CONFIG_RECORD_TAG: [u8; 8] = *b"FCC-CFG1";

/// The 48 bytes extended into [`CONFIG_RTMR`] once per boot (before the TEE exists):
/// `"FCC-CFG1" ‖ chain_id u64 LE ‖ proxy IPv4 (4, network order) ‖ proxy port u16 LE ‖
/// policy-hash scheme u8 (0 legacy, 1 chain-bound) ‖ 25 zero bytes`. The record is the
/// configuration itself (no hash), so a verifier replays `RTMR2 = SHA-384(0^48 ‖ record)` from
/// the values it expects.
pub fn config_record(chain_id: u64, proxy_ip: [u8; 4], proxy_port: u16, chain_bound: bool) -> [u8; 48] {
    let mut r = [0u8; 48];
    r[0..8].copy_from_slice(&CONFIG_RECORD_TAG);
    r[8..16].copy_from_slice(&chain_id.to_le_bytes());
    r[16..20].copy_from_slice(&proxy_ip);
    r[20..22].copy_from_slice(&proxy_port.to_le_bytes());
    r[22] = u8::from(chain_bound);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status(0), Ok(()));
        assert_eq!(status(0x8000_0200_0000_0000), Err(TdcallError::Busy(0x8000_0200_0000_0000)));
        // The low half names the operand: still busy.
        assert_eq!(status(0x8000_0200_0000_0090), Err(TdcallError::Busy(0x8000_0200_0000_0090)));
        assert_eq!(status(0x8000_0204_0000_0000), Err(TdcallError::Busy(0x8000_0204_0000_0000)));
        assert_eq!(status(0x8000_0205_0000_0000), Err(TdcallError::Other(0x8000_0205_0000_0000)));
        assert_eq!(status(0x0000_0B0A_0000_0000), Err(TdcallError::AlreadyAccepted));
        assert_eq!(status(0xC000_0100_0000_0000), Err(TdcallError::Other(0xC000_0100_0000_0000)));
        assert_eq!(accept_operand(0x1234_5678, false), 0x1234_5000);
        assert_eq!(accept_operand(0x20_0000, true), 0x20_0001);
    }

    #[test]
    fn vp_info() {
        let i = VpInfo::from_regs(52, 0x1000_0000, 4 | 8 << 32, 0xffff_ffff_0000_0003);
        assert_eq!(i.shared_bit(), Some(1 << 51));
        assert_eq!((i.num_vcpus, i.max_vcpus), (4, 8));
        assert!(!i.debug());
        assert_eq!(VpInfo::from_regs(48, 1, 0, 0).shared_bit(), Some(1 << 47));
        assert!(VpInfo::from_regs(48, 1, 0, 0).debug());
        assert_eq!(VpInfo::from_regs(40, 0, 0, 0).shared_bit(), None);
    }

    #[test]
    fn report_fields() {
        let mut r = [0u8; TDREPORT_LEN];
        r[TDREPORT_REPORTDATA] = 0xaa;
        r[TDREPORT_TDINFO] = 1;
        r[TDREPORT_TDINFO + TDINFO_MRTD] = 0xbb;
        r[TDREPORT_TDINFO + TDINFO_RTMR0 + 48 * 2] = 0xcc;
        let t = TdReport::new(&r).unwrap();
        assert_eq!((t.report_data()[0], t.attributes(), t.mrtd()[0], t.rtmr(2)[0]), (0xaa, 1, 0xbb, 0xcc));
        assert!(TdReport::new(&r[..1000]).is_none());
    }

    #[test]
    fn quote_buffer_round_trip() {
        use quote_buffer::{ResponseError, response};
        let data = [0x33u8; 64];
        let mut buf = [0u8; 2048];
        let n = quote_buffer::request(&[7u8; TDREPORT_LEN], &mut buf).unwrap();
        assert_eq!((n, &buf[0..8], &buf[16..20]), (24 + 1024, &1u64.to_le_bytes()[..], &1024u32.to_le_bytes()[..]));
        assert_eq!(response(&buf, &data), Err(ResponseError::Length(0)), "success without a quote");
        buf[8..16].copy_from_slice(&quote_buffer::IN_FLIGHT.to_le_bytes());
        assert_eq!(quote_buffer::status(&buf), Some(quote_buffer::IN_FLIGHT));
        assert_eq!(response(&buf, &data), Ok(None));

        // A v4 quote (header, TD report body with REPORTDATA) as the host writes it back.
        let mut q = [0u8; 48 + 584 + 16];
        q[0..2].copy_from_slice(&4u16.to_le_bytes());
        q[4..8].copy_from_slice(&quote::TEE_TYPE_TDX.to_le_bytes());
        q[48 + 520..48 + 584].copy_from_slice(&data);
        buf[24..24 + q.len()].copy_from_slice(&q);
        buf[8..16].fill(0);
        buf[20..24].copy_from_slice(&(q.len() as u32).to_le_bytes());
        assert_eq!(response(&buf, &data), Ok(Some(&q[..])));
        assert_eq!(response(&buf, &[0x44; 64]), Err(ResponseError::ReportData), "another statement's quote");

        // out_len at the buffer's edge, one past it, and u32::MAX.
        let edge = (buf.len() - 24) as u32;
        buf[20..24].copy_from_slice(&edge.to_le_bytes());
        assert_eq!(response(&buf, &data).unwrap().unwrap().len(), edge as usize);
        buf[20..24].copy_from_slice(&(edge + 1).to_le_bytes());
        assert_eq!(response(&buf, &data), Err(ResponseError::Length(u64::from(edge) + 1)));
        buf[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(response(&buf, &data), Err(ResponseError::Length(u64::from(u32::MAX))));
        // Too short for a quote body, and not a quote at all.
        buf[20..24].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(response(&buf, &data), Err(ResponseError::NotAQuote(quote::QuoteError::Truncated(100))));
        buf[24..28].copy_from_slice(&3u32.to_le_bytes());
        buf[20..24].copy_from_slice(&(q.len() as u32).to_le_bytes());
        assert!(matches!(response(&buf, &data), Err(ResponseError::NotAQuote(_))));

        for status in [quote_buffer::ERROR, quote_buffer::SERVICE_UNAVAILABLE, 5] {
            buf[8..16].copy_from_slice(&status.to_le_bytes());
            assert_eq!(response(&buf, &data), Err(ResponseError::Status(status)));
        }
        buf[8..16].fill(0);
        assert_eq!(response(&buf[..23], &data), Err(ResponseError::Length(0)), "shorter than the header");
        assert_eq!(response(&buf[..8], &data), Err(ResponseError::Length(0)));
        assert!(quote_buffer::request(&[0; 100], &mut [0; 50]).is_none());
    }

    #[test]
    fn ve_info_and_io() {
        let v = VeInfo::from_regs(30 | 0xdead << 32, 0x03f8_0008, 1, 2, 1 | 7 << 32);
        assert_eq!((v.exit_reason, v.gla, v.gpa, v.insn_len), (30, 1, 2, 1));
        assert_eq!(insn_len(&v), Ok(1));
        assert_eq!(Io::from_qualification(v.exit_qualification), Ok(Io { port: 0x3f8, size: 1, input: true }));
        assert_eq!(Io::from_qualification(0x0cfc_0003), Ok(Io { port: 0xcfc, size: 4, input: false }));
        assert_eq!(Io::from_qualification(0x0cfc_0001).unwrap().size, 2);
        assert_eq!(Io::from_qualification(0x0cfc_0010), Err(VeError::StringIo));
        assert_eq!(Io::from_qualification(0x0cfc_0020), Err(VeError::StringIo));
        assert!(Io::from_qualification(0x0cfc_0002).is_err());
        assert_eq!(insn_len(&VeInfo { insn_len: 0, ..v }), Err(VeError::InsnLen(0)));
        assert_eq!(insn_len(&VeInfo { insn_len: 16, ..v }), Err(VeError::InsnLen(16)));
    }

    #[test]
    fn vmcall_registers() {
        // GHCI: Instruction.IO R12 size, R13 direction (1 = write), R14 port, R15 value.
        let out = Vmcall::io(Io { port: 0x3f8, size: 1, input: false }, 0x1_2341);
        assert_eq!(out, Vmcall { r10: 0, r11: 30, r12: 1, r13: 1, r14: 0x3f8, r15: 0x41 });
        let inp = Vmcall::io(Io { port: 0x510, size: 2, input: true }, 0xffff);
        assert_eq!((inp.r13, inp.r15), (0, 0));
        assert_eq!(Vmcall::cpuid(0x4000_0010, 3), Vmcall { r10: 0, r11: 10, r12: 0x4000_0010, r13: 3, r14: 0, r15: 0 });
        assert_eq!((Vmcall::hlt().r11, Vmcall::hlt().r12), (12, 1));
        assert_eq!((Vmcall::rdmsr(0x10).r11, Vmcall::rdmsr(0x10).r12), (31, 0x10));
        assert_eq!(Vmcall::wrmsr(0x10, 5), Vmcall { r10: 0, r11: 32, r12: 0x10, r13: 5, r14: 0, r15: 0 });
        assert_eq!(
            Vmcall::mmio(4, Some(9), 0xc000_0000),
            Vmcall { r10: 0, r11: 48, r12: 4, r13: 1, r14: 0xc000_0000, r15: 9 }
        );
        assert_eq!(Vmcall::mmio(8, None, 0xc000_0008).r13, 0);
        assert_eq!(Vmcall::map_gpa(1 << 51 | 0x20_0000, 0x40_0000).r11, 0x10001);
        assert_eq!(
            Vmcall::get_quote(1 << 47, 8192),
            Vmcall { r10: 0, r11: 0x10002, r12: 1 << 47, r13: 8192, r14: 0, r15: 0 }
        );
        let fatal = Vmcall::report_fatal_error(0xfcc1, b"fcc: not a TD\0\0\0");
        assert_eq!((fatal.r11, fatal.r12, fatal.r13), (0x10003, 0xfcc1_0000, 0));
        assert_eq!(fatal.r12 & 0xffff, 0, "QEMU refuses codes with bits 15:0 set");
        assert_eq!(&fatal.r14.to_le_bytes(), b"fcc: not");
        assert_eq!(&fatal.r15.to_le_bytes(), b" a TD\0\0\0");
        assert_eq!(Vmcall { r10: 0, ..Vmcall::default() }.status(), Ok(()));
        assert_eq!(Vmcall { r10: 0x8000_0000_0000_0000, ..Vmcall::default() }.status(), Err(VmcallError(1 << 63)));
        assert_eq!(VMCALL_EXPOSE, (10..=15).map(|r| 1u64 << r).sum::<u64>());
    }

    #[test]
    fn map_gpa_retry() {
        let (s, e) = (0x20_0000, 0x100_0000);
        let answer = |r10, r11| Vmcall { r10, r11, ..Vmcall::default() };
        assert_eq!(map_gpa_next(s, e, &answer(0, 0)), Ok(None));
        assert_eq!(map_gpa_next(s, e, &answer(1, 0x40_0000)), Ok(Some(0x40_0000)));
        assert!(map_gpa_next(s, e, &answer(1, s)).is_err(), "no progress");
        assert!(map_gpa_next(s, e, &answer(1, e)).is_err(), "RETRY at the end");
        assert!(map_gpa_next(s, e, &answer(1, 0x40_0001)).is_err(), "unaligned");
        assert!(map_gpa_next(s, e, &answer(1, 0x10)).is_err(), "backwards");
        assert_eq!(map_gpa_next(s, e, &answer(0x8000_0000_0000_0000, 0)), Err(VmcallError(1 << 63)));
    }

    #[test]
    fn cpuid_policy_and_vendor() {
        assert!(cpuid_from_host(0x4000_0000) && cpuid_from_host(0x4000_0010) && cpuid_from_host(0x4fff_ffff));
        assert!(!cpuid_from_host(0x3fff_ffff) && !cpuid_from_host(0x8000_001f) && !cpuid_from_host(0x5000_0000));
        // "Inte" "lTDX" "    " in EBX, EDX, ECX.
        assert!(is_td_vendor(0x6574_6e49, 0x2020_2020, 0x5844_546c));
        assert!(!is_td_vendor(0x6574_6e49, 0x5844_546c, 0x2020_2020));
        assert!(!is_td_vendor(0, 0, 0));
    }

    #[test]
    fn config_record_bytes() {
        let r = config_record(14, [10, 0, 2, 2], 3000, true);
        let mut expected = [0u8; 48];
        expected[..8].copy_from_slice(b"FCC-CFG1");
        expected[8] = 14;
        expected[16..20].copy_from_slice(&[10, 0, 2, 2]);
        expected[20..22].copy_from_slice(&[0xb8, 0x0b]);
        expected[22] = 1;
        assert_eq!(r, expected);
        assert_eq!(config_record(14, [10, 0, 2, 2], 3000, false)[22], 0);
        assert_ne!(config_record(114, [10, 0, 2, 2], 3000, true), r);
    }

    fn ve(reason: u32, qualification: u64, len: u32) -> VeInfo {
        VeInfo { exit_reason: reason, exit_qualification: qualification, gla: 0, gpa: 0, insn_len: len }
    }

    #[test]
    fn ve_cpuid() {
        let regs = VeRegs { rax: 0xdead_0000_4000_0010, rbx: 7, rcx: 0xffff_0000_0000_0001, rdx: 9 };
        let info = ve(exit_reason::CPUID, 0, 2);
        let call = ve_request(&info, &regs).unwrap().unwrap();
        assert_eq!((call.r11, call.r12, call.r13), (10, 0x4000_0010, 1), "leaf and sub-leaf, 32 bits each");
        let answer = Vmcall { r12: 0xffff_ffff_0000_0001, r13: 2, r14: 3, r15: 4, ..Vmcall::default() };
        let mut out = regs;
        assert_eq!(ve_apply(&info, Some(&answer), &mut out), Ok(2));
        assert_eq!(out, VeRegs { rax: 1, rbx: 2, rcx: 3, rdx: 4 });
        // A leaf outside the hypervisor range: not asked, all zeros.
        let local = VeRegs { rax: 0x8000_0008, ..regs };
        assert_eq!(ve_request(&info, &local), Ok(None));
        let mut out = local;
        assert_eq!(ve_apply(&info, None, &mut out), Ok(2));
        assert_eq!(out, VeRegs::default());
    }

    #[test]
    fn ve_io() {
        let regs = VeRegs { rax: 0x1111_2222_3333_4455, ..VeRegs::default() };
        // OUT DX, AL to 0x3f8: the value masked to a byte.
        let out_info = ve(exit_reason::IO, 0x03f8_0000, 1);
        let call = ve_request(&out_info, &regs).unwrap().unwrap();
        assert_eq!((call.r12, call.r13, call.r14, call.r15), (1, 1, 0x3f8, 0x55));
        let mut r = regs;
        assert_eq!(ve_apply(&out_info, Some(&Vmcall::default()), &mut r), Ok(1));
        assert_eq!(r, regs, "OUT changes no register");
        // IN AX, DX: the low 16 bits replaced, the rest kept.
        let in16 = ve(exit_reason::IO, 0x0510_0009, 1);
        let answer = Vmcall { r11: 0xabcd_ef01, ..Vmcall::default() };
        let mut r = regs;
        ve_apply(&in16, Some(&answer), &mut r).unwrap();
        assert_eq!(r.rax, 0x1111_2222_3333_ef01);
        // IN EAX, DX: RAX[63:32] cleared.
        let in32 = ve(exit_reason::IO, 0x0cfc_000b, 1);
        let mut r = regs;
        ve_apply(&in32, Some(&answer), &mut r).unwrap();
        assert_eq!(r.rax, 0xabcd_ef01);
        // String I/O refused both ways.
        assert_eq!(ve_request(&ve(exit_reason::IO, 0x03f8_0010, 1), &regs), Err(VeError::StringIo));
    }

    #[test]
    fn ve_msr_hlt_and_refusals() {
        let regs = VeRegs { rax: 0xffff_ffff_8765_4321, rcx: 0x1b, rdx: 0x1234, ..VeRegs::default() };
        let wr = ve(exit_reason::WRMSR, 0, 2);
        assert_eq!(ve_request(&wr, &regs).unwrap().unwrap(), Vmcall::wrmsr(0x1b, 0x1234_8765_4321));
        let rd = ve(exit_reason::RDMSR, 0, 2);
        assert_eq!(ve_request(&rd, &regs).unwrap().unwrap(), Vmcall::rdmsr(0x1b));
        let mut r = regs;
        ve_apply(&rd, Some(&Vmcall { r11: 0xaaaa_bbbb_cccc_dddd, ..Vmcall::default() }), &mut r).unwrap();
        assert_eq!((r.rax, r.rdx, r.rcx), (0xcccc_dddd, 0xaaaa_bbbb, 0x1b));
        let hlt = ve(exit_reason::HLT, 0, 1);
        assert_eq!(ve_request(&hlt, &regs).unwrap().unwrap(), Vmcall::hlt());
        assert_eq!(ve_request(&ve(exit_reason::EPT_VIOLATION, 0, 0), &regs), Err(VeError::InsnLen(0)));
        assert_eq!(ve_request(&ve(52, 0, 3), &regs), Err(VeError::UnsupportedExit(52)));
        assert_eq!(ve_request(&ve(exit_reason::CPUID, 0, 0), &regs), Err(VeError::InsnLen(0)));
        let mut r = regs;
        assert_eq!(ve_apply(&ve(52, 0, 3), None, &mut r), Err(VeError::UnsupportedExit(52)));
        assert_eq!(r, regs);
    }

    #[test]
    fn mmio_gpas() {
        let (s, w0, w1) = (1u64 << 51, 0xc000_0000, 0xc100_0000);
        assert_eq!(mmio_gpa(s | 0xc000_0010, s, 4, w0, w1), Some(0xc000_0010));
        assert_eq!(mmio_gpa(s | 0xc0ff_fff8, s, 8, w0, w1), Some(0xc0ff_fff8));
        assert_eq!(mmio_gpa(s | 0xc0ff_fffc, s, 8, w0, w1), None, "runs past the window");
        assert_eq!(mmio_gpa(0xc000_0010, s, 4, w0, w1), None, "private GPA");
        assert_eq!(mmio_gpa(s | 0xbfff_fffc, s, 4, w0, w1), None, "below the window");
        assert_eq!(mmio_gpa(s | 0x1000, s, 4, w0, w1), None);
        assert_eq!(mmio_gpa(u64::MAX, 1, 8, w0, u64::MAX), None, "overflow");
        assert_eq!(mmio_gpa(0xc000_0010, 0, 4, w0, w1), None, "no shared bit known");
    }
}
