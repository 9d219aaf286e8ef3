//! Intel TDX at run time, for both editions: the TDCALL instruction and the memory behind
//! `fcc_cvm_abi::tdx`'s encoders and checks. The ROM (`guest/kernel`'s platform layer) and the
//! UEFI edition call it with their own addresses (the ROM's fixed layout, the pages the firmware
//! gave the application); it prints nothing but [`measure_runtime_config`]'s lines.
//!
//! - [`vp_info`]: TDG.VP.INFO (the GPA width, hence the shared bit).
//! - [`init_ve`] then [`handle_ve`] (IST4, resumable like SEV-SNP's #VC): first
//!   TDG.VP.VEINFO.GET (until then the TDX module turns another #VE into a double fault), then
//!   emulation through TDG.VP.VMCALL: CPUID (hypervisor leaves 0x4000_0000..=0x4FFF_FFFF only;
//!   any other leaf the module does not answer reads as zeros), IN/OUT (not string I/O),
//!   RDMSR/WRMSR, HLT, and MMIO inside the windows given to [`allow_mmio`] (`MOV`/`MOVZX`,
//!   decoded by `fcc_cvm_abi::mmio`, from code the edition's `instruction_at` vouches for).
//!   Anything else is refused, and the exception path halts with the reason. A #VE before
//!   [`init_ve`] or inside the handler ends the TD at once. The console and the exit device go
//!   through [`VmcallPorts`], so the handler's own diagnostics never raise a nested #VE.
//! - Memory: [`accept`] (TDG.MEM.PAGE.ACCEPT, 2 MiB, else 4 KiB) and [`map_gpa`] (MapGPA, after
//!   the caller put the shared bit into its mappings).
//! - Attestation: [`tdreport`] (TDG.MR.REPORT), [`Quoter`] (GetQuote through a shared buffer),
//!   the runtime configuration extended into RTMR2 ([`measure_runtime_config`]).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use fcc_cvm_abi::mmio::MmioError;
use fcc_cvm_abi::tdx::quote_buffer::ResponseError;
use fcc_cvm_abi::tdx::{
    self, Io, TdReport, TdcallError, VeError, VeInfo, VeRegs, Vmcall, VmcallError, VpInfo, exit_reason, leaf,
};
use fcc_layout::{LARGE_PAGE_SIZE, PAGE_SIZE, Region};
use spin::{Mutex, Once};

use crate::config::ProxyAddr;
use crate::frame::ExceptionFrame;
use crate::insn::{self, MmioRefusal};
use crate::port::PortIo;
use crate::serial::Hex;
use crate::{println, tsc};

/// ReportFatalError codes (R12 bits 31:16) and messages of this guest (QEMU reports a guest
/// panic with both).
pub mod fatal {
    /// A code and a 16-byte message.
    pub type Reason = (u16, &'static [u8; 16]);
    /// Started as a TD (the ROM: in protected mode), but CPUID leaf 0x21 does not say TDX.
    pub const NOT_TD: Reason = (0xfcc1, b"fcc: not a TD\0\0\0");
    /// TDG.VP.INFO failed or reported a GPA width without a known shared bit.
    pub const VP_INFO: Reason = (0xfcc2, b"fcc: VP.INFO\0\0\0\0");
    /// A #VE before [`super::init_ve`], or inside the #VE handler.
    pub const VE: Reason = (0xfcc3, b"fcc: nested #VE\0");
    /// An exception, a panic or a failed boot step, reported on the console first.
    pub const FAILURE: Reason = (0xfcc4, b"fcc: failure\0\0\0\0");
    /// TDG.VP.INFO says this is not VCPU_INDEX 0, which the ROM's `reset.s` should have parked.
    pub const NOT_VCPU0: Reason = (0xfcc5, b"fcc: not vCPU 0\0");
}

/// A busy operand is tried again this many times.
const BUSY_RETRIES: usize = 1000;
/// A MapGPA the host keeps answering RETRY to is given up after this many rounds.
const MAP_GPA_ROUNDS: usize = 4096;
/// The quoting service gets this long (seconds) to answer GetQuote.
const QUOTE_TIMEOUT_S: u64 = 60;
/// MMIO windows the #VE handler accepts (the ROM: its PCI window; the UEFI edition: the NIC's
/// BARs, at most six).
const MAX_MMIO: usize = 8;

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
    Quote(ResponseError),
    /// GetQuote: no answer in time; the buffer stays the host's until it answers.
    QuoteTimeout,
    /// GetQuote: the host has not answered an earlier request that timed out, so the buffer
    /// is still its own and no new request goes in.
    QuoteBufferHeld,
    /// A region to accept or convert is not page-aligned.
    Unaligned(Region),
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
            Self::Unaligned(r) => write!(f, "[{:#x}, {:#x}) is not page-aligned", r.start, r.end),
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

/// Whether CPUID says this is a TD: leaves 0 and 0x21 are answered by the TDX module itself
/// (no #VE, no host involvement), "IntelTDX    ".
pub fn is_td() -> bool {
    let max = core::arch::x86_64::__cpuid(0).eax;
    let id = core::arch::x86_64::__cpuid_count(0x21, 0);
    max >= 0x21 && tdx::is_td_vendor(id.ebx, id.ecx, id.edx)
}

/// TDG.VP.INFO.
pub fn vp_info() -> Result<VpInfo, TdxError> {
    let mut r = Regs { rax: leaf::VP_INFO, ..Regs::default() };
    tdcall_leaf(&mut r)?;
    Ok(VpInfo::from_regs(r.rcx, r.rdx, r.r8, r.r9))
}

/// The boot log's line for a TD ([`vp_info`]'s findings).
#[derive(Debug, Clone, Copy)]
pub struct Describe(pub VpInfo);

impl fmt::Display for Describe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.0;
        write!(
            f,
            "TDX: GPA width {}, TD attributes {:#x}{}, vCPUs {}/{}",
            info.gpaw,
            info.attributes,
            if info.debug() { " (DEBUG: not confidential)" } else { "" },
            info.num_vcpus,
            info.max_vcpus
        )
    }
}

/// Ends the TD: ReportFatalError to the host, then spins (HLT would be another #VE).
pub fn report_fatal((code, message): fatal::Reason) -> ! {
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

/// Accepts one 2 MiB or 4 KiB page; an already accepted page is fine (it is private memory
/// either way, and no caller assumes anything of its contents).
fn accept_page(at: u64, large: bool) -> Result<(), TdxError> {
    let mut r = Regs { rax: leaf::MEM_PAGE_ACCEPT, rcx: tdx::accept_operand(at, large), ..Regs::default() };
    match tdcall_leaf(&mut r) {
        Ok(()) | Err(TdxError::Tdcall(_, TdcallError::AlreadyAccepted)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Accepts `region` as private memory: 2 MiB pages where aligned and the host mapped them so,
/// 4 KiB pages elsewhere.
pub fn accept(region: Region) -> Result<(), TdxError> {
    if !region.is_aligned(PAGE_SIZE) {
        return Err(TdxError::Unaligned(region));
    }
    let mut at = region.start;
    while at < region.end {
        if at.is_multiple_of(LARGE_PAGE_SIZE) && region.end - at >= LARGE_PAGE_SIZE && accept_page(at, true).is_ok() {
            at += LARGE_PAGE_SIZE;
        } else {
            accept_page(at, false)?;
            at += PAGE_SIZE;
        }
    }
    Ok(())
}

/// MapGPA of `region` to shared (`shared_bit` set) or private: the caller has put (or removed)
/// the shared bit in its own mappings of `region` first, and nothing private lives in it.
pub fn map_gpa(region: Region, shared_bit: u64) -> Result<(), TdxError> {
    if !region.is_aligned(PAGE_SIZE) {
        return Err(TdxError::Unaligned(region));
    }
    let (mut start, end) = (region.start | shared_bit, region.end | shared_bit);
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
            None => return Ok(()),
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

/// The TDREPORT (1024 bytes) with `report_data` (TDG.MR.REPORT, subtype 0).
pub fn tdreport(report_data: &[u8; 64]) -> Result<Box<[u8; tdx::TDREPORT_LEN]>, TdxError> {
    #[repr(C, align(1024))]
    struct Report([u8; tdx::TDREPORT_LEN]);
    #[repr(C, align(64))]
    struct Data([u8; 64]);
    let mut report = Box::new(Report([0; tdx::TDREPORT_LEN]));
    let data = Box::new(Data(*report_data));
    // Both editions' heaps are identity-mapped private memory: these addresses are the GPAs.
    let mut r = Regs {
        rax: leaf::MR_REPORT,
        rcx: core::ptr::addr_of_mut!(report.0) as u64,
        rdx: core::ptr::addr_of!(data.0) as u64,
        r8: tdx::REPORT_SUBTYPE,
        ..Regs::default()
    };
    tdcall_leaf(&mut r)?;
    Ok(Box::new(report.0))
}

/// One 48-byte field of a TDREPORT of this TD (TDG.MR.REPORT with zero REPORTDATA): `None`
/// for MRTD, `Some(i)` for RTMR i.
pub fn measurement(rtmr: Option<usize>) -> Result<[u8; 48], TdxError> {
    let report = tdreport(&[0; 64])?;
    let short = TdxError::Quote(ResponseError::Length(report.len() as u64));
    let view = TdReport::new(&report[..]).ok_or(short)?;
    let field = match rtmr {
        None => view.mrtd(),
        Some(i) => view.rtmr(i),
    };
    field.try_into().map_err(|_| short)
}

/// Puts the runtime configuration this boot accepted into RTMR2 (`fcc_cvm_abi::tdx::config_record`,
/// docs/PLATFORMS.md), then prints the measurements as the TDX module holds them, for the
/// operator to compare with reproducible/MEASUREMENTS.json. Before the TEE exists.
pub fn measure_runtime_config(chain_id: u64, proxy: ProxyAddr, chain_bound: bool) -> Result<(), TdxError> {
    let record = tdx::config_record(chain_id, proxy.ip, proxy.port, chain_bound);
    extend_rtmr(&record)?;
    println!("TDX: RTMR2 extended with the runtime configuration");
    let report = tdreport(&[0; 64])?;
    if let Some(r) = TdReport::new(&report[..]) {
        println!("TDX: MRTD {}", Hex(r.mrtd()));
        println!(
            "TDX: RTMR0 {} RTMR1 {} RTMR2 {} RTMR3 {}",
            Hex(r.rtmr(0)),
            Hex(r.rtmr(1)),
            Hex(r.rtmr(2)),
            Hex(r.rtmr(3))
        );
    }
    Ok(())
}

/// What the #VE handler needs of the edition, given once by [`init_ve`].
#[derive(Debug, Clone, Copy)]
pub struct VeContext {
    /// The GPA bit that marks shared memory ([`VpInfo::shared_bit`]).
    pub shared_bit: u64,
    /// The instruction bytes at a RIP (up to 15) if it lies in the edition's own code, else
    /// `None`: MMIO is emulated only for the guest's own instructions.
    pub instruction_at: fn(u64) -> Option<&'static [u8]>,
}

static VE_CONTEXT: Once<VeContext> = Once::new();
static IN_VE: AtomicBool = AtomicBool::new(false);
static MMIO: Mutex<[Option<Region>; MAX_MMIO]> = Mutex::new([None; MAX_MMIO]);

/// From now on a #VE is handled ([`handle_ve`]); the first call wins.
pub fn init_ve(context: VeContext) {
    VE_CONTEXT.call_once(|| context);
}

/// Whether [`init_ve`] ran: the guest runs as a TD.
pub fn active() -> bool {
    VE_CONTEXT.is_completed()
}

/// Device registers at `window` (GPAs without the shared bit) may be reached through #VE MMIO
/// emulation from now on. The caller maps `window` with the shared bit: device registers are
/// host memory, and an access to a shared GPA the host does not back raises the #VE.
pub fn allow_mmio(window: Region) -> Result<(), &'static str> {
    let mut windows = MMIO.lock();
    let free = windows.iter_mut().find(|w| w.is_none()).ok_or("more MMIO windows than the #VE handler keeps")?;
    *free = Some(window);
    Ok(())
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
    /// The faulting instruction is not the guest's own code.
    Rip,
    /// An MMIO instruction the decoder does not handle.
    Mmio(MmioError),
    /// MMIO outside the windows allowed, or to a private GPA.
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
            Self::Rip => f.write_str("MMIO from code outside the guest's image"),
            Self::Mmio(e) => write!(f, "MMIO instruction not handled ({e:?})"),
            Self::MmioOutside(at) => write!(f, "MMIO at {at:#x}: outside the device windows"),
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
            Self::Rip => "TDX #VE refused: code outside the guest's image",
            Self::Mmio(_) => "TDX #VE refused: MMIO instruction not handled",
            Self::MmioOutside(_) => "TDX #VE refused: MMIO outside the device windows",
        }
    }
}

fn handle(frame: &mut ExceptionFrame, context: &VeContext) -> Result<(), Refused> {
    let mut r = Regs { rax: leaf::VP_VEINFO_GET, ..Regs::default() };
    tdcall(&mut r);
    tdx::status(r.rax).map_err(|e| Refused::VeInfo(TdxError::Tdcall(leaf::VP_VEINFO_GET, e)))?;
    let info = VeInfo::from_regs(r.rcx, r.rdx, r.r8, r.r9, r.r10);
    if info.exit_reason == exit_reason::EPT_VIOLATION {
        return handle_mmio(frame, &info, context);
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
/// bit and, without it, lie with the whole access inside one window [`allow_mmio`] was given.
fn handle_mmio(frame: &mut ExceptionFrame, info: &VeInfo, context: &VeContext) -> Result<(), Refused> {
    insn::emulate_mmio(frame, context.instruction_at, |insn, regs, _rip| {
        // Registered before the device is touched; held here only if a #VE interrupted
        // `allow_mmio` itself, which reaches no device: refused.
        let windows = MMIO.try_lock().ok_or(Refused::MmioOutside(info.gpa))?;
        windows
            .iter()
            .flatten()
            .find_map(|w| tdx::mmio_gpa(info.gpa, context.shared_bit, insn.size, w.start, w.end))
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

/// Serves a #VE (the edition's resumable-exception entry, on IST4): performs the instruction
/// and advances RIP past it, or says why not (the caller halts). A #VE before [`init_ve`] or
/// inside this handler ends the TD at once.
pub fn handle_ve(frame: &mut ExceptionFrame) -> Result<(), Refused> {
    let Some(context) = VE_CONTEXT.get() else { report_fatal(fatal::VE) };
    if IN_VE.swap(true, Ordering::Acquire) {
        // Inside the handler IST4 was reused: the frame below is gone.
        report_fatal(fatal::VE);
    }
    let outcome = handle(frame, context);
    IN_VE.store(false, Ordering::Release);
    outcome
}

/// The TSC rate assumed for GetQuote's timeout where CPUID leaf 0x15 is silent: a high one, so
/// the wait is at least [`QUOTE_TIMEOUT_S`] (longer on a slower TSC; still bounded).
const TSC_HZ_UPPER_BOUND: u64 = 10_000_000_000;

/// TDX quotes: a TDREPORT with the caller's REPORTDATA, turned into a quote by the host through
/// a shared buffer.
pub struct Quoter {
    /// The shared buffer (identity-mapped at these addresses, the shared bit in its mappings).
    buffer: Region,
    shared_bit: u64,
    /// TSC ticks per second (for GetQuote's timeout); an upper bound where CPUID does not say.
    tsc_hz: u64,
    /// An earlier GetQuote timed out: the host may still write its answer into the buffer.
    timed_out: bool,
}

impl Quoter {
    /// A quoter over `buffer`.
    ///
    /// # Safety
    /// `buffer` must be 8-aligned, identity-mapped writable with `shared_bit` in its mappings,
    /// converted to shared (MapGPA), and used by nothing else for as long as the quoter lives
    /// (the host may write it at any time once it has been given it).
    pub unsafe fn new(buffer: Region, shared_bit: u64) -> Self {
        let tsc_hz = tsc_frequency_hz().unwrap_or(TSC_HZ_UPPER_BOUND);
        Self { buffer, shared_bit, tsc_hz, timed_out: false }
    }

    /// A quote for `report_data`: TDREPORT, then GetQuote through the shared buffer.
    ///
    /// The host may answer late, after the wait below gave up: until the buffer's status
    /// leaves IN_FLIGHT it is the host's and no new request is written into it, and an answer
    /// is taken only if it is a quote of this `report_data`.
    pub fn quote(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, TdxError> {
        let status_at =
            core::ptr::with_exposed_provenance::<u64>(self.buffer.start as usize + tdx::quote_buffer::STATUS_OFFSET);
        if self.timed_out {
            // SAFETY: the status field of the shared buffer (8-aligned: `new`'s contract), which
            // the host writes.
            if unsafe { status_at.read_volatile() } == tdx::quote_buffer::IN_FLIGHT {
                return Err(TdxError::QuoteBufferHeld);
            }
            self.timed_out = false;
        }
        let report = tdreport(report_data)?;
        let len = self.buffer.size() as usize;
        let mut buf = alloc::vec![0u8; len];
        let request_len = tdx::quote_buffer::request(&report[..], &mut buf)
            .ok_or(TdxError::Quote(ResponseError::Length(report.len() as u64)))?;
        let shared = core::ptr::with_exposed_provenance_mut::<u8>(self.buffer.start as usize);
        // SAFETY: the shared buffer, ours alone (`new`'s contract); only the TDREPORT (MAC'd,
        // meant for the host's quoting service) goes there.
        unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), shared, request_len) };
        let call = Vmcall::get_quote(self.buffer.start | self.shared_bit, len as u64);
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
