//! The start-up code (`boot/reset.s`): reset vector, real → protected → long mode, page tables,
//! .data/.bss, then [`crate::fcc_kernel_main`]. Its addresses come from fcc-layout as `const`
//! operands; this module is only the glue and the boot-flag bits the assembly hands over.

use fcc_layout as layout;
use fcc_layout::page_tables;

/// Boot-flag bit: the vCPU started in 32-bit protected mode (TDX), not in real mode.
pub const FLAG_PROTECTED_MODE: u64 = 1 << 0;
/// Boot-flag bit: the page tables mark data NX (EFER.NXE is set).
pub const FLAG_NX: u64 = 1 << 1;

/// Selectors of the boot GDT in `reset.s`.
const CODE32_SELECTOR: u16 = 0x08;
const DATA_SELECTOR: u16 = 0x10;
const CODE64_SELECTOR: u16 = 0x18;

/// Real mode after reset: CS.base = 0xFFFF_0000, so offsets in CS are address − this.
const RESET_CS_BASE: u64 = 0xFFFF_0000;

core::arch::global_asm!(
    include_str!("boot/reset.s"),
    boot_base = const layout::BOOT_CODE.start,
    boot_offset_in_cs = const layout::BOOT_CODE.start - RESET_CS_BASE,
    snp_ap_entry_offset = const layout::SNP_AP_ENTRY.start - layout::BOOT_CODE.start,
    guid_table_offset = const layout::GUID_TABLE.start - layout::BOOT_CODE.start,
    protected_mode_entry_offset = const layout::PROTECTED_MODE_ENTRY.start - layout::BOOT_CODE.start,
    reset_vector_offset = const layout::RESET_VECTOR.start - layout::BOOT_CODE.start,
    boot_page_size = const layout::BOOT_PAGE.size(),
    code32_selector = const CODE32_SELECTOR,
    data_selector = const DATA_SELECTOR,
    code64_selector = const CODE64_SELECTOR,
    flag_protected_mode = const FLAG_PROTECTED_MODE,
    flag_nx = const FLAG_NX,
    boot_stack_top = const layout::BOOT_STACK.top(),
    pml4 = const page_tables::PML4,
    pdpt_low = const page_tables::PDPT_LOW,
    pdpt_high = const page_tables::PDPT_HIGH,
    pd = const page_tables::PD,
    pt_low = const page_tables::PT_LOW,
    page_tables_bytes = const page_tables::USED_BYTES,
    guard0 = const layout::GUARD_PAGES[0],
    guard1 = const layout::GUARD_PAGES[1],
    guard2 = const layout::GUARD_PAGES[2],
    guard3 = const layout::GUARD_PAGES[3],
    guard4 = const layout::GUARD_PAGES[4],
    guard5 = const layout::GUARD_PAGES[5],
);

// The assembly clears exactly six guard entries and hard-codes the ROM's 2 MiB page and four
// page directories; fail the build if the layout moves away from that.
const _: () = {
    assert!(layout::GUARD_PAGES.len() == 6);
    assert!(page_tables::PD_COUNT == 4);
    assert!(layout::ROM.start >= 0xFFE0_0000, "reset.s maps only the last 2 MiB page executable");
    assert!(layout::BOOT_STACK.top() <= u32::MAX as u64 && page_tables::PT_LOW <= u32::MAX as u64);
};
