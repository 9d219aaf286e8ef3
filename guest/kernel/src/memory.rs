//! RAM: the check that every region of fcc-layout's memory map the kernel writes to is RAM in the
//! platform's memory map (QEMU's fw_cfg `etc/e820`), the heap over fcc-layout's `HEAP`, and the
//! memory type of the PCI MMIO window in the boot page tables.

use fcc_layout::{Entry, RAM_MAP, Region, Use};

/// Bytes of one `etc/e820` entry: address u64 LE, length u64 LE, type u32 LE.
pub const E820_ENTRY_LEN: usize = 20;
/// E820 type of usable RAM.
pub const E820_RAM: u32 = 1;
/// Entries read from `etc/e820`, at most.
pub const MAX_E820_ENTRIES: usize = 128;

/// One entry of an E820 map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820Entry {
    /// First byte.
    pub start: u64,
    /// One past the last byte (saturated at 2^64).
    pub end: u64,
    /// 1 = RAM, 2 = reserved, ...
    pub kind: u32,
}

/// The entries of a raw `etc/e820` file (a trailing partial entry is ignored).
pub fn e820_entries(raw: &[u8]) -> impl Iterator<Item = E820Entry> + '_ {
    raw.chunks_exact(E820_ENTRY_LEN).map(|e| {
        let word = |at: usize| u64::from_le_bytes(e[at..at + 8].try_into().unwrap_or([0; 8]));
        let start = word(0);
        E820Entry { start, end: start.saturating_add(word(8)), kind: u32::from_le_bytes([e[16], e[17], e[18], e[19]]) }
    })
}

/// Whether RAM entries of `raw` cover all of `region` (possibly across adjacent entries).
pub fn is_ram(raw: &[u8], region: Region) -> bool {
    let mut cursor = region.start;
    'next: while cursor < region.end {
        for e in e820_entries(raw) {
            if e.kind == E820_RAM && e.start <= cursor && cursor < e.end {
                cursor = e.end; // strictly increases: the loop ends
                continue 'next;
            }
        }
        return false;
    }
    true
}

/// The first region the kernel uses that is not RAM in `raw`, if any.
pub fn first_missing_ram(raw: &[u8]) -> Option<&'static Entry> {
    RAM_MAP.iter().find(|e| e.usage == Use::Ram && !is_ram(raw, e.region))
}

#[cfg(target_os = "none")]
pub use device::{init_heap, map_pci_window_uncached};

#[cfg(target_os = "none")]
mod device {
    use fcc_layout::{HEAP, LARGE_PAGE_SIZE, PCI_MMIO_WINDOW, page_tables};

    /// Gives fcc-layout's `HEAP` to the allocator. Call once, after the RAM check.
    pub fn init_heap() -> Result<(), &'static str> {
        let base = core::ptr::with_exposed_provenance_mut::<u8>(HEAP.start as usize);
        // SAFETY: HEAP is RAM (checked against the platform's memory map before this call),
        // identity-mapped writable by the boot page tables, reserved by fcc-layout for the
        // allocator and used by nothing else; `init_heap` is called once.
        unsafe { fcc_guest_platform::heap::claim(base, HEAP.size() as usize) }
    }

    /// Marks the identity map's 2 MiB pages of `PCI_MMIO_WINDOW` uncached (PCD|PWT), so device
    /// registers are never cached or write-combined whatever the MTRRs say. Call once, before
    /// the first access to a BAR.
    pub fn map_pci_window_uncached() {
        const PWT: u64 = 1 << 3;
        const PCD: u64 = 1 << 4;
        let mut addr = PCI_MMIO_WINDOW.start;
        while addr < PCI_MMIO_WINDOW.end {
            // The four page directories are consecutive, one per GiB: entry addr / 2 MiB.
            let entry = page_tables::PD + (addr / LARGE_PAGE_SIZE) * 8;
            let ptr = core::ptr::with_exposed_provenance_mut::<u64>(entry as usize);
            // SAFETY: `entry` is the page-directory entry mapping `addr` (fcc-layout's page
            // tables, built by reset.s, identity-mapped and writable); setting the cache bits on
            // a present 2 MiB MMIO mapping changes no other translation. The high alias shares
            // this directory, so both views get the same memory type.
            unsafe { ptr.write_volatile(ptr.read_volatile() | PWT | PCD) };
            addr += LARGE_PAGE_SIZE;
        }
        x86_64::instructions::tlb::flush_all();
    }
}

#[cfg(test)]
mod tests {
    use fcc_layout::{HEAP, MIB, Region};

    use super::*;

    fn map(entries: &[(u64, u64, u32)]) -> std::vec::Vec<u8> {
        let mut raw = std::vec::Vec::new();
        for &(start, len, kind) in entries {
            raw.extend_from_slice(&start.to_le_bytes());
            raw.extend_from_slice(&len.to_le_bytes());
            raw.extend_from_slice(&kind.to_le_bytes());
        }
        raw
    }

    #[test]
    fn qemu_256m_is_enough() {
        // QEMU 7.2, q35, -m 256M: one RAM entry from 0, then a reserved one.
        let raw = map(&[(0, 256 * MIB, 1), (0xfeff_c000, 0x4000, 2)]);
        assert_eq!(first_missing_ram(&raw), None);
    }

    #[test]
    fn too_little_ram_names_the_region() {
        let raw = map(&[(0, 32 * MIB, 1)]);
        assert_eq!(first_missing_ram(&raw).map(|e| e.region), Some(HEAP));
    }

    #[test]
    fn coverage_across_entries_and_types() {
        let raw = map(&[(0, 16 * MIB, 1), (16 * MIB, 8 * MIB, 1), (24 * MIB, 8 * MIB, 2), (32 * MIB, 64 * MIB, 1)]);
        assert!(is_ram(&raw, Region { start: MIB, end: 24 * MIB }));
        assert!(!is_ram(&raw, Region { start: MIB, end: 25 * MIB }));
        assert!(is_ram(&raw, Region { start: 32 * MIB, end: 96 * MIB }));
        assert!(!is_ram(&[], Region { start: 0, end: 1 }));
        // Overflowing length saturates; a partial trailing entry is ignored.
        let mut raw = map(&[(MIB, u64::MAX, 1)]);
        raw.extend_from_slice(&[1, 2, 3]);
        assert!(is_ram(&raw, Region { start: MIB, end: u64::MAX }));
        assert_eq!(e820_entries(&raw).count(), 1);
    }
}
