//! The firmware's page tables, which the edition owns after ExitBootServices (identity-mapped,
//! 4- or 5-level): `fcc_guest_platform::paging`'s edits applied to the live tables in CR3 — the guard
//! page below each stack unmapped (so an overflow faults and the double fault reaches its own
//! stack), and in a TD the shared bit over what the host is given. New tables (a 1 GiB or 2 MiB
//! mapping split into smaller ones) come from the heap.

use fcc_guest_platform::paging::{self, Levels, PRESENT, Tables};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr3, Cr4, Cr4Flags};

/// Why the page tables were not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(paging::Error);

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "page tables: {}", self.0)
    }
}

/// The tables in CR3's hierarchy, identity-mapped.
struct Live;

impl Tables for Live {
    fn table(&mut self, phys: u64) -> &mut [u64; 512] {
        // SAFETY: `paging::edit` names only CR3's PML4, tables its entries point to and tables
        // `allocate` made: 4 KiB-aligned, identity-mapped, used by nothing else while `edit`'s
        // caller holds its promise (one CPU, interrupts off, boot services gone).
        unsafe { &mut *core::ptr::with_exposed_provenance_mut::<[u64; 512]>(phys as usize) }
    }

    fn allocate(&mut self) -> Option<u64> {
        let layout = core::alloc::Layout::new::<[u64; 512]>().align_to(4096).ok()?;
        // SAFETY: a non-zero-sized layout; the table is never freed (it becomes part of the
        // page tables for good).
        let table = unsafe { alloc::alloc::alloc_zeroed(layout) };
        (!table.is_null()).then(|| table.expose_provenance() as u64)
    }
}

/// Applies `change` to every leaf mapping `[start, end)` in the live page tables, then flushes
/// the TLB.
///
/// # Safety
/// The change must leave every mapping something still uses valid, and nothing else may be
/// changing the page tables (one CPU, interrupts off, after ExitBootServices).
pub unsafe fn edit(start: u64, end: u64, change: &mut dyn FnMut(&mut u64)) -> Result<(), Error> {
    let levels = if Cr4::read().contains(Cr4Flags::L5_PAGING) { Levels::Five } else { Levels::Four };
    // The firmware may have made its page tables read-only: supervisor writes ignore that
    // while CR0.WP is clear.
    let cr0 = Cr0::read();
    // SAFETY: clearing WP only lets this CPU's supervisor writes through read-only pages; it is
    // restored below, and nothing else runs meanwhile.
    unsafe { Cr0::write(cr0 - Cr0Flags::WRITE_PROTECT) };
    let root = Cr3::read().0.start_address().as_u64();
    let result = paging::edit(&mut Live, (root, levels), start, end, change).map_err(Error);
    x86_64::instructions::tlb::flush_all();
    // SAFETY: the flags as they were.
    unsafe { Cr0::write(cr0) };
    result
}

/// Unmaps the 4 KiB page at `addr`.
///
/// # Safety
/// Nothing may use the page afterwards; as [`edit`].
pub unsafe fn unmap(addr: u64) -> Result<(), Error> {
    // SAFETY: the caller's promise.
    unsafe { edit(addr, addr + 4096, &mut |e| *e &= !PRESENT) }
}
