//! SEV-SNP at run time: the instructions and memory behind `fcc-cvm-abi`'s encoders and checks.
//! Only the platform layer (`platform/mod.rs`) calls this module; it prints nothing itself.
//!
//! The reset path (`boot/reset.s`) has already decided, without executing CPUID, whether this is
//! an SNP guest, and if so set the C-bit in the page tables (boot flag [`start::FLAG_SNP`]).
//! [`init`] runs next, before the console (port I/O raises #VC until the GHCB page exists):
//!
//! 1. SEV_STATUS must say SNP, without the features this kernel does not handle (vTOM,
//!    ReflectVC); the CPUID page must be well formed and its C-bit plausible and equal to the one
//!    the page tables use; the hypervisor (GHCB MSR protocol) must speak GHCB version 2, report
//!    the same C-bit and support SNP. Any failure ends the guest through the MSR protocol's
//!    termination request (reason set 0 or [`msr::reason::SET_FCC`] with an `FCC_*` code):
//!    there is no console yet to say more.
//! 2. The GHCB page (fcc-layout `GHCB_PAGES`, not pre-validated): C-bit cleared in its mapping,
//!    page-state change to shared, zeroed, registered; from then on the GHCB MSR holds its GPA.
//!
//! After that [`handle_vc`] serves #VC: CPUID from the CPUID page (never the hypervisor's word),
//! IN/OUT and RDMSR/WRMSR through the GHCB page, and MMIO (nested page fault) inside the PCI MMIO
//! window only (`MOV`/`MOVZX` to or from a device register, `fcc_cvm_abi::mmio`); any other #VC
//! (string I/O, MMIO elsewhere, other exits) is refused, and the exception path halts with the
//! reason. The console and the exit device bypass #VC through [`GhcbPorts`], so the handler's own
//! diagnostics never raise a nested #VC (IST4 is not re-entrant).
//!
//! Memory ([`validate_heap`], [`share_dma_region`]): the heap is made private and PVALIDATEd (the
//! launch pre-validated only `EARLY_RAM`); `SHARED_BUFFERS` is made shared with its C-bit
//! cleared. It was never validated, so it needs no PVALIDATE rescind, and it only ever holds
//! what `fcc_layout::shared` lists: virtqueues, bounce copies of network frames and encrypted
//! guest messages.
//!
//! Attestation ([`Attester`]): MSG_REPORT_REQ through SNP_GUEST_REQUEST, AES-256-GCM under
//! VMPCK0 (`fcc_cvm_abi::snp::msg::Channel`: a busy host gets the same request again, any other
//! failure wipes the key, sequence numbers never repeat). REPORT_DATA is whatever the core asks
//! for: its identity binding (`fcc_core::attester::Attester::attest`).

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use fcc_cvm_abi::mmio::MmioError;
use fcc_cvm_abi::snp::cpuid::{self, CpuidPage};
use fcc_cvm_abi::snp::ghcb::{self, Ghcb, offset};
use fcc_cvm_abi::snp::mmio;
use fcc_cvm_abi::snp::msr::reason::{FCC_CBIT, FCC_CPUID_PAGE, FCC_FEATURES, FCC_GHCB, FCC_NESTED_VC};
use fcc_cvm_abi::snp::psc::{self, PageSize, PageState, Progress, PscError};
use fcc_cvm_abi::snp::vc::{self, Insn};
use fcc_cvm_abi::snp::{self, SevStatus, SnpError, msr};
use fcc_guest_platform::frame::ExceptionFrame;
use fcc_guest_platform::insn::{MmioRefusal, emulate_mmio};
use fcc_guest_platform::port::PortIo;
use fcc_layout::shared::{SNP_REQUEST_PAGE, SNP_RESPONSE_PAGE};
use fcc_layout::{GHCB_PAGES, HEAP, LARGE_PAGE_SIZE, PAGE_SIZE, PCI_MMIO_WINDOW, Region, SHARED_BUFFERS};
use fcc_layout::{SNP_CPUID_PAGE, page_tables};
use spin::Once;

use crate::platform::insn;
use crate::start;

/// SEV_STATUS bit 3: virtual top of memory (the C-bit is not used; not supported here).
const SEV_STATUS_VTOM: u64 = 1 << 3;
/// SEV_STATUS bit 4: ReflectVC (#VC goes to a higher VMPL; not supported here).
const SEV_STATUS_REFLECT_VC: u64 = 1 << 4;
/// Hypervisor feature bit 0: SEV-SNP.
const HV_FEATURE_SNP: u64 = 1;

/// PVALIDATE's FAIL_SIZEMISMATCH: the RMP holds the range as 4 KiB pages.
const PVALIDATE_FAIL_SIZE_MISMATCH: u32 = 6;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static CBIT: AtomicU8 = AtomicU8::new(0);
static GHCB_BUSY: AtomicBool = AtomicBool::new(false);
static IN_VC: AtomicBool = AtomicBool::new(false);
static CPUID_PAGE: Once<CpuidPage<'static>> = Once::new();

/// The physical (= virtual) address of the boot CPU's GHCB page.
const GHCB_GPA: u64 = GHCB_PAGES.start;

/// What [`init`] found, for the boot log.
#[derive(Debug, Clone, Copy)]
pub struct Snp {
    /// SEV_STATUS.
    pub status: SevStatus,
    /// The checked C-bit position.
    pub cbit: u8,
    /// The hypervisor's GHCB protocol versions.
    pub ghcb_versions: (u16, u16),
    /// The hypervisor's feature bitmap.
    pub hv_features: u64,
}

/// Whether the kernel runs as an SEV-SNP guest with its GHCB registered.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: called only for SEV_STATUS and the GHCB MSR under SNP, where neither is
    // intercepted (no #VC) and reading has no side effect.
    unsafe { core::arch::asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    u64::from(hi) << 32 | u64::from(lo)
}

fn write_ghcb_msr(value: u64) {
    // SAFETY: the GHCB MSR is the guest's mailbox to the hypervisor under SEV-ES/SNP; writing it
    // is never intercepted and changes no guest memory.
    unsafe {
        core::arch::asm!("wrmsr", in("ecx") snp::MSR_GHCB, in("eax") value as u32, in("edx") (value >> 32) as u32,
            options(nomem, nostack));
    }
}

fn vmgexit() {
    // SAFETY: VMGEXIT (REP VMMCALL) hands control to the hypervisor, which reads the GHCB MSR /
    // shared GHCB page and resumes here. It may write the shared GHCB page: no `nomem`, so the
    // compiler neither caches nor reorders memory accesses across it.
    unsafe { core::arch::asm!(".byte 0xf3, 0x0f, 0x01, 0xd9", options(nostack)) };
}

/// One GHCB MSR protocol exchange (before the GHCB page is registered, and for termination).
fn msr_protocol(request: u64) -> u64 {
    write_ghcb_msr(request);
    vmgexit();
    rdmsr(snp::MSR_GHCB)
}

/// Asks the hypervisor to end the guest; halts if it does not.
pub fn terminate(set: u8, reason: u8) -> ! {
    write_ghcb_msr(msr::terminate_request(set, reason));
    vmgexit();
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

fn terminate_fcc(reason: u8) -> ! {
    terminate(msr::reason::SET_FCC, reason)
}

/// Ends the guest after a failure the console has reported (the MSR protocol's termination
/// request, fcc reason [`msr::reason::FCC_FAILURE`]).
pub fn fail() -> ! {
    terminate_fcc(msr::reason::FCC_FAILURE)
}

/// The page-table entry (first 2 MiB: the 4 KiB table) or 2 MiB directory entry mapping `addr`.
fn entry_for(addr: u64, size: PageSize) -> *mut u64 {
    let at = match size {
        PageSize::Small => {
            assert!(addr < LARGE_PAGE_SIZE, "only the first 2 MiB are mapped with 4 KiB pages");
            page_tables::PT_LOW + (addr / PAGE_SIZE) * 8
        }
        PageSize::Large => page_tables::PD + (addr / LARGE_PAGE_SIZE) * 8,
    };
    core::ptr::with_exposed_provenance_mut(at as usize)
}

/// Clears the C-bit in the mapping of `region` (page-aligned to `size`): the host sees it as
/// shared memory from then on (after the page-state change).
fn clear_cbit(region: Region, size: PageSize) {
    let step = match size {
        PageSize::Small => PAGE_SIZE,
        PageSize::Large => LARGE_PAGE_SIZE,
    };
    let mask = 1u64 << CBIT.load(Ordering::Relaxed);
    let mut addr = region.start;
    while addr < region.end {
        let entry = entry_for(addr, size);
        // SAFETY: `entry` is the boot page tables' leaf entry for `addr` (fcc-layout, identity-
        // mapped, writable, private); `region` is one the kernel hands to the host and nothing
        // private lives in it, so dropping its encryption exposes nothing.
        unsafe { entry.write_volatile(entry.read_volatile() & !mask) };
        addr += step;
    }
    x86_64::instructions::tlb::flush_all();
}

/// Validates (or rescinds) the page at `vaddr`; `Err(code)` on failure, code 255 when the RMP
/// was not updated (already in that state: refused, as a double validation could let the
/// hypervisor swap pages).
fn pvalidate(vaddr: u64, size: PageSize, validate: bool) -> Result<(), u32> {
    let rc: u64;
    let unchanged: u8;
    // SAFETY: PVALIDATE only changes the RMP's Validated bit of the page mapped at `vaddr`
    // (identity-mapped RAM with the C-bit set); no memory the compiler knows changes. It can
    // fault only on a bad address, which the callers' regions (fcc-layout) are not.
    unsafe {
        core::arch::asm!(
            ".byte 0xf2, 0x0f, 0x01, 0xff", // PVALIDATE
            "setc {cf}",
            cf = out(reg_byte) unchanged,
            inout("rax") vaddr => rc,
            in("rcx") u64::from(size == PageSize::Large),
            in("rdx") u64::from(validate),
            options(nostack),
        );
    }
    match (rc as u32, unchanged) {
        (0, 0) => Ok(()),
        (0, _) => Err(255),
        (code, _) => Err(code),
    }
}

/// One VMGEXIT through the GHCB page: copies `request` in, exits, returns the page as the hypervisor
/// left it (a private copy: nothing is read twice from shared memory).
// Out of line: called from the console, the exit device and the #VC handler (ROM space).
#[inline(never)]
fn ghcb_call(request: &Ghcb) -> Ghcb {
    if GHCB_BUSY.swap(true, Ordering::Acquire) {
        // Only a #VC in the middle of a call could get here, and a call raises none.
        terminate_fcc(FCC_NESTED_VC);
    }
    let page = core::ptr::with_exposed_provenance_mut::<u8>(GHCB_GPA as usize);
    let mut answer = [0u8; 4096];
    // SAFETY: the GHCB page is the 4 KiB page at GHCB_GPA (fcc-layout), mapped shared and used
    // by nothing else (GHCB_BUSY); the hypervisor writes it only during VMGEXIT, whose `asm!`
    // clobbers memory, so these plain copies are neither elided nor moved across it.
    unsafe { core::ptr::copy_nonoverlapping(request.as_bytes().as_ptr(), page, 4096) };
    write_ghcb_msr(GHCB_GPA);
    vmgexit();
    // SAFETY: as above.
    unsafe { core::ptr::copy_nonoverlapping(page, answer.as_mut_ptr(), 4096) };
    let answer = Ghcb::from_bytes(&answer);
    GHCB_BUSY.store(false, Ordering::Release);
    answer
}

/// Fatal setup failure before the console exists: terminate with a reason the host can log.
fn fail_early(e: SnpError) -> ! {
    match e {
        SnpError::ImplausibleCbit(_) | SnpError::CbitDisagrees { .. } => terminate_fcc(FCC_CBIT),
        SnpError::CpuidPage | SnpError::CpuidLeafMissing(_) => terminate_fcc(FCC_CPUID_PAGE),
        SnpError::GhcbVersion { .. } => terminate(msr::reason::SET_GENERAL, msr::reason::GHCB_VERSION),
        _ => terminate_fcc(FCC_GHCB),
    }
}

/// SNP detection and the GHCB (see the module documentation). Call right after the IDT is
/// loaded and before the first port I/O. `None`: not an SNP guest (nothing was done).
pub fn init(boot_flags: u64) -> Option<Snp> {
    let table_cbit = start::snp_cbit(boot_flags)?;
    let status = SevStatus(rdmsr(snp::MSR_SEV_STATUS));
    if !status.is_snp_guest() {
        terminate(msr::reason::SET_GENERAL, msr::reason::SNP_UNSUPPORTED);
    }
    if status.0 & (SEV_STATUS_VTOM | SEV_STATUS_REFLECT_VC) != 0 {
        terminate_fcc(FCC_FEATURES);
    }
    let bytes = core::ptr::with_exposed_provenance::<u8>(SNP_CPUID_PAGE.start as usize);
    // SAFETY: the CPUID page (fcc-layout SNP_CPUID_PAGE) is private memory the launch installed
    // and validated; nothing writes it afterwards (the guest never does, the host cannot), so a
    // shared 'static view of its bytes is sound.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(bytes, cpuid::TABLE_LEN) };
    let page = CpuidPage::new(bytes).unwrap_or_else(|e| fail_early(e));
    let cbit = page.cbit().unwrap_or_else(|e| fail_early(e));
    if cbit != table_cbit {
        terminate_fcc(FCC_CBIT);
    }
    let info = msr::sev_info_response(msr_protocol(msr::sev_info_request())).unwrap_or_else(|e| fail_early(e));
    snp::check_cbit(cbit, Some(info.cbit)).unwrap_or_else(|e| fail_early(e));
    let hv_features =
        msr::hv_features_response(msr_protocol(msr::hv_features_request())).unwrap_or_else(|e| fail_early(e));
    if hv_features & HV_FEATURE_SNP == 0 {
        terminate(msr::reason::SET_GENERAL, msr::reason::SNP_UNSUPPORTED);
    }
    CBIT.store(cbit, Ordering::Relaxed);
    CPUID_PAGE.call_once(|| page);

    // The GHCB page: shared, zeroed, registered.
    let ghcb = Region::new(GHCB_GPA, PAGE_SIZE);
    clear_cbit(ghcb, PageSize::Small);
    let gfn = GHCB_GPA / PAGE_SIZE;
    msr::psc_response(msr_protocol(msr::psc_request(gfn, PageState::Shared))).unwrap_or_else(|e| fail_early(e));
    let page = core::ptr::with_exposed_provenance_mut::<u8>(GHCB_GPA as usize);
    // SAFETY: the GHCB page, now mapped shared, belongs to this module alone.
    unsafe { page.write_bytes(0, PAGE_SIZE as usize) };
    msr::register_ghcb_response(msr_protocol(msr::register_ghcb_request(gfn)), gfn).unwrap_or_else(|e| fail_early(e));
    write_ghcb_msr(GHCB_GPA);
    ACTIVE.store(true, Ordering::Release);
    Some(Snp { status, cbit, ghcb_versions: (info.min_version, info.max_version), hv_features })
}

/// Port I/O straight through the GHCB, without a #VC (the console and the exit device, which
/// the #VC handler's own diagnostics use).
#[derive(Debug)]
pub struct GhcbPorts;

impl PortIo for GhcbPorts {
    // Out of line: called from the console, the exit device and the #VC handler (ROM space).
    #[inline(never)]
    fn read(&self, port: u16, size: u8) -> Option<u32> {
        let insn = Insn::Io { port: None, size, input: true };
        let mut regs = vc::Regs { rdx: u64::from(port), ..vc::Regs::default() };
        let answer = ghcb_call(&vc::request(insn, &regs).ok()?);
        vc::apply(insn, &answer, &mut regs).ok()?;
        Some(regs.rax as u32)
    }

    #[inline(never)]
    fn write(&self, port: u16, size: u8, value: u32) -> bool {
        let insn = Insn::Io { port: None, size, input: false };
        let mut regs = vc::Regs { rax: u64::from(value), rdx: u64::from(port), ..vc::Regs::default() };
        let Ok(request) = vc::request(insn, &regs) else { return false };
        vc::apply(insn, &ghcb_call(&request), &mut regs).is_ok()
    }
}

/// A page-state change of `region` (2 MiB-aligned) through the GHCB page, 2 MiB entries. Every
/// answer is checked by `psc::answer` (both exit infos in full, the header's progress).
fn page_state_change(region: Region, state: PageState) -> Result<(), SnpError> {
    let mut first = region.start;
    while first < region.end {
        let pages = (((region.end - first) / LARGE_PAGE_SIZE) as usize).min(psc::MAX_ENTRIES);
        let mut request = Ghcb::new();
        request.set_exit(ghcb::exit::SNP_PSC, 0, 0);
        request.set(offset::SW_SCRATCH, GHCB_GPA + offset::SHARED_BUFFER as u64);
        psc::encode_sized(first / PAGE_SIZE, pages, state, PageSize::Large, request.shared_buffer_mut())
            .ok_or(SnpError::PageStateChange(PscError::Request))?;
        let end = (pages - 1) as u16;
        let mut cur = 0u16;
        // Each round moves `cur_entry` forward or fails, so this ends within `pages` rounds.
        loop {
            psc::set_cur_entry(request.shared_buffer_mut(), cur);
            let mut answer = ghcb_call(&request);
            let (info1, info2) = (answer.exit_info_1(), answer.exit_info_2());
            match psc::answer(info1, info2, answer.shared_buffer_mut(), cur, end) {
                Ok(Progress::Done) => break,
                Ok(Progress::Resume(next)) => cur = next,
                Err(e) => return Err(SnpError::PageStateChange(e)),
            }
        }
        first += pages as u64 * LARGE_PAGE_SIZE;
    }
    Ok(())
}

/// Why the heap could not be made private.
#[derive(Debug)]
pub enum MemoryError {
    /// The hypervisor refused or garbled the page-state change.
    PageState(SnpError),
    /// PVALIDATE failed at this address with this code.
    Validate(u64, u32),
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PageState(e) => write!(f, "page-state change refused: {e:?}"),
            Self::Validate(at, 255) => write!(f, "PVALIDATE {at:#x}: already validated (refused)"),
            Self::Validate(at, code) => write!(f, "PVALIDATE {at:#x} failed with code {code}"),
        }
    }
}

/// Makes the heap private and validates it (2 MiB pages where the RMP has them, else 4 KiB).
/// Nothing to do outside SNP. Call before the heap is used.
pub fn validate_heap() -> Result<(), MemoryError> {
    if !active() {
        return Ok(());
    }
    page_state_change(HEAP, PageState::Private).map_err(MemoryError::PageState)?;
    let mut at = HEAP.start;
    while at < HEAP.end {
        match pvalidate(at, PageSize::Large, true) {
            Ok(()) => {}
            Err(PVALIDATE_FAIL_SIZE_MISMATCH) => {
                for small in (at..at + LARGE_PAGE_SIZE).step_by(PAGE_SIZE as usize) {
                    pvalidate(small, PageSize::Small, true).map_err(|code| MemoryError::Validate(small, code))?;
                }
            }
            Err(code) => return Err(MemoryError::Validate(at, code)),
        }
        at += LARGE_PAGE_SIZE;
    }
    Ok(())
}

/// Makes `SHARED_BUFFERS` shared: C-bit cleared in its 2 MiB mappings, then the page-state
/// change. Nothing to do outside SNP.
pub fn share_dma_region() -> Result<(), MemoryError> {
    if !active() {
        return Ok(());
    }
    clear_cbit(SHARED_BUFFERS, PageSize::Large);
    page_state_change(SHARED_BUFFERS, PageState::Shared).map_err(MemoryError::PageState)?;
    DMA_SHARED.store(true, Ordering::Release);
    Ok(())
}

const _: () = {
    assert!(SHARED_BUFFERS.is_aligned(LARGE_PAGE_SIZE) && HEAP.is_aligned(LARGE_PAGE_SIZE));
    assert!(GHCB_GPA.is_multiple_of(PAGE_SIZE) && GHCB_GPA + PAGE_SIZE <= LARGE_PAGE_SIZE);
    // The private mappings reset.s gives the C-bit: the first GiB.
    assert!(HEAP.end <= fcc_layout::GIB);
};

/// Why a #VC was not handled.
#[derive(Debug)]
pub enum Refused {
    /// No CPUID page (cannot happen once `init` ran).
    NotSnp,
    /// The faulting instruction is not in the kernel image.
    Rip,
    /// An instruction or exit the handler does not emulate.
    Decode(vc::VcError),
    /// The hypervisor's answer was refused.
    Forward(vc::ForwardError),
    /// An MMIO instruction the decoder does not handle.
    Mmio(MmioError),
    /// MMIO outside the PCI MMIO window.
    MmioOutside(u64),
    /// The hypervisor refused the MMIO access.
    MmioExit(ghcb::ExitResult),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SEV-SNP ")?;
        match self {
            Self::NotSnp => f.write_str("#VC without an SEV-SNP GHCB"),
            Self::Rip => f.write_str("#VC from code outside the kernel image"),
            Self::Decode(vc::VcError::UnsupportedExit(code)) => write!(f, "#VC for exit code {code:#x}: not handled"),
            Self::Decode(e) => write!(f, "#VC: instruction not handled ({e:?})"),
            Self::Forward(e) => write!(f, "#VC: the hypervisor's answer was refused ({e:?})"),
            Self::Mmio(e) => write!(f, "#VC MMIO: instruction not handled ({e:?})"),
            Self::MmioOutside(at) => write!(f, "#VC MMIO at {at:#x}: outside the PCI MMIO window"),
            Self::MmioExit(e) => write!(f, "#VC MMIO: the hypervisor refused ({e:?})"),
        }
    }
}

impl Refused {
    /// What was refused, without anything read from registers or memory (for a confidential
    /// guest's console).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotSnp => "SEV-SNP #VC refused: no GHCB",
            Self::Rip => "SEV-SNP #VC refused: code outside the kernel image",
            Self::Decode(_) => "SEV-SNP #VC refused: instruction or exit not handled",
            Self::Forward(_) => "SEV-SNP #VC refused: the hypervisor's answer",
            Self::Mmio(_) => "SEV-SNP #VC refused: MMIO instruction not handled",
            Self::MmioOutside(_) => "SEV-SNP #VC refused: MMIO outside the PCI MMIO window",
            Self::MmioExit(_) => "SEV-SNP #VC refused: the hypervisor refused the MMIO access",
        }
    }
}

fn handle(frame: &mut ExceptionFrame) -> Result<(), Refused> {
    if !active() {
        return Err(Refused::NotSnp);
    }
    if frame.error_code == ghcb::exit::NPF {
        return handle_mmio(frame);
    }
    let bytes = insn::instruction_at(frame.rip).ok_or(Refused::Rip)?;
    let decoded = vc::decode(frame.error_code, bytes).map_err(Refused::Decode)?;
    let mut regs = vc::Regs { rax: frame.rax, rbx: frame.rbx, rcx: frame.rcx, rdx: frame.rdx };
    match decoded.insn {
        Insn::Cpuid => {
            let page = CPUID_PAGE.get().ok_or(Refused::NotSnp)?;
            let c = page.emulate(regs.rax as u32, regs.rcx as u32);
            regs = vc::Regs { rax: c.eax.into(), rbx: c.ebx.into(), rcx: c.ecx.into(), rdx: c.edx.into() };
        }
        insn => {
            let request = vc::request(insn, &regs).map_err(Refused::Forward)?;
            vc::apply(insn, &ghcb_call(&request), &mut regs).map_err(Refused::Forward)?;
        }
    }
    (frame.rax, frame.rbx, frame.rcx, frame.rdx) = (regs.rax, regs.rbx, regs.rcx, regs.rdx);
    frame.rip += decoded.len as u64;
    Ok(())
}

/// A device-register access in the PCI MMIO window (identity-mapped and shared, so the virtual
/// address is the GPA); the whole access must lie inside the window.
fn handle_mmio(frame: &mut ExceptionFrame) -> Result<(), Refused> {
    emulate_mmio(frame, insn::instruction_at, |insn, regs, rip| {
        let at = insn.effective_address(regs, rip);
        let access = Region { start: at, end: at.wrapping_add(u64::from(insn.size)) };
        if access.end < access.start || !PCI_MMIO_WINDOW.contains_region(&access) {
            return Err(Refused::MmioOutside(at));
        }
        let scratch = GHCB_GPA + offset::SHARED_BUFFER as u64;
        let mut answer = ghcb_call(&mmio::request(insn, at, regs, scratch));
        mmio::read_value(insn, &mut answer).map_err(Refused::MmioExit)
    })
    .map_err(|e| match e {
        MmioRefusal::Rip => Refused::Rip,
        MmioRefusal::Decode(e) => Refused::Mmio(e),
        MmioRefusal::Access(e) => e,
    })
}

/// Serves a #VC (the platform layer's resumable-exception entry, on IST4): performs the
/// instruction and advances RIP past it, or says why not (the caller halts). A #VC outside an
/// SNP guest, or inside this handler, ends the guest at once.
pub fn handle_vc(frame: &mut ExceptionFrame) -> Result<(), Refused> {
    if !active() {
        // Only SEV-ES/SNP hardware raises #VC, and without a GHCB even the diagnostic's port I/O
        // would raise another one.
        terminate_fcc(FCC_GHCB);
    }
    if IN_VC.swap(true, Ordering::Acquire) {
        // A #VC raised by this handler reused IST4 and overwrote the outer frame: nothing can be
        // resumed or trusted, and printing could raise a third.
        terminate_fcc(FCC_NESTED_VC);
    }
    let outcome = handle(frame);
    IN_VC.store(false, Ordering::Release);
    outcome
}

/// Offset of VMPCK0 in the secrets page (SEV-SNP firmware ABI, secrets page layout).
const SECRETS_VMPCK0: u64 = 0x20;
/// A busy host (VMM status BUSY: it throttles guest requests) is asked again this often…
const GUEST_REQUEST_RETRY_S: u64 = 2;
/// …until this long has passed since the first try (Linux's sev-guest driver: the same).
const GUEST_REQUEST_TIMEOUT_S: u64 = 60;
/// The TSC rate assumed for those waits where the PIT gives none: a high one, so the waits are
/// at least as long as said (longer on a slower TSC; still bounded).
const TSC_HZ_UPPER_BOUND: u64 = 10_000_000_000;

static ATTESTER_TAKEN: AtomicBool = AtomicBool::new(false);
static DMA_SHARED: AtomicBool = AtomicBool::new(false);

/// Why an attestation report could not be had.
#[derive(Debug)]
pub enum AttestError {
    /// The request pages are not shared yet (`share_dma_region` has not run).
    NotShared,
    /// Sealing, opening or the report's status (the channel wipes VMPCK0 where the message
    /// layer requires).
    Message(fcc_cvm_abi::snp::msg::MsgError),
    /// SW_EXITINFO1 says the VMGEXIT itself failed (both exit infos); VMPCK0 is wiped.
    Exit {
        /// SW_EXITINFO1.
        info1: u64,
        /// SW_EXITINFO2.
        info2: u64,
    },
    /// The host or the firmware failed; VMPCK0 is wiped.
    Failed {
        /// The host's code.
        vmm: u32,
        /// The firmware's code.
        firmware: u32,
    },
    /// The host stayed busy for [`GUEST_REQUEST_TIMEOUT_S`]; VMPCK0 is wiped (the host may
    /// have passed the message on after all, so its sequence number cannot be reused).
    Busy {
        /// Requests sent.
        tries: u32,
        /// SW_EXITINFO2 of the last answer.
        info2: u64,
    },
}

impl fmt::Display for AttestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotShared => f.write_str("the guest-request pages are not shared yet"),
            Self::Message(e) => write!(f, "guest message refused: {e:?}"),
            Self::Exit { info1, info2 } => {
                write!(f, "SNP_GUEST_REQUEST exit failed: SW_EXITINFO1 {info1:#x}, SW_EXITINFO2 {info2:#x}")
            }
            Self::Failed { vmm, firmware } => {
                write!(f, "SNP_GUEST_REQUEST failed: host {vmm:#x}, firmware {firmware:#x}")
            }
            Self::Busy { tries, info2 } => write!(
                f,
                "the host stayed busy for {GUEST_REQUEST_TIMEOUT_S} s ({tries} requests, last SW_EXITINFO2 {info2:#x})"
            ),
        }
    }
}

/// SEV-SNP attestation reports through SNP_GUEST_REQUEST (MSG_REPORT_REQ under VMPCK0).
pub struct Attester {
    channel: fcc_cvm_abi::snp::msg::Channel,
}

/// The attester, once, under SNP: VMPCK0 moves from the secrets page into it (the page's copy
/// is zeroed, so a wiped channel leaves the key nowhere).
pub fn attester() -> Option<Attester> {
    if !active() || ATTESTER_TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    let key_at = core::ptr::with_exposed_provenance_mut::<[u8; 32]>(
        (fcc_layout::SNP_SECRETS_PAGE.start + SECRETS_VMPCK0) as usize,
    );
    // SAFETY: the secrets page (fcc-layout SNP_SECRETS_PAGE) is private memory the launch
    // installed and validated, identity-mapped writable with the C-bit; VMPCK0 is 32 bytes at
    // offset 0x20, read once here (ATTESTER_TAKEN) and then zeroed.
    let key = unsafe {
        let key = key_at.read_volatile();
        key_at.write_volatile([0; 32]);
        key
    };
    Some(Attester { channel: fcc_cvm_abi::snp::msg::Channel::new(key, 0, 0) })
}

impl Attester {
    /// An attestation report (1184 bytes) with `report_data`, at VMPL 0.
    pub fn report(&mut self, report_data: &[u8; 64]) -> Result<alloc::vec::Vec<u8>, AttestError> {
        use fcc_cvm_abi::snp::msg::{self, MsgType};
        let mut page = self.request(MsgType::ReportReq, &msg::report_request(report_data, 0))?;
        let report = msg::report_response(&page.1[..page.0]).map_err(AttestError::Message)?;
        let out = report.to_vec();
        page.1.fill(0);
        Ok(out)
    }

    /// The launch MEASUREMENT from a report of this guest (MSG_REPORT_REQ with zero REPORT_DATA,
    /// encrypted under VMPCK0: the host can neither read nor change it).
    pub fn measurement(&mut self) -> Result<[u8; 48], AttestError> {
        let report = self.report(&[0; 64])?;
        let view = fcc_cvm_abi::snp::report::Report::new_checked(&report[..])
            .map_err(|_| AttestError::Message(fcc_cvm_abi::snp::msg::MsgError::Truncated))?;
        Ok(*view.measurement())
    }

    /// COMMITTED_TCB from a report of this guest (MSG_REPORT_REQ with zero REPORT_DATA; the
    /// report comes back encrypted under VMPCK0, so the host can neither read nor change it).
    pub fn committed_tcb(&mut self) -> Result<[u8; 8], AttestError> {
        let report = self.report(&[0; 64])?;
        let view = fcc_cvm_abi::snp::report::Report::new_checked(&report[..])
            .map_err(|_| AttestError::Message(fcc_cvm_abi::snp::msg::MsgError::Truncated))?;
        Ok(*view.committed_tcb())
    }

    /// The sealing root key at `tcb`: MSG_KEY_REQ derived from the VCEK and bound to the launch
    /// measurement, the guest policy and the TCB version `tcb` (so only this image, launched
    /// with this policy on this chip under firmware committed to at least `tcb`, derives it),
    /// at VMPL 0 and guest SVN 0. The firmware refuses a `tcb` above COMMITTED_TCB (status
    /// INVALID_PARAM in the answer, which leaves VMPCK0 in place).
    pub fn sealing_root(&mut self, tcb: [u8; 8]) -> Result<zeroize::Zeroizing<[u8; 32]>, AttestError> {
        use fcc_cvm_abi::snp::msg::{self, MsgType, field};
        let select = field::MEASUREMENT | field::POLICY | field::TCB_VERSION;
        let request = msg::key_request(select, 0, 0, u64::from_le_bytes(tcb));
        let mut page = self.request(MsgType::KeyReq, &request)?;
        let key = msg::key_response(&page.1[..page.0]).map(zeroize::Zeroizing::new);
        // The derived key is secret: the private copy of the response goes as soon as it is read.
        page.1.fill(0);
        key.map_err(AttestError::Message)
    }

    /// One SNP_GUEST_REQUEST: seals `payload` as `msg_type`, asks the host (again while busy)
    /// and opens the response in private memory. Returns the plaintext payload's length and the
    /// page whose start holds it (the caller wipes secrets from it).
    fn request(
        &mut self,
        msg_type: fcc_cvm_abi::snp::msg::MsgType,
        payload: &[u8],
    ) -> Result<(usize, alloc::boxed::Box<[u8; 4096]>), AttestError> {
        if !DMA_SHARED.load(Ordering::Acquire) {
            return Err(AttestError::NotShared);
        }
        let mut page = alloc::boxed::Box::new([0u8; 4096]);
        let (_, seqno) = self.channel.seal(msg_type, payload, &mut page[..]).map_err(AttestError::Message)?;
        let request_page = core::ptr::with_exposed_provenance_mut::<u8>(SNP_REQUEST_PAGE as usize);
        let response_page = core::ptr::with_exposed_provenance_mut::<u8>(SNP_RESPONSE_PAGE as usize);
        // SAFETY: both pages are fcc_layout::shared::SNP_GUEST_REQUEST, inside SHARED_BUFFERS,
        // shared (DMA_SHARED) and used by nothing else (the layout's parts are disjoint); the
        // request page gets only the sealed message.
        unsafe {
            core::ptr::copy_nonoverlapping(page.as_ptr(), request_page, 4096);
            response_page.write_bytes(0, 4096);
        }
        let mut g = Ghcb::new();
        g.set_exit(ghcb::exit::SNP_GUEST_REQUEST, SNP_REQUEST_PAGE, SNP_RESPONSE_PAGE);
        let hz = fcc_guest_platform::tsc::pit_frequency_hz().unwrap_or(TSC_HZ_UPPER_BOUND);
        let start = fcc_guest_platform::tsc::now();
        let mut tries = 0u32;
        loop {
            let answer = ghcb_call(&g);
            tries += 1;
            let (info1, info2) = (answer.exit_info_1(), answer.exit_info_2());
            if info1 != 0 {
                self.channel.abandon();
                return Err(AttestError::Exit { info1, info2 });
            }
            match ghcb::guest_request_status(info2) {
                ghcb::GuestRequestStatus::Done => break,
                // The same request (same sequence number) again later: the firmware has not
                // seen it.
                ghcb::GuestRequestStatus::Busy => {
                    let waited = fcc_guest_platform::tsc::now().wrapping_sub(start);
                    if waited >= GUEST_REQUEST_TIMEOUT_S.saturating_mul(hz) {
                        self.channel.abandon();
                        return Err(AttestError::Busy { tries, info2 });
                    }
                    let resend = fcc_guest_platform::tsc::now().wrapping_add(GUEST_REQUEST_RETRY_S.saturating_mul(hz));
                    while fcc_guest_platform::tsc::now() < resend {
                        core::hint::spin_loop();
                    }
                }
                ghcb::GuestRequestStatus::Failed { vmm, firmware } => {
                    self.channel.abandon();
                    return Err(AttestError::Failed { vmm, firmware });
                }
            }
        }
        // SAFETY: as above; the response is copied once into private memory and checked there.
        unsafe { core::ptr::copy_nonoverlapping(response_page, page.as_mut_ptr(), 4096) };
        let len = self.channel.open(msg_type, seqno, &mut page[..]).map_err(AttestError::Message)?.len();
        // The plaintext sits after the header; move it to the start so the caller needs no
        // knowledge of the message layout.
        let header = fcc_cvm_abi::snp::msg::HEADER_LEN;
        page.copy_within(header..header + len, 0);
        page[len..].fill(0);
        Ok((len, page))
    }
}
