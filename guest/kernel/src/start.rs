//! The start-up code (`boot/reset.s`): reset vector, real → protected → long mode, page tables,
//! .data/.bss, then `fcc_kernel_main` (main.rs). Its addresses come from fcc-layout as `const`
//! operands; this module is only the glue and the boot-flag bits the assembly hands over.

use fcc_cvm_abi::snp::{self, cpuid, msr};
use fcc_layout as layout;
use fcc_layout::page_tables;

/// Boot-flag bit: the vCPU started in 32-bit protected mode (TDX), not in real mode.
pub const FLAG_PROTECTED_MODE: u64 = 1 << 0;
/// Boot-flag bit: the page tables mark data NX (EFER.NXE is set).
pub const FLAG_NX: u64 = 1 << 1;
/// Boot-flag bit: the reset path found an SEV-SNP guest (SEV_STATUS bits 0-2) and set the C-bit
/// in the page tables.
pub const FLAG_SNP: u64 = 1 << 2;
/// Boot-flag bit: memory holds a well-formed CPUID page claiming SEV where the SNP launch puts
/// it, but SEV_STATUS says nothing is encrypted: the reset path went on as plain.
pub const FLAG_STALE_CPUID_PAGE: u64 = 1 << 3;
/// Boot flags bits 15:8: the C-bit position the page tables use (with [`FLAG_SNP`]).
pub const CBIT_SHIFT: u32 = 8;

/// The C-bit position from the boot flags, if the reset path found SEV-SNP.
pub fn snp_cbit(boot_flags: u64) -> Option<u8> {
    (boot_flags & FLAG_SNP != 0).then_some((boot_flags >> CBIT_SHIFT) as u8)
}

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
    flag_snp = const FLAG_SNP,
    flag_stale_cpuid_page = const FLAG_STALE_CPUID_PAGE,
    snp_cpuid_page = const layout::SNP_CPUID_PAGE.start,
    cpuid_page_max_entries = const cpuid::MAX_ENTRIES,
    cpuid_page_header = const cpuid::HEADER_LEN,
    cpuid_page_entry = const cpuid::ENTRY_LEN,
    msr_sev_status = const snp::MSR_SEV_STATUS,
    msr_ghcb = const snp::MSR_GHCB,
    cbit_min = const *snp::CBIT_RANGE.start(),
    cbit_max = const *snp::CBIT_RANGE.end(),
    terminate_no_snp = const msr::terminate_request(msr::reason::SET_GENERAL, msr::reason::SNP_UNSUPPORTED),
    terminate_bad_cbit = const msr::terminate_request(msr::reason::SET_FCC, msr::reason::FCC_CBIT),
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
    // The CPUID page is read with paging off, in 32-bit code; its entry offsets 24/28 (EAX/EBX
    // out) are hard-coded there.
    assert!(layout::SNP_CPUID_PAGE.end <= u32::MAX as u64 && cpuid::ENTRY_LEN == 48);
};
