//! Edits to 4- or 5-level, identity-mapped page tables the guest did not build: the UEFI firmware's,
//! which the UEFI edition owns after ExitBootServices. It unmaps the guard page below each of its
//! stacks and, in a TD, puts TDX's shared bit into the mappings of what it hands to the host (the
//! DMA region, the quote buffer, the NIC's registers).
//!
//! [`edit`] applies a change to every leaf entry mapping a region: a leaf the region covers
//! whole (a 2 MiB or 1 GiB page) is changed in place; one that covers more than the region is
//! first split into a table of smaller leaves with the same attributes (the PAT bit moves from
//! bit 12 to bit 7 on 4 KiB leaves). The tables are reached through [`Tables`], so the walk is
//! host-tested over a simulated physical memory; the edition supplies the real one.

/// Present.
pub const PRESENT: u64 = 1 << 0;
/// Page size (PDPTE/PDE): a 1 GiB or 2 MiB leaf.
pub const HUGE: u64 = 1 << 7;
/// PAT bit of a 1 GiB or 2 MiB leaf; a 4 KiB leaf has it at bit 7.
const HUGE_PAT: u64 = 1 << 12;
/// No-execute.
const NX: u64 = 1 << 63;
/// Bits 51:12: a table's or a page's address (TDX's shared bit, 47 or 51, lies inside).
pub const ADDRESS: u64 = 0x000f_ffff_ffff_f000;

/// The page tables as the walk sees them.
pub trait Tables {
    /// The 512 entries of the table at physical address `phys`.
    fn table(&mut self, phys: u64) -> &mut [u64; 512];
    /// A new page-aligned table for a split; its physical address, or `None` when there is no
    /// memory. Its entries are all written before it is linked in.
    fn allocate(&mut self) -> Option<u64>;
}

/// Why an edit stopped. Leaves already edited stay edited (the caller stops the boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The region is not 4 KiB-aligned, or empty, or wraps.
    Unaligned,
    /// This address is not mapped at all.
    NotMapped(u64),
    /// No memory for a new table.
    NoMemory,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Unaligned => f.write_str("the region is not page-aligned"),
            Error::NotMapped(at) => write!(f, "{at:#x} is not mapped"),
            Error::NoMemory => f.write_str("no memory for a page table"),
        }
    }
}

/// Bytes one entry of a level maps (1: 4 KiB, 2: 2 MiB, 3: 1 GiB, 4: 512 GiB).
const fn entry_size(level: u32) -> u64 {
    1 << (12 + 9 * (level - 1))
}

/// The 512 entries of a new table that maps what the leaf `entry` of `level` (3: 1 GiB, 2:
/// 2 MiB) mapped, with the same attributes, one level down.
fn split(entry: u64, level: u32, child: &mut [u64; 512]) {
    let child_size = entry_size(level - 1);
    let base = entry & ADDRESS & !(entry_size(level) - 1);
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
    for (i, e) in child.iter_mut().enumerate() {
        *e = (base + i as u64 * child_size) | attributes;
    }
}

/// Paging with four levels (PML4 at the root) or five (CR4.LA57: PML5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Levels {
    /// PML4 → PDPT → PD → PT.
    Four,
    /// PML5 → PML4 → PDPT → PD → PT.
    Five,
}

/// Applies `change` to every leaf entry mapping `[start, end)` (4 KiB-aligned) in the hierarchy
/// at `root`, splitting leaves that map more (see the module documentation). The caller flushes
/// the TLB afterwards.
pub fn edit(
    tables: &mut dyn Tables,
    (root, levels): (u64, Levels),
    start: u64,
    end: u64,
    change: &mut dyn FnMut(&mut u64),
) -> Result<(), Error> {
    let top = match levels {
        Levels::Four => 4,
        Levels::Five => 5,
    };
    let page = entry_size(1);
    if start >= end || !start.is_multiple_of(page) || !end.is_multiple_of(page) {
        return Err(Error::Unaligned);
    }
    let mut at = start;
    while at < end {
        let (mut phys, mut level) = (root, top);
        loop {
            let index = ((at >> (12 + 9 * (level - 1))) & 511) as usize;
            let entry = tables.table(phys)[index];
            if entry & PRESENT == 0 {
                return Err(Error::NotMapped(at));
            }
            // Only PDPTEs (1 GiB) and PDEs (2 MiB) may be leaves above the page tables.
            let leaf = level == 1 || (level <= 3 && entry & HUGE != 0);
            if !leaf {
                phys = entry & ADDRESS;
                level -= 1;
                continue;
            }
            let size = entry_size(level);
            if level == 1 || (at.is_multiple_of(size) && end - at >= size) {
                change(&mut tables.table(phys)[index]);
                at += size;
                break;
            }
            // A larger leaf than the edit: one level down, the same mappings.
            let child = tables.allocate().ok_or(Error::NoMemory)?;
            split(entry, level, tables.table(child));
            tables.table(phys)[index] = child | (entry & !(ADDRESS | HUGE | HUGE_PAT | NX));
            phys = child;
            level -= 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const RW: u64 = 1 << 1;
    const GIB: u64 = 1 << 30;
    const MIB2: u64 = 2 << 20;
    const PML4: u64 = 0x1000;
    const PDPT: u64 = 0x2000;
    const PD: u64 = 0x3000;

    /// Tables in a simulated physical memory; new ones from 0x10_0000 up.
    struct Memory {
        tables: BTreeMap<u64, Box<[u64; 512]>>,
        next: u64,
        left: usize,
    }

    impl Tables for Memory {
        fn table(&mut self, phys: u64) -> &mut [u64; 512] {
            self.tables.get_mut(&phys).unwrap_or_else(|| panic!("no table at {phys:#x}"))
        }
        fn allocate(&mut self) -> Option<u64> {
            self.left = self.left.checked_sub(1)?;
            let at = self.next;
            self.next += 0x1000;
            self.tables.insert(at, Box::new([0xdead; 512]));
            Some(at)
        }
    }

    /// 0..1 GiB as one 1 GiB leaf (RW); 1..2 GiB as 2 MiB leaves (RW, the second one NX and
    /// PAT); nothing above.
    fn memory() -> Memory {
        let mut m = Memory { tables: BTreeMap::new(), next: 0x10_0000, left: 16 };
        let mut pml4 = Box::new([0u64; 512]);
        pml4[0] = PDPT | PRESENT | RW;
        let mut pdpt = Box::new([0u64; 512]);
        pdpt[0] = PRESENT | RW | HUGE;
        pdpt[1] = PD | PRESENT | RW;
        let mut pd = Box::new([0u64; 512]);
        for (i, e) in pd.iter_mut().enumerate() {
            *e = (GIB + i as u64 * MIB2) | PRESENT | RW | HUGE;
        }
        pd[1] |= NX | HUGE_PAT;
        m.tables.extend([(PML4, pml4), (PDPT, pdpt), (PD, pd)]);
        m
    }

    /// What the hardware would do with `va`: the physical address and the leaf's flags (the low
    /// 12 bits and NX; PAT read from its place for the leaf's size), walked here by hand.
    fn translate(m: &mut Memory, va: u64) -> Option<(u64, u64)> {
        let mut phys = PML4;
        for level in (1..=4u32).rev() {
            let e = m.table(phys)[((va >> (12 + 9 * (level - 1))) & 511) as usize];
            if e & PRESENT == 0 {
                return None;
            }
            let size = 1u64 << (12 + 9 * (level - 1));
            if level == 1 || (level < 4 && e & HUGE != 0) {
                let base = e & ADDRESS & !(size - 1);
                let pat = if level == 1 { e & (1 << 7) != 0 } else { e & HUGE_PAT != 0 };
                let flags = (e & (0xfff & !(1 << 7))) | (e & NX) | if pat { 1 << 52 } else { 0 };
                return Some((base + (va & (size - 1)), flags & !HUGE));
            }
            phys = e & ADDRESS;
        }
        unreachable!()
    }

    #[test]
    fn a_guard_page_inside_a_1_gib_page_is_unmapped_alone() {
        let mut m = memory();
        let before: Vec<_> = [0x20_0000 - 0x1000, 0x20_2000, 0x3fff_f000].map(|va| translate(&mut m, va)).into();
        edit(&mut m, (PML4, Levels::Four), 0x20_1000, 0x20_2000, &mut |e| *e &= !PRESENT).unwrap();
        assert_eq!(translate(&mut m, 0x20_1000), None);
        assert_eq!(translate(&mut m, 0x20_1fff), None);
        let after: Vec<_> = [0x20_0000 - 0x1000, 0x20_2000, 0x3fff_f000].map(|va| translate(&mut m, va)).into();
        assert_eq!(before, after, "the neighbours map as before");
        assert_eq!(after[1], Some((0x20_2000, PRESENT | RW)));
        // One 2 MiB table and one 4 KiB table.
        assert_eq!(m.tables.len(), 5);
        // A second edit in the same 2 MiB reuses the tables.
        edit(&mut m, (PML4, Levels::Four), 0x20_3000, 0x20_4000, &mut |e| *e &= !PRESENT).unwrap();
        assert_eq!((m.tables.len(), translate(&mut m, 0x20_3000)), (5, None));
    }

    #[test]
    fn a_whole_2_mib_page_is_changed_in_place() {
        let mut m = memory();
        let bit = 1u64 << 47;
        edit(&mut m, (PML4, Levels::Four), GIB + 2 * MIB2, GIB + 4 * MIB2, &mut |e| *e |= bit).unwrap();
        assert_eq!(m.tables.len(), 3, "no split");
        assert_eq!(translate(&mut m, GIB + 2 * MIB2 + 5), Some((bit | (GIB + 2 * MIB2 + 5), PRESENT | RW)));
        assert_eq!(translate(&mut m, GIB + 4 * MIB2 - 1).unwrap().0, bit | (GIB + 4 * MIB2 - 1));
        assert_eq!(translate(&mut m, GIB + 4 * MIB2).unwrap().0, GIB + 4 * MIB2);
        assert_eq!(translate(&mut m, GIB + 2 * MIB2 - 1).unwrap().0, GIB + 2 * MIB2 - 1);
    }

    #[test]
    fn a_region_across_leaves_splits_only_the_ends() {
        let mut m = memory();
        let bit = 1u64 << 51;
        // The last page of the NX+PAT 2 MiB leaf, the whole next leaf, the first page after it.
        let (start, end) = (GIB + 2 * MIB2 - 0x1000, GIB + 3 * MIB2 + 0x1000);
        edit(&mut m, (PML4, Levels::Four), start, end, &mut |e| *e |= bit).unwrap();
        assert_eq!(m.tables.len(), 5, "two 4 KiB tables: the ends");
        for va in [start, GIB + 2 * MIB2, GIB + 3 * MIB2 - 1, end - 1] {
            assert_eq!(translate(&mut m, va).unwrap().0, bit | va, "{va:#x}");
        }
        for va in [start - 1, end, GIB + MIB2] {
            assert_eq!(translate(&mut m, va).unwrap().0, va, "{va:#x}");
        }
        // The split leaf kept NX and PAT (now at bit 7 of its 4 KiB leaves), on both sides.
        let pat_nx = PRESENT | RW | NX | (1 << 52);
        assert_eq!(translate(&mut m, start).unwrap().1, pat_nx);
        assert_eq!(translate(&mut m, start - 0x1000).unwrap().1, pat_nx);
        assert_eq!(translate(&mut m, end).unwrap().1, PRESENT | RW);
    }

    #[test]
    fn five_levels_walk_one_more_table() {
        let mut m = memory();
        // A PML5 whose entry 0 is the 4-level hierarchy; entry 1 (from 2^48) maps nothing.
        let mut pml5 = Box::new([0u64; 512]);
        pml5[0] = PML4 | PRESENT | RW;
        m.tables.insert(0x5000, pml5);
        edit(&mut m, (0x5000, Levels::Five), 0x20_1000, 0x20_2000, &mut |e| *e &= !PRESENT).unwrap();
        assert_eq!(translate(&mut m, 0x20_1000), None, "the same leaf as through the PML4");
        assert_eq!(translate(&mut m, 0x20_2000), Some((0x20_2000, PRESENT | RW)));
        let high = 1u64 << 48;
        assert_eq!(edit(&mut m, (0x5000, Levels::Five), high, high + 0x1000, &mut |_| ()), Err(Error::NotMapped(high)));
    }

    #[test]
    fn bad_regions_and_holes_are_refused() {
        let mut m = memory();
        let mut never = |_: &mut u64| panic!("nothing to edit");
        for (start, end) in [(0x1001, 0x2000), (0x1000, 0x1800), (0x2000, 0x2000), (0x3000, 0x2000)] {
            assert_eq!(
                edit(&mut m, (PML4, Levels::Four), start, end, &mut never),
                Err(Error::Unaligned),
                "{start:#x}..{end:#x}"
            );
        }
        assert_eq!(
            edit(&mut m, (PML4, Levels::Four), 2 * GIB, 2 * GIB + 0x1000, &mut never),
            Err(Error::NotMapped(2 * GIB))
        );
        // A region running into the hole: the mapped part is edited, then the hole is named.
        let mut edited = 0;
        let r = edit(&mut m, (PML4, Levels::Four), 2 * GIB - MIB2, 2 * GIB + 0x1000, &mut |_| edited += 1);
        assert_eq!((r, edited), (Err(Error::NotMapped(2 * GIB)), 1));
        // No memory for a split.
        m.left = 1;
        assert_eq!(edit(&mut m, (PML4, Levels::Four), 0x1000, 0x2000, &mut |e| *e &= !PRESENT), Err(Error::NoMemory));
    }
}
