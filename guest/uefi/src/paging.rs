//! Guard pages in the firmware's page tables. After ExitBootServices the edition owns the tables
//! the firmware left in CR3 (identity-mapped, 4-level); it unmaps the page below each of its
//! stacks, splitting a 1 GiB or 2 MiB mapping into smaller ones where needed (new tables come
//! from the heap), so an overflow faults — and the double fault reaches its own stack — instead
//! of running into the memory below.

use alloc::boxed::Box;

use x86_64::registers::control::{Cr0, Cr0Flags, Cr3, Cr4, Cr4Flags};

const PRESENT: u64 = 1 << 0;
/// Page size (PDPTE/PDE): a 1 GiB or 2 MiB leaf.
const HUGE: u64 = 1 << 7;
/// PAT bit of a 1 GiB or 2 MiB leaf; a 4 KiB leaf has it at bit 7.
const HUGE_PAT: u64 = 1 << 12;
/// Bits 51:12: a table's or a 4 KiB page's address.
const ADDRESS: u64 = 0x000f_ffff_ffff_f000;

/// One page table: 512 entries, page-aligned.
#[repr(C, align(4096))]
struct Table([u64; 512]);

/// Why a guard page could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// CR4.LA57: 5-level paging, which the firmware does not use on these machines.
    FiveLevel,
    /// The address is not mapped at all.
    NotMapped,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::FiveLevel => "the firmware uses 5-level paging",
            Error::NotMapped => "the guard page is not mapped",
        })
    }
}

/// The entries of the table at physical address `phys` (identity-mapped).
///
/// # Safety
/// `phys` must be a live page table of the current hierarchy, used by nothing else right now.
unsafe fn table<'a>(phys: u64) -> &'a mut [u64; 512] {
    // SAFETY: the caller's promise; tables are 4 KiB-aligned and identity-mapped.
    unsafe { &mut *core::ptr::with_exposed_provenance_mut::<[u64; 512]>(phys as usize) }
}

/// The 512 entries of a new table that maps what the leaf `entry` of `level` (3: 1 GiB, 2:
/// 2 MiB) mapped, with the same attributes, one level down.
fn split(entry: u64, level: u32) -> Box<Table> {
    let child_size = 1u64 << (12 + 9 * (level - 2));
    let base = entry & ADDRESS & !((child_size << 9) - 1);
    let pat = entry & HUGE_PAT != 0;
    // Attributes: the low 12 bits and bits 63:52 (NX, protection keys), the address apart.
    let mut attributes = entry & !ADDRESS;
    if level == 2 {
        // 4 KiB leaves: no page-size bit, and PAT moves from bit 12 to bit 7.
        attributes &= !HUGE;
        if pat {
            attributes |= 1 << 7;
        }
    } else if pat {
        attributes |= HUGE_PAT;
    }
    let mut child = Box::new(Table([0; 512]));
    for (i, e) in child.0.iter_mut().enumerate() {
        *e = (base + i as u64 * child_size) | attributes;
    }
    child
}

/// Unmaps the 4 KiB page at `addr` in the current page tables.
///
/// # Safety
/// Nothing may use the page afterwards, and nothing else may be changing the page tables (one
/// CPU, interrupts off, after ExitBootServices).
pub unsafe fn unmap(addr: u64) -> Result<(), Error> {
    if Cr4::read().contains(Cr4Flags::L5_PAGING) {
        return Err(Error::FiveLevel);
    }
    // The firmware may have made its page tables read-only: supervisor writes ignore that
    // while CR0.WP is clear.
    let cr0 = Cr0::read();
    // SAFETY: clearing WP only lets this CPU's supervisor writes through read-only pages; it is
    // restored below, and nothing else runs meanwhile.
    unsafe { Cr0::write(cr0 - Cr0Flags::WRITE_PROTECT) };
    let mut phys = Cr3::read().0.start_address().as_u64();
    let mut result = Ok(());
    for level in (2..=4).rev() {
        let index = ((addr >> (12 + 9 * (level - 1))) & 511) as usize;
        // SAFETY: `phys` is CR3's PML4 or a table an entry of the hierarchy points to.
        let entry = unsafe { &mut table(phys)[index] };
        if *entry & PRESENT == 0 {
            result = Err(Error::NotMapped);
            break;
        }
        if level < 4 && *entry & HUGE != 0 {
            let child = Box::leak(split(*entry, level));
            let directory = *entry & !(ADDRESS | HUGE | HUGE_PAT | (1 << 63));
            *entry = core::ptr::from_mut(child).expose_provenance() as u64 | directory;
        }
        phys = *entry & ADDRESS;
    }
    if result.is_ok() {
        // SAFETY: the page table the walk ended at.
        let leaf = unsafe { &mut table(phys)[((addr >> 12) & 511) as usize] };
        *leaf &= !PRESENT;
    }
    x86_64::instructions::tlb::flush_all();
    // SAFETY: the flags as they were.
    unsafe { Cr0::write(cr0) };
    result
}
