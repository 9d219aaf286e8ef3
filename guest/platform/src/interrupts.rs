//! CPU tables and exceptions: a GDT with a TSS whose interrupt stacks the edition gives, an IDT
//! that sends all 256 vectors to the stubs in `exceptions.s`, and [`fcc_exception`], which prints
//! one diagnostic line per exception and stops — never a silent triple fault, never the
//! firmware's handlers.
//!
//! Double fault, NMI and machine check run on their own stacks (IST1-3), so a stack overflow
//! (which faults on the guard page below the ROM's stack) is still reported. The exceptions that
//! return are SEV-SNP's #VC and TDX's #VE (IST4): [`fcc_resumable_exception`] hands them to the
//! edition's handler (the ROM's platform layer), which emulates the instruction or says why not.

use core::sync::atomic::{AtomicBool, Ordering};

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::control::Cr2;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::structures::tss::TaskStateSegment;

use crate::frame::ExceptionFrame;
use crate::println;

// The stubs' section: ELF for the ROM (its linker script puts it first in .text), COFF for the
// UEFI application.
#[cfg(target_os = "none")]
core::arch::global_asm!(".pushsection .text.fcc_exception_stubs, \"ax\"", include_str!("exceptions.s"), ".popsection");
#[cfg(target_os = "uefi")]
core::arch::global_asm!(".pushsection .text$fcc_exception_stubs, \"xr\"", include_str!("exceptions.s"), ".popsection");

unsafe extern "C" {
    /// First of the 256 16-byte entry stubs in `exceptions.s`.
    static exception_stubs: u8;
}

/// The tops of the interrupt stacks (16-byte aligned, each used by its vectors alone).
#[derive(Debug, Clone, Copy)]
pub struct Stacks {
    /// IST1: double fault.
    pub double_fault: u64,
    /// IST2: NMI.
    pub nmi: u64,
    /// IST3: machine check.
    pub machine_check: u64,
    /// IST4: SEV-SNP's #VC and TDX's #VE (a platform has one of them).
    pub vc_ve: u64,
}

/// What the edition does about an exception.
#[derive(Debug, Clone, Copy)]
pub struct Handlers {
    /// #VC/#VE: true when the instruction was emulated (execution resumes after it); false
    /// after printing why not, and the exception is reported like any other.
    pub resumable: fn(&mut ExceptionFrame) -> bool,
    /// Whether diagnostics must carry no register or memory contents (a confidential guest).
    pub redacted: fn() -> bool,
    /// Stops the guest after a failure.
    pub stop: fn() -> !,
}

/// The `resumable` of a guest that never sees #VC or #VE: nothing is emulated.
pub fn nothing_resumes(_: &mut ExceptionFrame) -> bool {
    false
}

static HANDLERS: Once<Handlers> = Once::new();

/// Bytes between two entry stubs.
const STUB_SIZE: u64 = 16;

// Interrupt-stack indices as the `x86_64` crate counts them (0 = the TSS's IST1).
const IST_DOUBLE_FAULT: u16 = 0;
const IST_NMI: u16 = 1;
const IST_MACHINE_CHECK: u16 = 2;
const IST_VC_VE: usize = 3;

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();
static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Loads the GDT (with the TSS on `stacks`) and the IDT, and sets what the handlers do. Call
/// once, first thing on the boot CPU (the UEFI edition: after ExitBootServices).
///
/// # Safety
/// Each of `stacks` must be the top of writable memory used by nothing else, large enough for an
/// exception handler (the ROM gives 64 KiB each).
pub unsafe fn init(stacks: Stacks, handlers: Handlers) {
    HANDLERS.call_once(|| handlers);
    let tss = TSS.call_once(|| {
        let mut ist = [VirtAddr::zero(); 7];
        ist[usize::from(IST_DOUBLE_FAULT)] = VirtAddr::new(stacks.double_fault);
        ist[usize::from(IST_NMI)] = VirtAddr::new(stacks.nmi);
        ist[usize::from(IST_MACHINE_CHECK)] = VirtAddr::new(stacks.machine_check);
        ist[IST_VC_VE] = VirtAddr::new(stacks.vc_ve);
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table = ist;
        tss
    });
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (gdt, Selectors { code, data, tss })
    });
    gdt.load();
    // SAFETY: the selectors index the GDT just loaded, which lives for ever in a static: a
    // 64-bit code segment, a flat data segment and an available TSS whose stacks are the
    // caller's (this function's contract). Reloading them changes no memory the compiler knows
    // about.
    unsafe {
        CS::set_reg(selectors.code);
        DS::set_reg(selectors.data);
        ES::set_reg(selectors.data);
        SS::set_reg(selectors.data);
        load_tss(selectors.tss);
    }
    IDT.call_once(build_idt).load();
}

fn build_idt() -> InterruptDescriptorTable {
    let stubs = core::ptr::addr_of!(exception_stubs) as u64;
    let stub = |vector: u8| VirtAddr::new(stubs + u64::from(vector) * STUB_SIZE);
    let mut idt = InterruptDescriptorTable::new();
    // SAFETY: every address is the entry stub for that very vector in `exceptions.s`; the
    // stubs accept the CPU's frame with or without an error code as the vector dictates and never
    // return. The IST indices name stacks the TSS above provides, used by no other vector.
    unsafe {
        idt.divide_error.set_handler_addr(stub(0));
        idt.debug.set_handler_addr(stub(1));
        idt.non_maskable_interrupt.set_handler_addr(stub(2)).set_stack_index(IST_NMI);
        idt.breakpoint.set_handler_addr(stub(3));
        idt.overflow.set_handler_addr(stub(4));
        idt.bound_range_exceeded.set_handler_addr(stub(5));
        idt.invalid_opcode.set_handler_addr(stub(6));
        idt.device_not_available.set_handler_addr(stub(7));
        idt.double_fault.set_handler_addr(stub(8)).set_stack_index(IST_DOUBLE_FAULT);
        idt[9].set_handler_addr(stub(9)); // coprocessor segment overrun
        idt.invalid_tss.set_handler_addr(stub(10));
        idt.segment_not_present.set_handler_addr(stub(11));
        idt.stack_segment_fault.set_handler_addr(stub(12));
        idt.general_protection_fault.set_handler_addr(stub(13));
        idt.page_fault.set_handler_addr(stub(14));
        idt.x87_floating_point.set_handler_addr(stub(16));
        idt.alignment_check.set_handler_addr(stub(17));
        idt.machine_check.set_handler_addr(stub(18)).set_stack_index(IST_MACHINE_CHECK);
        idt.simd_floating_point.set_handler_addr(stub(19));
        // TDX #VE: resumable (`resumable_common`), on the same stack as #VC (one platform has one).
        idt.virtualization.set_handler_addr(stub(20)).set_stack_index(IST_VC_VE as u16);
        idt.cp_protection_exception.set_handler_addr(stub(21));
        idt.hv_injection_exception.set_handler_addr(stub(28));
        // SEV-SNP #VC: resumable (`resumable_common`), on its own stack.
        idt.vmm_communication_exception.set_handler_addr(stub(29)).set_stack_index(IST_VC_VE as u16);
        idt.security_exception.set_handler_addr(stub(30));
        for vector in 32..=255u8 {
            idt[vector].set_handler_addr(stub(vector));
        }
    }
    // Vectors 15, 22-27 and 31 are reserved: the crate keeps them not-present, so one that fires
    // becomes a #GP whose error code names it ((vector << 3) | 2).
    idt
}

/// The test fault `ud2` (`opt/fcc/test-fault`): raises #UD, which the exception path reports.
pub fn raise_invalid_opcode() -> ! {
    println!("test fault: ud2");
    // SAFETY: deliberately raises #UD; the exception handler reports it and stops, so nothing
    // after this runs.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack, noreturn)) }
}

/// The test fault `stack-overflow`: recurses until the stack runs into its guard page (a #PF the
/// CPU cannot push there, so a #DF on its own stack). Returns the depth only if it never faults.
pub fn overflow_stack() -> u64 {
    println!("test fault: stack overflow");
    recurse(0)
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    if core::hint::black_box(depth < u64::MAX) { recurse(depth + 1) + frame[7] } else { depth }
}

/// Architectural name of an exception vector.
fn name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        9 => "coprocessor segment overrun",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack-segment fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating point",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating point",
        20 => "#VE virtualization",
        21 => "#CP control protection",
        28 => "#HV hypervisor injection",
        29 => "#VC VMM communication",
        30 => "#SX security",
        32..=255 => "interrupt",
        _ => "reserved",
    }
}

/// Set by the first exception; a fault while reporting one halts without printing again.
static IN_EXCEPTION: AtomicBool = AtomicBool::new(false);

/// Stops through the edition's handler (halts if none was set).
fn stop() -> ! {
    match HANDLERS.get() {
        Some(h) => (h.stop)(),
        None => loop {
            x86_64::instructions::interrupts::disable();
            x86_64::instructions::hlt();
        },
    }
}

/// Called by `resumable_common` (`exceptions.s`) for #VC and #VE, on IST4: true when the edition
/// emulated the instruction (execution resumes after it); false after it printed why not — the
/// stub then reports the exception through [`fcc_exception`].
#[unsafe(no_mangle)]
extern "sysv64" fn fcc_resumable_exception(frame: &mut ExceptionFrame) -> bool {
    HANDLERS.get().is_some_and(|h| (h.resumable)(frame))
}

/// Called by `exception_common` for every vector (and by `resumable_common` for what the
/// edition refused): prints the diagnostic — only the vector where diagnostics are redacted —
/// and stops.
#[unsafe(no_mangle)]
extern "sysv64" fn fcc_exception(frame: &ExceptionFrame) -> ! {
    if IN_EXCEPTION.swap(true, Ordering::SeqCst) {
        stop();
    }
    let f = frame;
    // Unknown handlers (an exception before `init` finished): redacted, the safe side.
    if HANDLERS.get().is_none_or(|h| (h.redacted)()) {
        // The vector is the stub's own constant; everything else came from the interrupted code.
        println!("EXCEPTION vector={} name=\"{}\" (registers withheld)", f.vector, name(f.vector));
        stop();
    }
    println!(
        "EXCEPTION vector={} rip={:#x} error={:#x} name=\"{}\" cr2={:#x} rsp={:#x} rflags={:#x} cs={:#x}",
        f.vector,
        f.rip,
        f.error_code,
        name(f.vector),
        Cr2::read_raw(),
        f.rsp,
        f.rflags,
        f.cs,
    );
    println!(
        "  rax={:#x} rbx={:#x} rcx={:#x} rdx={:#x} rsi={:#x} rdi={:#x} rbp={:#x}",
        f.rax, f.rbx, f.rcx, f.rdx, f.rsi, f.rdi, f.rbp
    );
    println!(
        "  r8={:#x} r9={:#x} r10={:#x} r11={:#x} r12={:#x} r13={:#x} r14={:#x} r15={:#x} ss={:#x}",
        f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15, f.ss
    );
    stop()
}
