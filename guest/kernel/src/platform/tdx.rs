//! Intel TDX in the ROM: its fixed layout around `fcc_guest_platform::tdx`, which both editions
//! share (TDCALL, the #VE handler, memory, TDREPORT and GetQuote). Only the platform layer
//! (`platform/mod.rs`) calls this module; it prints nothing itself.
//!
//! The reset path (`boot/reset.s`) started in 32-bit protected mode (boot flag
//! [`start::FLAG_PROTECTED_MODE`]): only a TD starts there. [`init`] runs right after the IDT is
//! loaded and before the console (port I/O raises #VE):
//!
//! 1. CPUID leaf 0x21 must say "IntelTDX    " (the TDX module answers that leaf itself, the
//!    host cannot); TDG.VP.INFO gives the GPA width, hence the shared bit (47 or 51).
//! 2. The PCI MMIO window gets the shared bit in its page-directory entries: device registers
//!    are host memory, and an access to a shared GPA the host does not back raises the #VE that
//!    the shared handler turns into `#VE.RequestMMIO` (from code in the ROM only).
//!
//! Any failure before the console ends the TD through TDG.VP.VMCALL<ReportFatalError> with an
//! fcc code and a 16-byte message (QEMU reports a guest panic with both) and spins.
//!
//! Memory: the launch added only the TDVF `TEMP_MEM` (fcc-layout `EARLY_RAM`) and `TD_HOB`
//! sections; [`accept_heap`] accepts the heap, and [`share_dma_region`] converts
//! `SHARED_BUFFERS` to shared (shared bit in its mappings, then TDG.VP.VMCALL<MapGPA>). It was
//! never accepted, so nothing private is given away.
//!
//! Attestation ([`attester`]): quotes through `fcc_layout::shared::TDX_QUOTE`.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fcc_cvm_abi::tdx::VpInfo;
use fcc_guest_platform::tdx::{self, Quoter, TdxError, VeContext, fatal};
use fcc_layout::shared::TDX_QUOTE;
use fcc_layout::{HEAP, LARGE_PAGE_SIZE, PCI_MMIO_WINDOW, Region, SHARED_BUFFERS, page_tables};

use crate::platform::insn;
use crate::start;

static SHARED_BIT: AtomicU64 = AtomicU64::new(0);
static DMA_SHARED: AtomicBool = AtomicBool::new(false);
static ATTESTER_TAKEN: AtomicBool = AtomicBool::new(false);

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

/// TDX detection, TDG.VP.INFO, the #VE handler and the shared MMIO window (see the module
/// documentation). Call right after the IDT is loaded, before the first port I/O. `None`: not
/// a TD (nothing done).
pub fn init(boot_flags: u64) -> Option<VpInfo> {
    if boot_flags & start::FLAG_PROTECTED_MODE == 0 {
        return None;
    }
    if !tdx::is_td() {
        tdx::report_fatal(fatal::NOT_TD);
    }
    let info = tdx::vp_info().unwrap_or_else(|_| tdx::report_fatal(fatal::VP_INFO));
    if info.vcpu_index != 0 {
        tdx::report_fatal(fatal::NOT_VCPU0);
    }
    let Some(bit) = info.shared_bit() else { tdx::report_fatal(fatal::VP_INFO) };
    SHARED_BIT.store(bit, Ordering::Relaxed);
    set_shared_bit(PCI_MMIO_WINDOW);
    if tdx::allow_mmio(PCI_MMIO_WINDOW).is_err() {
        tdx::report_fatal(fatal::FAILURE);
    }
    tdx::init_ve(VeContext { shared_bit: bit, instruction_at: insn::instruction_at });
    Some(info)
}

/// Accepts the heap (2 MiB pages, 4 KiB where the host mapped it so). Nothing to do outside
/// TDX. Call before the heap is used.
pub fn accept_heap() -> Result<(), TdxError> {
    if !tdx::active() {
        return Ok(());
    }
    tdx::accept(HEAP)
}

/// Makes `SHARED_BUFFERS` shared: the shared bit in its mappings, then MapGPA. Nothing to do
/// outside TDX.
pub fn share_dma_region() -> Result<(), TdxError> {
    if !tdx::active() {
        return Ok(());
    }
    set_shared_bit(SHARED_BUFFERS);
    tdx::map_gpa(SHARED_BUFFERS, SHARED_BIT.load(Ordering::Relaxed))?;
    DMA_SHARED.store(true, Ordering::Release);
    Ok(())
}

/// The quoter over `TDX_QUOTE`, once, in a TD whose shared region is shared.
pub fn attester() -> Option<Quoter> {
    let ready = tdx::active() && DMA_SHARED.load(Ordering::Acquire);
    // SAFETY: TDX_QUOTE is part of SHARED_BUFFERS (fcc_layout::shared), page-aligned, mapped
    // with the shared bit and converted (DMA_SHARED), used by nothing else (the layout's parts
    // are disjoint); handed out once (ATTESTER_TAKEN).
    (ready && !ATTESTER_TAKEN.swap(true, Ordering::AcqRel))
        .then(|| unsafe { Quoter::new(TDX_QUOTE, SHARED_BIT.load(Ordering::Relaxed)) })
}
