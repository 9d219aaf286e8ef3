//! Intel TDX at run time: the TDCALL instruction and the memory behind `fcc_cvm_abi::tdx`'s
//! encoders and checks. Only the platform layer (`platform/mod.rs`) calls this module; it prints
//! nothing itself.
//!
//! The reset path (`boot/reset.s`) started in 32-bit protected mode (boot flag
//! [`start::FLAG_PROTECTED_MODE`]): only a TD starts there. [`init`] runs right after the IDT is
//! loaded and before the console (port I/O raises #VE):
//!
//! 1. CPUID leaf 0x21 must say "IntelTDX    " (the TDX module answers that leaf itself, the
//!    host cannot); TDG.VP.INFO gives the GPA width, hence the shared bit (47 or 51).
//! 2. The PCI MMIO window gets the shared bit in its page-directory entries: device registers
//!    are host memory, and an access to a shared GPA the host does not back raises the #VE that
//!    [`fcc_ve`] turns into `#VE.RequestMMIO`.
//!
//! Any failure before the console ends the TD through TDG.VP.VMCALL<ReportFatalError> with an
//! fcc code and a 16-byte message (QEMU reports a guest panic with both) and spins.
//!
//! [`handle_ve`] (IST4, resumable like SEV-SNP's #VC) first reads TDG.VP.VEINFO.GET (until then
//! the TDX module turns another #VE into a double fault), then emulates through TDG.VP.VMCALL:
//! CPUID (hypervisor leaves 0x4000_0000..=0x4FFF_FFFF only; any other leaf the module does not
//! answer reads as zeros), IN/OUT (not string I/O), RDMSR/WRMSR, HLT, and MMIO inside the PCI
//! MMIO window (`MOV`/`MOVZX`, decoded by `fcc_cvm_abi::mmio`). Anything else is refused, and the
//! exception path halts with the reason. The console and the exit device go through
//! [`VmcallPorts`], so the handler's own diagnostics never raise a nested #VE.
//!
//! Memory: the launch added only the TDVF `TEMP_MEM` (fcc-layout `EARLY_RAM`) and `TD_HOB`
//! sections; [`accept_heap`] accepts the heap (TDG.MEM.PAGE.ACCEPT, 2 MiB, else 4 KiB), and
//! [`share_dma_region`] converts `SHARED_BUFFERS` to shared (shared bit in its mappings, then
//! TDG.VP.VMCALL<MapGPA>). It was never accepted, so nothing private is given away.
//!
//! Attestation ([`Attester`]): TDG.MR.REPORT with REPORTDATA = the core's identity binding, then
//! TDG.VP.VMCALL<GetQuote> through `fcc_layout::shared::TDX_QUOTE`; the quote is the evidence.
//! The runtime configuration is extended into RTMR2 ([`extend_rtmr`],
//! `fcc_cvm_abi::tdx::config_record`).

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fcc_cvm_abi::mmio::MmioError;
use fcc_cvm_abi::tdx::quote_buffer::ResponseError;
use fcc_cvm_abi::tdx::{
    self, Io, TdcallError, VeError, VeInfo, VeRegs, Vmcall, VmcallError, VpInfo, exit_reason, leaf,
};
use fcc_guest_platform::frame::ExceptionFrame;
use fcc_guest_platform::port::PortIo;
use fcc_guest_platform::tsc;
use fcc_layout::shared::TDX_QUOTE;
use fcc_layout::{HEAP, LARGE_PAGE_SIZE, PAGE_SIZE, PCI_MMIO_WINDOW, Region, SHARED_BUFFERS, page_tables};

use crate::platform::insn::{self, MmioRefusal};
use crate::start;

/// ReportFatalError codes (R12 bits 31:16) and messages of this kernel.
/// Started in protected mode, but CPUID leaf 0x21 does not say TDX.
const FATAL_NOT_TD: (u16, &[u8; 16]) = (0xfcc1, b"fcc: not a TD\0\0\0");
/// TDG.VP.INFO failed or reported a GPA width without a known shared bit.
const FATAL_VP_INFO: (u16, &[u8; 16]) = (0xfcc2, b"fcc: VP.INFO\0\0\0\0");
/// A #VE before [`init`] finished, or inside the #VE handler.
const FATAL_VE: (u16, &[u8; 16]) = (0xfcc3, b"fcc: nested #VE\0");
/// An exception, a panic or a failed boot step, reported on the console first.
const FATAL_FAILURE: (u16, &[u8; 16]) = (0xfcc4, b"fcc: failure\0\0\0\0");
/// TDG.VP.INFO says this is not VCPU_INDEX 0, which `reset.s` should have parked.
const FATAL_NOT_VCPU0: (u16, &[u8; 16]) = (0xfcc5, b"fcc: not vCPU 0\0");

/// A busy operand is tried again this many times.
const BUSY_RETRIES: usize = 1000;
/// A MapGPA the host keeps answering RETRY to is given up after this many rounds.
const MAP_GPA_ROUNDS: usize = 4096;
/// The quoting service gets this long (seconds) to answer GetQuote.
const QUOTE_TIMEOUT_S: u64 = 60;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static SHARED_BIT: AtomicU64 = AtomicU64::new(0);
static IN_VE: AtomicBool = AtomicBool::new(false);
static DMA_SHARED: AtomicBool = AtomicBool::new(false);
static ATTESTER_TAKEN: AtomicBool = AtomicBool::new(false);

/// Whether the kernel runs as a TD with [`init`] done.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// TDCALL's registers (the ones any leaf used here reads or writes).
#[derive(Default, Clone, Copy)]
struct Regs {
    rax: u64,
    rcx: u64,
    rdx: u64,
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
}

fn tdcall(r: &mut Regs) {
    // SAFETY: TDCALL (66 0F 01 CC) enters the TDX module, which reads and writes only these
    // registers and, for the leaves used here, memory the callers own and name by address
    // (TDREPORT/REPORTDATA/RTMR buffers, private; shared buffers for the host). No `nomem`: the
    // compiler must not cache that memory across the call. RBX, RBP, RSI, RDI and the stack are
    // preserved (not in the VMCALL register bitmap).
    unsafe {
        core::arch::asm!(
            ".byte 0x66, 0x0f, 0x01, 0xcc",
            inout("rax") r.rax, inout("rcx") r.rcx, inout("rdx") r.rdx, inout("r8") r.r8, inout("r9") r.r9,
            inout("r10") r.r10, inout("r11") r.r11, inout("r12") r.r12, inout("r13") r.r13, inout("r14") r.r14,
            inout("r15") r.r15, options(nostack),
        );
    }
}

/// Why a TDX operation failed.
#[derive(Debug, Clone, Copy)]
pub enum TdxError {
    /// A TDCALL leaf returned this status.
    Tdcall(u64, TdcallError),
    /// The host refused a TDG.VP.VMCALL.
    Vmcall(u64, VmcallError),
    /// GetQuote: the host's answer is not the quote asked for.
    Quote(tdx::quote_buffer::ResponseError),
    /// GetQuote: no answer in time; the buffer stays the host's until it answers.
    QuoteTimeout,
    /// GetQuote: the host has not answered an earlier request that timed out, so the buffer
    /// is still its own and no new request goes in.
    QuoteBufferHeld,
    /// The shared buffers are not shared yet.
    NotShared,
}

impl fmt::Display for TdxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = |e: &TdcallError| match *e {
            TdcallError::Busy(c) | TdcallError::Other(c) => c,
            TdcallError::AlreadyAccepted => 0x0000_0b0a_0000_0000,
        };
        match self {
            Self::Tdcall(l, e) => write!(f, "TDCALL leaf {l}: status {:#x}", code(e)),
            Self::Vmcall(sub, e) => write!(f, "TDVMCALL {sub:#x}: host status {:#x}", e.0),
            Self::Quote(ResponseError::Status(s)) => write!(f, "GetQuote: status {s:#x}"),
            Self::Quote(ResponseError::Length(n)) => write!(f, "GetQuote: quote length {n}"),
            Self::Quote(ResponseError::NotAQuote(e)) => write!(f, "GetQuote: not a TDX quote ({e:?})"),
            Self::Quote(ResponseError::ReportData) => f.write_str("GetQuote: a quote of another REPORTDATA"),
            Self::QuoteTimeout => f.write_str("GetQuote: no answer in time"),
            Self::QuoteBufferHeld => f.write_str("GetQuote: an earlier request is still the host's"),
            Self::NotShared => f.write_str("the shared buffers are not shared yet"),
        }
    }
}

/// One TDCALL leaf; `Busy` is tried again.
fn tdcall_leaf(r: &mut Regs) -> Result<(), TdxError> {
    let input = *r;
    for _ in 0..BUSY_RETRIES {
        *r = input;
        tdcall(r);
        match tdx::status(r.rax) {
            Ok(()) => return Ok(()),
            Err(TdcallError::Busy(_)) => core::hint::spin_loop(),
            Err(e) => return Err(TdxError::Tdcall(input.rax, e)),
        }
    }
    Err(TdxError::Tdcall(input.rax, TdcallError::Busy(r.rax)))
}

/// One TDG.VP.VMCALL: `Err` if the TDX module refused it (RAX) or the host did (R10).
// Out of line: called from the console, the exit device and the #VE handler.
#[inline(never)]
fn vmcall(call: Vmcall) -> Result<Vmcall, TdxError> {
    let mut r = Regs {
        rax: leaf::VP_VMCALL,
        rcx: tdx::VMCALL_EXPOSE,
        r10: call.r10,
        r11: call.r11,
        r12: call.r12,
        r13: call.r13,
        r14: call.r14,
        r15: call.r15,
        ..Regs::default()
    };
    tdcall(&mut r);
    tdx::status(r.rax).map_err(|e| TdxError::Tdcall(leaf::VP_VMCALL, e))?;
    let answer = Vmcall { r10: r.r10, r11: r.r11, r12: r.r12, r13: r.r13, r14: r.r14, r15: r.r15 };
    answer.status().map_err(|e| TdxError::Vmcall(call.r11, e))?;
    Ok(answer)
}

/// Ends the TD: ReportFatalError to the host, then spins (HLT would be another #VE).
fn fatal_early((code, message): (u16, &[u8; 16])) -> ! {
    let _ = vmcall(Vmcall::report_fatal_error(code, message));
    loop {
        core::hint::spin_loop();
    }
}

/// Halts the vCPU with interrupts blocked (TDG.VP.VMCALL<Instruction.HLT>), for ever.
pub fn halt() -> ! {
    loop {
        let _ = vmcall(Vmcall::hlt());
    }
}

/// Sets the shared bit in the 2 MiB page-directory entries mapping `region`.
fn set_shared_bit(region: Region) {
    let bit = SHARED_BIT.load(Ordering::Relaxed);
    let mut addr = region.start;
    while addr < region.end {
        let entry =
            core::ptr::with_exposed_provenance_mut::<u64>((page_tables::PD + (addr / LARGE_PAGE_SIZE) * 8) as usize);
        // SAFETY: `entry` is the boot page tables' 2 MiB leaf entry for `addr` (fcc-layout,
        // identity-mapped, writable, private); `region` is one the kernel hands to the host
        // (device registers, DMA buffers) and nothing private lives in it.
        unsafe { entry.write_volatile(entry.read_volatile() | bit) };
        addr += LARGE_PAGE_SIZE;
    }
    x86_64::instructions::tlb::flush_all();
}

const _: () = {
    assert!(SHARED_BUFFERS.is_aligned(LARGE_PAGE_SIZE) && PCI_MMIO_WINDOW.is_aligned(LARGE_PAGE_SIZE));
    assert!(HEAP.is_aligned(LARGE_PAGE_SIZE) && SHARED_BUFFERS.start >= LARGE_PAGE_SIZE);
    assert!(PCI_MMIO_WINDOW.end <= fcc_layout::FOUR_GIB);
};

/// TDX detection, TDG.VP.INFO and the shared MMIO window (see the module documentation). Call
/// right after the IDT is loaded, before the first port I/O. `None`: not a TD (nothing done).
pub fn init(boot_flags: u64) -> Option<VpInfo> {
    if boot_flags & start::FLAG_PROTECTED_MODE == 0 {
        return None;
    }
    // CPUID leaves 0 and 0x21 are answered by the TDX module (no #VE, no host involvement).
    let max = core::arch::x86_64::__cpuid(0).eax;
    let id = core::arch::x86_64::__cpuid_count(0x21, 0);
    if max < 0x21 || !tdx::is_td_vendor(id.ebx, id.ecx, id.edx) {
        fatal_early(FATAL_NOT_TD);
    }
    let mut r = Regs { rax: leaf::VP_INFO, ..Regs::default() };
    if tdcall_leaf(&mut r).is_err() {
        fatal_early(FATAL_VP_INFO);
    }
    let info = VpInfo::from_regs(r.rcx, r.rdx, r.r8, r.r9);
    if info.vcpu_index != 0 {
        fatal_early(FATAL_NOT_VCPU0);
    }
    let Some(bit) = info.shared_bit() else { fatal_early(FATAL_VP_INFO) };
    SHARED_BIT.store(bit, Ordering::Relaxed);
    set_shared_bit(PCI_MMIO_WINDOW);
    ACTIVE.store(true, Ordering::Release);
    Some(info)
}

/// Port I/O straight through TDG.VP.VMCALL, without a #VE (the console and the exit device,
/// which the #VE handler's own diagnostics use).
#[derive(Debug)]
pub struct VmcallPorts;

impl PortIo for VmcallPorts {
    // Out of line: called from the console, the exit device and the #VE handler.
    #[inline(never)]
    fn read(&self, port: u16, size: u8) -> Option<u32> {
        let io = Io { port, size, input: true };
        vmcall(Vmcall::io(io, 0)).ok().map(|a| (a.r11 & io.mask()) as u32)
    }

    #[inline(never)]
    fn write(&self, port: u16, size: u8, value: u32) -> bool {
        vmcall(Vmcall::io(Io { port, size, input: false }, value.into())).is_ok()
    }
}

/// The TD's TSC frequency from CPUID leaf 0x15, which the TDX module answers with the TD's
/// virtual TSC frequency (no host involvement; a TD has no PIT to calibrate against).
pub fn tsc_frequency_hz() -> Option<u64> {
    let c = core::arch::x86_64::__cpuid(0x15);
    (c.eax != 0 && c.ebx != 0 && c.ecx != 0).then(|| u64::from(c.ecx) * u64::from(c.ebx) / u64::from(c.eax))
}

/// Accepts `[at, at + size)` (one 2 MiB or 4 KiB page); an already accepted page is fine (it is
/// private memory either way, and the allocator assumes nothing of its contents).
fn accept(at: u64, large: bool) -> Result<(), TdxError> {
    let mut r = Regs { rax: leaf::MEM_PAGE_ACCEPT, rcx: tdx::accept_operand(at, large), ..Regs::default() };
    match tdcall_leaf(&mut r) {
        Ok(()) | Err(TdxError::Tdcall(_, TdcallError::AlreadyAccepted)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Accepts the heap (2 MiB pages, 4 KiB where the host mapped it so). Nothing to do outside
/// TDX. Call before the heap is used.
pub fn accept_heap() -> Result<(), TdxError> {
    if !active() {
        return Ok(());
    }
    for at in (HEAP.start..HEAP.end).step_by(LARGE_PAGE_SIZE as usize) {
        if accept(at, true).is_err() {
            for small in (at..at + LARGE_PAGE_SIZE).step_by(PAGE_SIZE as usize) {
                accept(small, false)?;
            }
        }
    }
    Ok(())
}

/// Makes `SHARED_BUFFERS` shared: the shared bit in its mappings, then MapGPA. Nothing to do
/// outside TDX.
pub fn share_dma_region() -> Result<(), TdxError> {
    if !active() {
        return Ok(());
    }
    set_shared_bit(SHARED_BUFFERS);
    let bit = SHARED_BIT.load(Ordering::Relaxed);
    let (mut start, end) = (SHARED_BUFFERS.start | bit, SHARED_BUFFERS.end | bit);
    for _ in 0..MAP_GPA_ROUNDS {
        let mut r = Regs {
            rax: leaf::VP_VMCALL,
            rcx: tdx::VMCALL_EXPOSE,
            r11: tdx::vmcall::MAP_GPA,
            r12: start,
            r13: end - start,
            ..Regs::default()
        };
        tdcall(&mut r);
        tdx::status(r.rax).map_err(|e| TdxError::Tdcall(leaf::VP_VMCALL, e))?;
        let answer = Vmcall { r10: r.r10, r11: r.r11, ..Vmcall::default() };
        match tdx::map_gpa_next(start, end, &answer).map_err(|e| TdxError::Vmcall(tdx::vmcall::MAP_GPA, e))? {
            None => {
                DMA_SHARED.store(true, Ordering::Release);
                return Ok(());
            }
            Some(next) => start = next,
        }
    }
    Err(TdxError::Vmcall(tdx::vmcall::MAP_GPA, VmcallError(tdx::vmcall::RETRY)))
}

/// Extends RTMR[`tdx::CONFIG_RTMR`] with a 48-byte record (TDG.MR.RTMR.EXTEND).
pub fn extend_rtmr(record: &[u8; 48]) -> Result<(), TdxError> {
    #[repr(C, align(64))]
    struct Aligned([u8; 48]);
    let data = Aligned(*record);
    let mut r = Regs {
        rax: leaf::MR_RTMR_EXTEND,
        rcx: core::ptr::addr_of!(data) as u64,
        rdx: tdx::CONFIG_RTMR,
        ..Regs::default()
    };
    tdcall_leaf(&mut r)
}

/// Why a #VE was not handled.
#[derive(Debug)]
pub enum Refused {
    /// TDG.VP.VEINFO.GET failed.
    VeInfo(TdxError),
    /// An exit the handler does not emulate.
    Ve(VeError),
    /// The host refused the emulation's TDG.VP.VMCALL.
    Host(TdxError),
    /// The faulting instruction is not in the kernel image.
    Rip,
    /// An MMIO instruction the decoder does not handle.
    Mmio(MmioError),
    /// MMIO outside the PCI MMIO window, or to a private GPA.
    MmioOutside(u64),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TDX #VE: ")?;
        match self {
            Self::VeInfo(e) => write!(f, "TDG.VP.VEINFO.GET: {e}"),
            Self::Ve(VeError::UnsupportedExit(r)) => write!(f, "exit reason {r}: not handled"),
            Self::Ve(VeError::StringIo) => f.write_str("string port I/O: not handled"),
            Self::Ve(VeError::InsnLen(n)) => write!(f, "instruction length {n}"),
            Self::Host(e) => write!(f, "{e}"),
            Self::Rip => f.write_str("MMIO from code outside the kernel image"),
            Self::Mmio(e) => write!(f, "MMIO instruction not handled ({e:?})"),
            Self::MmioOutside(at) => write!(f, "MMIO at {at:#x}: outside the PCI MMIO window"),
        }
    }
}

impl Refused {
    /// What was refused, without anything read from registers or memory (for a confidential
    /// guest's console).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::VeInfo(_) => "TDX #VE refused: TDG.VP.VEINFO.GET failed",
            Self::Ve(_) => "TDX #VE refused: exit not handled",
            Self::Host(_) => "TDX #VE refused: the host refused the emulation",
            Self::Rip => "TDX #VE refused: code outside the kernel image",
            Self::Mmio(_) => "TDX #VE refused: MMIO instruction not handled",
            Self::MmioOutside(_) => "TDX #VE refused: MMIO outside the PCI MMIO window",
        }
    }
}

/// Ends the TD after a failure the console has reported: ReportFatalError, then spin.
pub fn fail() -> ! {
    fatal_early(FATAL_FAILURE)
}

fn handle(frame: &mut ExceptionFrame) -> Result<(), Refused> {
    let mut r = Regs { rax: leaf::VP_VEINFO_GET, ..Regs::default() };
    tdcall(&mut r);
    tdx::status(r.rax).map_err(|e| Refused::VeInfo(TdxError::Tdcall(leaf::VP_VEINFO_GET, e)))?;
    let info = VeInfo::from_regs(r.rcx, r.rdx, r.r8, r.r9, r.r10);
    if info.exit_reason == exit_reason::EPT_VIOLATION {
        return handle_mmio(frame, &info);
    }
    let mut regs = VeRegs { rax: frame.rax, rbx: frame.rbx, rcx: frame.rcx, rdx: frame.rdx };
    let answer = match tdx::ve_request(&info, &regs).map_err(Refused::Ve)? {
        Some(call) => Some(vmcall(call).map_err(Refused::Host)?),
        None => None,
    };
    let len = tdx::ve_apply(&info, answer.as_ref(), &mut regs).map_err(Refused::Ve)?;
    (frame.rax, frame.rbx, frame.rcx, frame.rdx) = (regs.rax, regs.rbx, regs.rcx, regs.rdx);
    frame.rip += len;
    Ok(())
}

/// A device-register access: the GPA (from the TDX module, not the host) must carry the shared
/// bit and, without it, lie with the whole access inside the PCI MMIO window.
fn handle_mmio(frame: &mut ExceptionFrame, info: &VeInfo) -> Result<(), Refused> {
    let bit = SHARED_BIT.load(Ordering::Relaxed);
    insn::emulate_mmio(frame, |insn, regs, _rip| {
        tdx::mmio_gpa(info.gpa, bit, insn.size, PCI_MMIO_WINDOW.start, PCI_MMIO_WINDOW.end)
            .ok_or(Refused::MmioOutside(info.gpa))?;
        let out = vmcall(Vmcall::mmio(insn.size, insn.write_value(regs), info.gpa)).map_err(Refused::Host)?;
        Ok(out.r11)
    })
    .map_err(|e| match e {
        MmioRefusal::Rip => Refused::Rip,
        MmioRefusal::Decode(e) => Refused::Mmio(e),
        MmioRefusal::Access(e) => e,
    })
}

/// Serves a #VE (the platform layer's resumable-exception entry, on IST4): performs the
/// instruction and advances RIP past it, or says why not (the caller halts). A #VE before
/// [`init`] or inside this handler ends the TD at once.
pub fn handle_ve(frame: &mut ExceptionFrame) -> Result<(), Refused> {
    if !active() || IN_VE.swap(true, Ordering::Acquire) {
        // Before init the console itself would raise #VE; inside the handler IST4 was reused.
        fatal_early(FATAL_VE);
    }
    let outcome = handle(frame);
    IN_VE.store(false, Ordering::Release);
    outcome
}

/// TDX attestation: a TDREPORT with the core's REPORTDATA, turned into a quote by the host.
pub struct Attester {
    /// TSC ticks per second (for GetQuote's timeout); an upper bound where CPUID does not say.
    tsc_hz: u64,
    /// An earlier GetQuote timed out: the host may still write its answer into the buffer.
    timed_out: bool,
}

/// The TSC rate assumed for GetQuote's timeout where CPUID leaf 0x15 is silent: a high one, so
/// the wait is at least [`QUOTE_TIMEOUT_S`] (longer on a slower TSC; still bounded).
const TSC_HZ_UPPER_BOUND: u64 = 10_000_000_000;

/// The attester, once, in a TD.
pub fn attester() -> Option<Attester> {
    let tsc_hz = tsc_frequency_hz().unwrap_or(TSC_HZ_UPPER_BOUND);
    (active() && !ATTESTER_TAKEN.swap(true, Ordering::AcqRel)).then_some(Attester { tsc_hz, timed_out: false })
}

/// The TDREPORT (1024 bytes) with `report_data` (TDG.MR.REPORT, subtype 0).
pub fn tdreport(report_data: &[u8; 64]) -> Result<alloc::boxed::Box<[u8; tdx::TDREPORT_LEN]>, TdxError> {
    #[repr(C, align(1024))]
    struct Report([u8; tdx::TDREPORT_LEN]);
    #[repr(C, align(64))]
    struct Data([u8; 64]);
    let mut report = alloc::boxed::Box::new(Report([0; tdx::TDREPORT_LEN]));
    let data = alloc::boxed::Box::new(Data(*report_data));
    // The heap is identity-mapped private memory: these addresses are the GPAs.
    let mut r = Regs {
        rax: leaf::MR_REPORT,
        rcx: core::ptr::addr_of_mut!(report.0) as u64,
        rdx: core::ptr::addr_of!(data.0) as u64,
        r8: tdx::REPORT_SUBTYPE,
        ..Regs::default()
    };
    tdcall_leaf(&mut r)?;
    Ok(alloc::boxed::Box::new(report.0))
}

/// MRTD, from a TDREPORT of this TD (TDG.MR.REPORT with zero REPORTDATA).
pub fn mrtd() -> Result<[u8; 48], TdxError> {
    let report = tdreport(&[0; 64])?;
    let view = fcc_cvm_abi::tdx::TdReport::new(&report[..])
        .ok_or(TdxError::Quote(ResponseError::Length(report.len() as u64)))?;
    view.mrtd().try_into().map_err(|_| TdxError::Quote(ResponseError::Length(report.len() as u64)))
}

impl Attester {
    /// A quote for `report_data`: TDREPORT, then GetQuote through the shared buffer.
    ///
    /// The host may answer late, after the wait below gave up: until the buffer's status
    /// leaves IN_FLIGHT it is the host's and no new request is written into it, and an answer
    /// is taken only if it is a quote of this `report_data`.
    pub fn quote(&mut self, report_data: &[u8; 64]) -> Result<alloc::vec::Vec<u8>, TdxError> {
        if !DMA_SHARED.load(Ordering::Acquire) {
            return Err(TdxError::NotShared);
        }
        let status_at =
            core::ptr::with_exposed_provenance::<u64>(TDX_QUOTE.start as usize + tdx::quote_buffer::STATUS_OFFSET);
        if self.timed_out {
            // SAFETY: the status field of the shared buffer (8-aligned), which the host writes.
            if unsafe { status_at.read_volatile() } == tdx::quote_buffer::IN_FLIGHT {
                return Err(TdxError::QuoteBufferHeld);
            }
            self.timed_out = false;
        }
        let report = tdreport(report_data)?;
        let len = TDX_QUOTE.size() as usize;
        let mut buf = alloc::vec![0u8; len];
        let request_len = tdx::quote_buffer::request(&report[..], &mut buf)
            .ok_or(TdxError::Quote(ResponseError::Length(report.len() as u64)))?;
        let shared = core::ptr::with_exposed_provenance_mut::<u8>(TDX_QUOTE.start as usize);
        // SAFETY: TDX_QUOTE is part of SHARED_BUFFERS (fcc_layout::shared), shared (DMA_SHARED)
        // and used by nothing else (the layout's parts are disjoint); only the TDREPORT (MAC'd,
        // meant for the host's quoting service) goes there.
        unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), shared, request_len) };
        let bit = SHARED_BIT.load(Ordering::Relaxed);
        let call = Vmcall::get_quote(TDX_QUOTE.start | bit, len as u64);
        // RETRY: the host has too many requests in flight; ask again (bounded).
        let mut tries = 0;
        loop {
            match vmcall(call) {
                Err(TdxError::Vmcall(_, VmcallError(tdx::vmcall::RETRY))) if tries < BUSY_RETRIES => {
                    tries += 1;
                    core::hint::spin_loop();
                }
                outcome => {
                    outcome?;
                    break;
                }
            }
        }
        let deadline = tsc::now().wrapping_add(QUOTE_TIMEOUT_S.saturating_mul(self.tsc_hz));
        // SAFETY: as above.
        while unsafe { status_at.read_volatile() } == tdx::quote_buffer::IN_FLIGHT {
            if tsc::now() > deadline {
                self.timed_out = true;
                return Err(TdxError::QuoteTimeout);
            }
            core::hint::spin_loop();
        }
        // SAFETY: as above; the answer is copied once into private memory and checked there.
        unsafe { core::ptr::copy_nonoverlapping(shared, buf.as_mut_ptr(), len) };
        match tdx::quote_buffer::response(&buf, report_data) {
            Ok(Some(quote)) => Ok(quote.to_vec()),
            // The host set IN_FLIGHT again between the poll and the copy.
            Ok(None) => {
                self.timed_out = true;
                Err(TdxError::QuoteTimeout)
            }
            Err(e) => Err(TdxError::Quote(e)),
        }
    }
}
