//! `fcc-layout`: the guest's physical memory map and ROM layout — the one place every fixed
//! address comes from. The kernel's assembly (as `const` operands), its linker script (generated
//! by the kernel's build script from [`LINKER_SYMBOLS`]), its Rust code and the image builder all
//! read these constants; the compile-time checks at the bottom of this file refuse a layout with
//! overlaps, misalignment or a region out of reach of the code that uses it.
//!
//! # ROM (the `-bios` image, mapped by QEMU just below 4 GiB)
//!
//! ```text
//! ROM.start ─┬─ kernel image: .text, .rodata, then the load image of .data   (ROM_IMAGE)
//!            │  ... unused bytes are ROM_FILL ...
//! 4G-0x1000 ─┼─ BOOT_CODE: 16/32/64-bit start-up code and its GDT            (one .boot section
//! 4G-0x800  ─┼─ SNP_AP_ENTRY: where SEV-SNP application processors start      up to 4 GiB)
//! 4G-0x7f0  ─┼─ GUID_TABLE: OVMF-style GUIDed tables ([`guid_tables`]), footer GUID at 4G-0x30
//! 4G-0x20   ─┼─ PROTECTED_MODE_ENTRY: where a vCPU that starts in 32-bit mode (TDX) jumps
//! 4G-0x10   ─┴─ RESET_VECTOR: the first instruction of every vCPU
//! ```
//!
//! # RAM
//!
//! Everything the guest writes before it can accept/validate memory itself (page tables, stacks,
//! .data/.bss) is one contiguous block, [`EARLY_RAM`]: SEV-SNP will pre-validate it and TDX will
//! declare it as `TEMP_MEM` in the image's metadata. The pages SEV-SNP and TDX hand to the guest
//! (secrets, CPUID, TD HOB) and the GHCB sit right after it. The first 2 MiB are mapped with
//! 4 KiB pages so that the null page and one guard page below every stack are left unmapped;
//! the rest of the first 4 GiB is identity-mapped with 2 MiB pages.
//!
//! The kernel's code runs from the ROM through a second mapping, [`HIGH_ALIAS_OFFSET`]: the top
//! 2 GiB of the virtual address space alias physical 2..4 GiB, so the ROM sits at
//! [`ROM_VIRT_BASE`] (−1 MiB) and RAM (identity-mapped, below 2 GiB) stays within ±2 GiB of
//! the code, as the `kernel` code model of `x86_64-unknown-none` requires.
//!
//! [`interface`] holds what the guest and whatever launches it agree on besides addresses:
//! fw_cfg file names, the test exit device and the console lines.
#![no_std]
#![forbid(unsafe_code)]

/// 1 KiB.
pub const KIB: u64 = 1 << 10;
/// 1 MiB.
pub const MIB: u64 = 1 << 20;
/// 1 GiB.
pub const GIB: u64 = 1 << 30;
/// A small page.
pub const PAGE_SIZE: u64 = 4 * KIB;
/// A large page (the page size of the identity map above 2 MiB).
pub const LARGE_PAGE_SIZE: u64 = 2 * MIB;
/// The end of the 32-bit physical address space; the ROM ends here.
pub const FOUR_GIB: u64 = 4 * GIB;

/// A half-open range `[start, end)` of physical addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Region {
    /// `size` bytes from `start`.
    pub const fn new(start: u64, size: u64) -> Self {
        Self { start, end: start + size }
    }

    /// Size in bytes.
    pub const fn size(&self) -> u64 {
        self.end - self.start
    }

    /// Whether `addr` lies inside.
    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Whether `other` lies entirely inside.
    pub const fn contains_region(&self, other: &Region) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether the two share at least one byte.
    pub const fn overlaps(&self, other: &Region) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether both ends are multiples of `align` (a power of two).
    pub const fn is_aligned(&self, align: u64) -> bool {
        self.start.is_multiple_of(align) && self.end.is_multiple_of(align)
    }
}

/// A stack with an unmapped guard page right below it, so an overflow faults (and reaches the
/// double-fault handler on its own stack) instead of overwriting what lies below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardedStack {
    /// The unmapped page below the stack.
    pub guard: Region,
    /// The stack itself; it grows down from `stack.end`.
    pub stack: Region,
}

impl GuardedStack {
    /// A guard page at `start`, then the stack up to `start + size`.
    const fn at(start: u64, size: u64) -> Self {
        Self { guard: Region::new(start, PAGE_SIZE), stack: Region { start: start + PAGE_SIZE, end: start + size } }
    }

    /// The initial stack pointer (16-byte aligned).
    pub const fn top(&self) -> u64 {
        self.stack.end
    }

    /// Guard page and stack together.
    pub const fn slot(&self) -> Region {
        Region { start: self.guard.start, end: self.stack.end }
    }
}

// ---------------------------------------------------------------------------------------------
// ROM
// ---------------------------------------------------------------------------------------------

/// Size of the ROM image. QEMU wants a multiple of 64 KiB for `-bios`. Every page of it is
/// measured on SEV-SNP and TDX. It was 512 KiB until the wallet operations (ECIES, Shamir,
/// Flare's JSON formats) took the kernel image to ~700 KB; 1 MiB leaves room for the payment
/// codecs and extensions still to come (the launch measures 128 more pages: microseconds).
pub const ROM_SIZE: u64 = 1024 * KIB;

/// The ROM: it ends at 4 GiB, where the reset vector must be.
pub const ROM: Region = Region { start: FOUR_GIB - ROM_SIZE, end: FOUR_GIB };

/// Where the kernel image (code, read-only data, the load image of .data) goes: everything
/// below the boot page.
pub const ROM_IMAGE: Region = Region { start: ROM.start, end: BOOT_PAGE.start };

/// The last 4 KiB of the ROM, one `.boot` section: start-up code, GUID tables and the two entry
/// points. Real-mode code can only reach the last 64 KiB below 4 GiB (CS base 0xFFFF_0000).
pub const BOOT_PAGE: Region = Region { start: FOUR_GIB - PAGE_SIZE, end: FOUR_GIB };

/// The 16/32/64-bit start-up code and its GDT.
pub const BOOT_CODE: Region = Region { start: BOOT_PAGE.start, end: BOOT_PAGE.start + 0x800 };

/// 16 bytes of 16-bit code where SEV-SNP application processors start (the SEV-ES reset block
/// of [`guid_tables`] names this address; their VMSAs, part of the launch digest, carry CS base
/// 0xFFFF_0000 and IP = the low 16 bits). The code parks the vCPU.
pub const SNP_AP_ENTRY: Region = Region { start: BOOT_CODE.end, end: BOOT_CODE.end + 0x10 };

/// The OVMF-style GUIDed tables QEMU (and `sev-snp-measure`) read for SEV-SNP and TDX: the SEV
/// metadata block and TDVF descriptor from its start, the footer table growing down from
/// [`GUID_TABLE_FOOTER`]. What goes in them is [`guid_tables`]; the image builder writes them
/// into bytes the kernel's linker leaves as [`ROM_FILL`].
pub const GUID_TABLE: Region = Region { start: SNP_AP_ENTRY.end, end: FOUR_GIB - 0x20 };

/// Address of the GUID-table footer GUID (96b582de-1fb2-45f7-baea-a366c55a082d), end − 0x30;
/// the table's total length (u16) is the two bytes below it.
pub const GUID_TABLE_FOOTER: u64 = FOUR_GIB - 0x30;

/// 16 bytes where a vCPU that starts in 32-bit protected mode (TDX) continues from the reset
/// vector.
pub const PROTECTED_MODE_ENTRY: Region = Region { start: FOUR_GIB - 0x20, end: FOUR_GIB - 0x10 };

/// The architectural reset vector, 0xFFFF_FFF0: the first instruction of every vCPU.
pub const RESET_VECTOR: Region = Region { start: FOUR_GIB - 0x10, end: FOUR_GIB };

/// What the image builder writes in ROM bytes no segment covers: 0xFF, like erased flash (and
/// `FF FF` is an invalid opcode, so a stray jump into the fill traps with #UD).
pub const ROM_FILL: u8 = 0xFF;

/// Virtual = physical + this for physical 2..4 GiB: the top 2 GiB of the address space alias
/// that range, where the ROM is.
pub const HIGH_ALIAS_OFFSET: u64 = 0xFFFF_FFFF_0000_0000;

/// The physical range the high alias maps.
pub const HIGH_ALIAS_PHYS: Region = Region { start: 2 * GIB, end: FOUR_GIB };

/// The virtual address the kernel image is linked at (the ROM seen through the high alias).
pub const ROM_VIRT_BASE: u64 = ROM.start.wrapping_add(HIGH_ALIAS_OFFSET);

// ---------------------------------------------------------------------------------------------
// RAM
// ---------------------------------------------------------------------------------------------

/// Physical page 0, never mapped: a null dereference faults.
pub const NULL_GUARD: Region = Region::new(0, PAGE_SIZE);

/// Conventional memory below the legacy hole; unused, kept for an AP start-up trampoline (a
/// SIPI vector must lie below 1 MiB).
pub const LOW_MEMORY: Region = Region { start: PAGE_SIZE, end: 0xA_0000 };

/// VGA memory, option ROMs and QEMU's alias of the last 128 KiB of the BIOS: never RAM for us.
pub const LEGACY_HOLE: Region = Region { start: 0xA_0000, end: MIB };

/// The boot page tables (16 pages reserved, [`page_tables`] says which are used).
pub const PAGE_TABLES: Region = Region::new(MIB, 16 * PAGE_SIZE);

/// The pages inside [`PAGE_TABLES`].
pub mod page_tables {
    use super::{PAGE_SIZE, PAGE_TABLES};

    /// Level 4: entry 0 → [`PDPT_LOW`], entry 511 → [`PDPT_HIGH`].
    pub const PML4: u64 = PAGE_TABLES.start;
    /// Level 3 for virtual 0..512 GiB: entries 0..3 → the four page directories.
    pub const PDPT_LOW: u64 = PML4 + PAGE_SIZE;
    /// Level 3 for the top 512 GiB: entries 510, 511 → `PD[2]`, `PD[3]` (the high alias).
    pub const PDPT_HIGH: u64 = PDPT_LOW + PAGE_SIZE;
    /// Four consecutive page directories, one per GiB of the identity map, 2 MiB pages.
    pub const PD: u64 = PDPT_HIGH + PAGE_SIZE;
    /// Number of page directories.
    pub const PD_COUNT: u64 = 4;
    /// The page table for the first 2 MiB (4 KiB pages, with the guard pages left out).
    pub const PT_LOW: u64 = PD + PD_COUNT * PAGE_SIZE;
    /// Bytes of [`PAGE_TABLES`] the boot code builds (and zeroes first).
    pub const USED_BYTES: u64 = PT_LOW + PAGE_SIZE - PML4;
}

/// Interrupt stack 1: double fault (a stack overflow ends here and is still reported).
pub const IST_DOUBLE_FAULT: GuardedStack = GuardedStack::at(0x11_0000, 64 * KIB);
/// Interrupt stack 2: NMI.
pub const IST_NMI: GuardedStack = GuardedStack::at(0x12_0000, 64 * KIB);
/// Interrupt stack 3: machine check.
pub const IST_MACHINE_CHECK: GuardedStack = GuardedStack::at(0x13_0000, 64 * KIB);
/// Interrupt stack 4: reserved for the SEV-SNP #VC and TDX #VE handlers.
pub const IST_VC_VE: GuardedStack = GuardedStack::at(0x14_0000, 64 * KIB);
/// The boot CPU's stack, from the 32-bit start-up code on.
pub const BOOT_STACK: GuardedStack = GuardedStack::at(0x15_0000, 256 * KIB);

/// Where the linker puts .data (copied from the ROM at boot) and .bss (zeroed at boot).
pub const DATA_BSS: Region = Region { start: 0x19_0000, end: 0x1D_0000 };

/// Everything written before the guest can accept or validate memory itself: page tables,
/// stacks, .data/.bss. SEV-SNP: pre-validated by the launch; TDX: the `TEMP_MEM` section.
pub const EARLY_RAM: Region = Region { start: PAGE_TABLES.start, end: DATA_BSS.end };
/// The TDX `TEMP_MEM` section of the TDVF metadata (the same block as [`EARLY_RAM`]).
pub const TDX_TEMP_MEM: Region = EARLY_RAM;

/// SEV-SNP secrets page (VMPCKs), installed by the launch.
pub const SNP_SECRETS_PAGE: Region = Region::new(EARLY_RAM.end, PAGE_SIZE);
/// SEV-SNP CPUID page, installed by the launch.
pub const SNP_CPUID_PAGE: Region = Region::new(SNP_SECRETS_PAGE.end, PAGE_SIZE);
/// GHCB pages (one per vCPU that runs; the boot CPU uses the first), shared with the host.
pub const GHCB_PAGES: Region = Region::new(SNP_CPUID_PAGE.end, 2 * PAGE_SIZE);
/// TDX `TD_HOB` section: where the VMM puts the HOB list (the memory map under TDX).
pub const TDX_TD_HOB: Region = Region::new(GHCB_PAGES.end, 2 * PAGE_SIZE);

/// The first 2 MiB, mapped with 4 KiB pages (every guard page must lie inside).
pub const SMALL_PAGE_WINDOW: Region = Region::new(0, LARGE_PAGE_SIZE);

/// Memory shared with the host: virtqueues and the bounce buffers every network frame is copied
/// through (`guest/kernel/src/dma.rs`). On SEV-SNP and TDX these pages will be converted to
/// shared, so nothing private ever lives here — only frames, which travel in the clear anyway.
pub const SHARED_BUFFERS: Region = Region { start: 2 * MIB, end: 16 * MIB };

/// The parts of [`SHARED_BUFFERS`], in address order, each with its one user; nothing else in
/// the guest writes shared memory. (Compile-time checked: inside the region, in order, apart.)
pub mod shared {
    use super::{KIB, MIB, PAGE_SIZE, Region, SHARED_BUFFERS};

    /// Virtqueue pages, handed out by the virtio HAL's `dma_alloc`.
    pub const VIRTQUEUES: Region = Region::new(SHARED_BUFFERS.start, 2 * MIB);
    /// Number of bounce slots: one per RX buffer in the queue, plus room for transmits.
    pub const BOUNCE_SLOTS: usize = 128;
    /// Bounce slots, one page each: every buffer the driver gives the device is copied through
    /// one (`share`/`unshare`), so only network frames ever reach shared memory.
    pub const BOUNCE: Region = Region::new(VIRTQUEUES.end, BOUNCE_SLOTS as u64 * PAGE_SIZE);
    /// TDX: the GetQuote buffer (TDREPORT in, quote out).
    pub const TDX_QUOTE: Region = Region::new(SNP_GUEST_REQUEST.start - 32 * KIB, 32 * KIB);
    /// SEV-SNP: SNP_GUEST_REQUEST's request page then response page (only the AES-GCM
    /// ciphertext of guest messages).
    pub const SNP_GUEST_REQUEST: Region = Region::new(SHARED_BUFFERS.end - 2 * PAGE_SIZE, 2 * PAGE_SIZE);
    /// The request page of [`SNP_GUEST_REQUEST`].
    pub const SNP_REQUEST_PAGE: u64 = SNP_GUEST_REQUEST.start;
    /// The response page of [`SNP_GUEST_REQUEST`].
    pub const SNP_RESPONSE_PAGE: u64 = SNP_GUEST_REQUEST.start + PAGE_SIZE;

    /// Every part, in address order.
    pub const PARTS: [Region; 4] = [VIRTQUEUES, BOUNCE, TDX_QUOTE, SNP_GUEST_REQUEST];

    const _: () = {
        let mut i = 0;
        while i < PARTS.len() {
            assert!(SHARED_BUFFERS.contains_region(&PARTS[i]) && PARTS[i].is_aligned(PAGE_SIZE));
            assert!(i == 0 || PARTS[i - 1].end <= PARTS[i].start, "shared parts overlap or are out of order");
            i += 1;
        }
    };
}

/// Where the guest places the memory BARs of the PCI devices it drives (no firmware assigns
/// them): inside q35's 32-bit PCI hole, above the ECAM window ([`PCI_ECAM`], left disabled: the
/// guest uses the legacy 0xCF8/0xCFC ports) and far below the IOAPIC/LAPIC. Identity-mapped
/// like everything below 4 GiB; the kernel maps it uncached before use.
pub const PCI_MMIO_WINDOW: Region = Region::new(0xC000_0000, 16 * MIB);

/// q35's PCIe ECAM (MMCONFIG) window as QEMU places it; the guest does not enable it, but keeps
/// [`PCI_MMIO_WINDOW`] clear of it.
pub const PCI_ECAM: Region = Region::new(0xB000_0000, 256 * MIB);

/// The IOAPIC/HPET/LAPIC area at the top of the 32-bit space (0xFEC0_0000 up to the ROM).
pub const PLATFORM_MMIO: Region = Region { start: 0xFEC0_0000, end: 0xFF00_0000 };

/// The heap (the allocator takes all of it at boot).
pub const HEAP: Region = Region { start: 16 * MIB, end: 64 * MIB };

/// The least RAM the guest needs: memory below this must be RAM (except the legacy hole).
pub const MIN_RAM_END: u64 = HEAP.end;

/// The identity map covers physical `[0, IDENTITY_MAP_END)`.
pub const IDENTITY_MAP_END: u64 = FOUR_GIB;

/// What a region of the memory map is for the early page tables and the RAM check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Not mapped at all: touching it faults.
    Guard,
    /// RAM the kernel uses: must be RAM in the platform's memory map.
    Ram,
    /// Mapped but not used by this kernel (yet).
    Unused,
    /// Part of the ROM image.
    Rom,
}

/// One named region of the memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Short name, as in the kernel README.
    pub name: &'static str,
    /// Where.
    pub region: Region,
    /// What for.
    pub usage: Use,
    /// One-line purpose, as in the kernel README.
    pub purpose: &'static str,
}

const fn entry(name: &'static str, region: Region, usage: Use, purpose: &'static str) -> Entry {
    Entry { name, region, usage, purpose }
}

/// The RAM map, in address order, without overlaps (checked at compile time).
pub const RAM_MAP: [Entry; 21] = [
    entry("null guard", NULL_GUARD, Use::Guard, "never mapped: null dereferences fault"),
    entry("low memory", LOW_MEMORY, Use::Unused, "reserved for an AP start-up trampoline"),
    entry("legacy hole", LEGACY_HOLE, Use::Unused, "VGA, option ROMs, BIOS alias"),
    entry("page tables", PAGE_TABLES, Use::Ram, "PML4, 2 PDPTs, 4 PDs, 1 PT (8 of 16 pages)"),
    entry("guard", IST_DOUBLE_FAULT.guard, Use::Guard, "stack guard"),
    entry("IST1 stack", IST_DOUBLE_FAULT.stack, Use::Ram, "double fault"),
    entry("guard", IST_NMI.guard, Use::Guard, "stack guard"),
    entry("IST2 stack", IST_NMI.stack, Use::Ram, "NMI"),
    entry("guard", IST_MACHINE_CHECK.guard, Use::Guard, "stack guard"),
    entry("IST3 stack", IST_MACHINE_CHECK.stack, Use::Ram, "machine check"),
    entry("guard", IST_VC_VE.guard, Use::Guard, "stack guard"),
    entry("IST4 stack", IST_VC_VE.stack, Use::Ram, "reserved: SEV-SNP #VC / TDX #VE"),
    entry("guard", BOOT_STACK.guard, Use::Guard, "stack guard"),
    entry("boot stack", BOOT_STACK.stack, Use::Ram, "the boot CPU's stack"),
    entry(".data/.bss", DATA_BSS, Use::Ram, ".data copied from ROM, .bss zeroed"),
    entry("SNP secrets", SNP_SECRETS_PAGE, Use::Ram, "SEV-SNP secrets page (later)"),
    entry("SNP CPUID", SNP_CPUID_PAGE, Use::Ram, "SEV-SNP CPUID page (later)"),
    entry("GHCB", GHCB_PAGES, Use::Ram, "SEV-SNP GHCB pages, shared (later)"),
    entry("TD HOB", TDX_TD_HOB, Use::Ram, "TDX TD_HOB section (later)"),
    entry("shared buffers", SHARED_BUFFERS, Use::Ram, "host-shared DMA: virtqueues, frame bounce buffers"),
    entry("heap", HEAP, Use::Ram, "the allocator's arena"),
];

/// The unmapped pages (the null page and every stack guard), as the start-up code leaves them
/// out of the first page table.
pub const GUARD_PAGES: [u64; 6] = [
    NULL_GUARD.start,
    IST_DOUBLE_FAULT.guard.start,
    IST_NMI.guard.start,
    IST_MACHINE_CHECK.guard.start,
    IST_VC_VE.guard.start,
    BOOT_STACK.guard.start,
];

/// The ROM map, in address order.
pub const ROM_MAP: [Entry; 6] = [
    entry("kernel image", ROM_IMAGE, Use::Rom, ".text, .rodata, .data load image; rest 0xFF"),
    entry("boot code", BOOT_CODE, Use::Rom, "16/32/64-bit start-up code, boot GDT"),
    entry("SNP AP entry", SNP_AP_ENTRY, Use::Rom, "SEV-SNP application processors start (and park) here"),
    entry("GUID tables", GUID_TABLE, Use::Rom, "SEV metadata, TDVF descriptor, OVMF footer table at 4G-0x30"),
    entry("32-bit entry", PROTECTED_MODE_ENTRY, Use::Rom, "TDX: continue in protected mode"),
    entry("reset vector", RESET_VECTOR, Use::Rom, "first instruction of every vCPU"),
];

/// Symbols the kernel's build script writes into the linker script (`name = value;`).
pub const LINKER_SYMBOLS: [(&str, u64); 13] = [
    ("ROM_START", ROM.start),
    ("ROM_END", ROM.end),
    ("ROM_VIRT_BASE", ROM_VIRT_BASE),
    ("ROM_IMAGE_END", ROM_IMAGE.end),
    ("BOOT_CODE_START", BOOT_CODE.start),
    ("BOOT_CODE_END", BOOT_CODE.end),
    ("SNP_AP_ENTRY", SNP_AP_ENTRY.start),
    ("GUID_TABLE_START", GUID_TABLE.start),
    ("PROTECTED_MODE_ENTRY", PROTECTED_MODE_ENTRY.start),
    ("RESET_VECTOR", RESET_VECTOR.start),
    ("BOOT_PAGE_SIZE", BOOT_PAGE.size()),
    ("DATA_BSS_START", DATA_BSS.start),
    ("DATA_BSS_END", DATA_BSS.end),
];

/// The OVMF-style GUIDed tables at the end of the ROM: what QEMU reads to launch the image under
/// SEV-SNP and TDX, and what `sev-snp-measure` and `fcc-image measure` read to recompute the
/// launch measurements. The image builder (`image-build/src/tables.rs`) serializes exactly this;
/// its parser (`image-build/src/ovmf.rs`) reads any image back.
///
/// Formats (all integers little-endian):
/// * footer table: entries `data ‖ u16 length ‖ GUID` packed downwards, the length covering the
///   entry's data, length and GUID; then the table's total length (u16, covering every entry plus
///   this length and the footer GUID) and the footer GUID [`FOOTER`], ending at 4 GiB − 0x20;
/// * SEV metadata (OVMF's "ASEV" block): `"ASEV" ‖ u32 length ‖ u32 version (1) ‖ u32 count`,
///   then per section `u32 gpa ‖ u32 size ‖ u32 type`;
/// * TDVF descriptor: `"TDVF" ‖ u32 length ‖ u32 version (1) ‖ u32 count`, then per section
///   `u32 data offset ‖ u32 raw data size ‖ u64 gpa ‖ u64 memory size ‖ u32 type ‖ u32 attributes`.
pub mod guid_tables {
    use super::{EARLY_RAM, GHCB_PAGES, SNP_CPUID_PAGE, SNP_SECRETS_PAGE, TDX_TD_HOB, TDX_TEMP_MEM};
    use super::{GUID_TABLE, GUID_TABLE_FOOTER, PAGE_SIZE, ROM, ROM_SIZE, Region, SNP_AP_ENTRY};

    /// A GUID in the byte order firmware stores it (the first three fields little-endian).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Guid(pub [u8; 16]);

    const fn hex(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("not a hex digit in a GUID"),
        }
    }

    impl Guid {
        /// From the usual text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
        pub const fn parse(text: &str) -> Guid {
            let t = text.as_bytes();
            assert!(t.len() == 36 && t[8] == b'-' && t[13] == b'-' && t[18] == b'-' && t[23] == b'-');
            // Big-endian bytes in text order, then the first three fields swapped.
            let mut be = [0u8; 16];
            let (mut i, mut j) = (0, 0);
            while i < 36 {
                if t[i] == b'-' {
                    i += 1;
                    continue;
                }
                be[j] = hex(t[i]) << 4 | hex(t[i + 1]);
                i += 2;
                j += 1;
            }
            let mut le = be;
            le[0] = be[3];
            le[1] = be[2];
            le[2] = be[1];
            le[3] = be[0];
            le[4] = be[5];
            le[5] = be[4];
            le[6] = be[7];
            le[7] = be[6];
            Guid(le)
        }
    }

    /// The footer GUID at 4 GiB − 0x30 (OVMF's table footer).
    pub const FOOTER: Guid = Guid::parse("96b582de-1fb2-45f7-baea-a366c55a082d");
    /// Footer-table entry: u32 offset from the end of the ROM to the SEV metadata block.
    pub const SEV_METADATA: Guid = Guid::parse("dc886566-984a-4798-a75e-5585a7bf67cc");
    /// Footer-table entry: u32 address where SEV-ES/SNP application processors start.
    pub const SEV_ES_RESET_BLOCK: Guid = Guid::parse("00f771de-1a7e-4fcb-890e-68c77e2fb44e");
    /// Footer-table entry QEMU looks the TDVF metadata up by (`TDX_METADATA_OFFSET_GUID` in its
    /// `hw/i386/tdvf.c`): u32 offset from the end of the ROM to the "TDVF" descriptor.
    pub const TDX_METADATA_OFFSET: Guid = Guid::parse("e47a6535-984a-4798-865e-4685a7bf8ec2");
    /// The GUID right before the "TDVF" descriptor (OVMF's `TdxMetadataGuid`).
    pub const TDVF_METADATA: Guid = Guid::parse("e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae");

    /// Signature of the SEV metadata block.
    pub const SEV_METADATA_SIGNATURE: [u8; 4] = *b"ASEV";
    /// Signature of the TDVF descriptor.
    pub const TDVF_SIGNATURE: [u8; 4] = *b"TDVF";
    /// Version of both blocks.
    pub const METADATA_VERSION: u32 = 1;

    /// SEV metadata section types (OVMF's `OVMF_SECTION_TYPE_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SnpSectionType {
        /// Memory the launch pre-validates (measured as zero pages).
        SecMem = 1,
        /// The secrets page.
        Secrets = 2,
        /// The CPUID page.
        Cpuid = 3,
        /// The SVSM calling-area page (measured as zero pages).
        SvsmCaa = 4,
        /// The kernel-hashes page (zero pages without `-kernel`).
        KernelHashes = 0x10,
    }

    impl SnpSectionType {
        /// The type from its number.
        pub const fn from_u32(v: u32) -> Option<Self> {
            match v {
                1 => Some(Self::SecMem),
                2 => Some(Self::Secrets),
                3 => Some(Self::Cpuid),
                4 => Some(Self::SvsmCaa),
                0x10 => Some(Self::KernelHashes),
                _ => None,
            }
        }
    }

    /// One SEV metadata section.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SnpSection {
        /// Guest-physical range (below 4 GiB, page-aligned).
        pub region: Region,
        /// What it is.
        pub kind: SnpSectionType,
    }

    /// The SEV metadata sections of this image, in the order the launch adds them: the early
    /// RAM pre-validated, then the secrets and CPUID pages. No kernel-hashes section: nothing is
    /// booted with `-kernel`.
    pub const SNP_SECTIONS: [SnpSection; 3] = [
        SnpSection { region: EARLY_RAM, kind: SnpSectionType::SecMem },
        SnpSection { region: SNP_SECRETS_PAGE, kind: SnpSectionType::Secrets },
        SnpSection { region: SNP_CPUID_PAGE, kind: SnpSectionType::Cpuid },
    ];

    /// The SEV-ES reset block's address: [`SNP_AP_ENTRY`].
    pub const SNP_AP_RESET_ADDRESS: u32 = SNP_AP_ENTRY.start as u32;

    /// TDVF section types (TDVF design guide); QEMU accepts only the first four.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TdvfSectionType {
        /// Boot firmware volume: code, with data in the image.
        Bfv = 0,
        /// Configuration firmware volume, with data in the image.
        Cfv = 1,
        /// Where the VMM writes the TD HOB; no data in the image.
        TdHob = 2,
        /// Temporary private memory; no data in the image.
        TempMem = 3,
    }

    impl TdvfSectionType {
        /// The type from its number (only those QEMU accepts).
        pub const fn from_u32(v: u32) -> Option<Self> {
            match v {
                0 => Some(Self::Bfv),
                1 => Some(Self::Cfv),
                2 => Some(Self::TdHob),
                3 => Some(Self::TempMem),
                _ => None,
            }
        }
    }

    /// TDVF section attribute: the VMM extends MRTD with the section's contents (TDH.MR.EXTEND).
    pub const TDVF_ATTR_MR_EXTEND: u32 = 1 << 0;
    /// TDVF section attribute: the pages are added after launch (TDH.MEM.PAGE.AUG), unmeasured.
    pub const TDVF_ATTR_PAGE_AUG: u32 = 1 << 1;

    /// One TDVF section.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct TdvfSection {
        /// Offset of the section's data in the image.
        pub data_offset: u32,
        /// Bytes of data in the image (0 for TD_HOB and TEMP_MEM).
        pub raw_data_size: u32,
        /// Guest-physical range.
        pub region: Region,
        /// What it is.
        pub kind: TdvfSectionType,
        /// [`TDVF_ATTR_MR_EXTEND`], [`TDVF_ATTR_PAGE_AUG`].
        pub attributes: u32,
    }

    /// The TDVF sections of this image, in the order the VMM adds (and measures) them: the whole
    /// ROM as BFV (MR.EXTEND), the TD HOB, the early RAM as TEMP_MEM.
    pub const TDVF_SECTIONS: [TdvfSection; 3] = [
        TdvfSection {
            data_offset: 0,
            raw_data_size: ROM_SIZE as u32,
            region: ROM,
            kind: TdvfSectionType::Bfv,
            attributes: TDVF_ATTR_MR_EXTEND,
        },
        TdvfSection {
            data_offset: 0,
            raw_data_size: 0,
            region: TDX_TD_HOB,
            kind: TdvfSectionType::TdHob,
            attributes: 0,
        },
        TdvfSection {
            data_offset: 0,
            raw_data_size: 0,
            region: TDX_TEMP_MEM,
            kind: TdvfSectionType::TempMem,
            attributes: 0,
        },
    ];

    /// Bytes of the SEV metadata header and of one section descriptor.
    pub const SEV_METADATA_HEADER: u64 = 16;
    /// Bytes of one SEV metadata section descriptor.
    pub const SEV_METADATA_ENTRY: u64 = 12;
    /// Bytes of the TDVF descriptor header.
    pub const TDVF_HEADER: u64 = 16;
    /// Bytes of one TDVF section descriptor.
    pub const TDVF_ENTRY: u64 = 32;
    /// Bytes a footer-table entry adds to its data (u16 length + GUID).
    pub const ENTRY_OVERHEAD: u64 = 18;

    /// The SEV metadata block: at the start of [`GUID_TABLE`].
    pub const SEV_METADATA_BLOCK: Region =
        Region::new(GUID_TABLE.start, SEV_METADATA_HEADER + SEV_METADATA_ENTRY * SNP_SECTIONS.len() as u64);
    /// [`TDVF_METADATA`], then the TDVF descriptor, 16-byte aligned after the SEV metadata.
    pub const TDVF_GUID_AT: u64 = SEV_METADATA_BLOCK.end.next_multiple_of(16);
    /// The TDVF descriptor.
    pub const TDVF_DESCRIPTOR: Region =
        Region::new(TDVF_GUID_AT + 16, TDVF_HEADER + TDVF_ENTRY * TDVF_SECTIONS.len() as u64);
    /// The footer-table entries from the lowest address up to the footer, each with its data
    /// size (every one is a u32).
    pub const FOOTER_ENTRIES: [(Guid, u64); 3] = [(TDX_METADATA_OFFSET, 4), (SEV_ES_RESET_BLOCK, 4), (SEV_METADATA, 4)];
    /// The footer table: every entry, the total length and the footer GUID.
    pub const FOOTER_TABLE: Region = {
        let mut size = ENTRY_OVERHEAD;
        let mut i = 0;
        while i < FOOTER_ENTRIES.len() {
            size += FOOTER_ENTRIES[i].1 + ENTRY_OVERHEAD;
            i += 1;
        }
        Region { start: GUID_TABLE_FOOTER + 16 - size, end: GUID_TABLE_FOOTER + 16 }
    };

    const fn check_sections() {
        let mut i = 0;
        while i < SNP_SECTIONS.len() {
            let r = SNP_SECTIONS[i].region;
            assert!(r.is_aligned(PAGE_SIZE) && r.start < r.end && r.end <= 1 << 32, "SNP section");
            assert!(!r.overlaps(&GHCB_PAGES) && !r.overlaps(&ROM), "SNP section over the GHCB or ROM");
            let mut j = 0;
            while j < i {
                assert!(!r.overlaps(&SNP_SECTIONS[j].region), "SNP sections overlap");
                j += 1;
            }
            i += 1;
        }
        let mut i = 0;
        while i < TDVF_SECTIONS.len() {
            let s = TDVF_SECTIONS[i];
            assert!(s.region.is_aligned(PAGE_SIZE) && s.region.start < s.region.end, "TDVF section");
            assert!(
                (s.data_offset as u64).is_multiple_of(PAGE_SIZE) && (s.raw_data_size as u64).is_multiple_of(PAGE_SIZE)
            );
            assert!(
                s.data_offset as u64 + s.raw_data_size as u64 <= ROM_SIZE && s.raw_data_size as u64 <= s.region.size()
            );
            let with_data = matches!(s.kind, TdvfSectionType::Bfv | TdvfSectionType::Cfv);
            assert!(with_data == (s.raw_data_size > 0), "only BFV/CFV carry data");
            assert!(with_data || s.attributes == 0, "TD_HOB/TEMP_MEM are not extended");
            let mut j = 0;
            while j < i {
                assert!(!s.region.overlaps(&TDVF_SECTIONS[j].region), "TDVF sections overlap");
                j += 1;
            }
            i += 1;
        }
    }

    const _: () = {
        check_sections();
        assert!(GUID_TABLE.contains_region(&SEV_METADATA_BLOCK) && GUID_TABLE.contains_region(&TDVF_DESCRIPTOR));
        assert!(TDVF_DESCRIPTOR.end <= FOOTER_TABLE.start, "GUID table blocks overlap the footer table");
        assert!(GUID_TABLE.contains_region(&FOOTER_TABLE) && FOOTER_TABLE.end == GUID_TABLE.end);
        assert!(SEV_METADATA_BLOCK.start.is_multiple_of(16) && FOOTER_TABLE.size() <= u16::MAX as u64);
    };
}

/// What the guest and the host side that launches it (QEMU command line, tests, benchmarks)
/// agree on besides addresses: fw_cfg file names, the test exit device, the console lines.
pub mod interface {
    /// fw_cfg file with the EVM chain id, a decimal string (`-fw_cfg name=…,string=14`).
    pub const FW_CFG_CHAIN_ID: &str = "opt/fcc/chain-id";
    /// The chain id when [`FW_CFG_CHAIN_ID`] is absent: 14, Flare mainnet.
    pub const DEFAULT_CHAIN_ID: u64 = 14;
    /// fw_cfg file choosing the policy-hash scheme: `chain-bound` (the default) or `legacy`.
    pub const FW_CFG_POLICY_HASH: &str = "opt/fcc/policy-hash";
    /// fw_cfg file with the extension id the TEE may be registered under, a decimal string
    /// (0 ..= 2^64 − 1). Set together with [`FW_CFG_OWNER`] or not at all: without them the TEE
    /// signs no registration data.
    pub const FW_CFG_EXTENSION_ID: &str = "opt/fcc/extension-id";
    /// fw_cfg file with the owner who may register the TEE, `0x` and 40 hex digits, non-zero.
    pub const FW_CFG_OWNER: &str = "opt/fcc/owner";
    /// fw_cfg file with the extension's governance (who may set the machine paths wallet keys
    /// move along): `<threshold>:<0x address>[,<0x address>…]`, at most 16 distinct signers.
    /// Needs the registration settings; committed in the registration data as `governanceHash`.
    pub const FW_CFG_GOVERNANCE: &str = "opt/fcc/governance";
    /// fw_cfg file (tests only): after READY, raise this fault: `ud2`, `pagefault` or
    /// `stack-overflow`; or `sign-loop`: sign digests with the identity key for ever (for an
    /// exception injected mid-signature).
    pub const FW_CFG_TEST_FAULT: &str = "opt/fcc/test-fault";
    /// fw_cfg file (tests only): when present, a plain guest prints its exceptions, refusals and
    /// panics as an SEV-SNP or TDX guest always does — the vector or a reason, nothing read from
    /// registers or memory. It can only withhold more, never less.
    pub const FW_CFG_TEST_REDACT: &str = "opt/fcc/test-redact";
    /// fw_cfg file (tests only): when present, leave QEMU through isa-debug-exit instead of
    /// halting, with [`EXIT_SUCCESS`] after READY or [`EXIT_FAILURE`] on any fatal error.
    pub const FW_CFG_TEST_EXIT: &str = "opt/fcc/test-exit";
    /// The isa-debug-exit I/O port (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
    pub const DEBUG_EXIT_PORT: u16 = 0xf4;
    /// Value written for success; QEMU exits with status `(value << 1) | 1` = 33.
    pub const EXIT_SUCCESS: u32 = 0x10;
    /// Value written for failure (exception, panic, fatal error); QEMU exits with 35.
    pub const EXIT_FAILURE: u32 = 0x11;
    /// QEMU's exit status for a guest-written `value`.
    pub const fn qemu_exit_status(value: u32) -> i32 {
        ((value << 1) | 1) as i32
    }
    /// Start of the one line the guest prints when it is ready:
    /// `READY tee=0x<40 hex digits> platform=<plain|sev-snp|tdx>`.
    pub const READY_PREFIX: &str = "READY tee=0x";
    /// Start of the boot-time line printed after READY:
    /// `BOOT reset_to_ready_us=<n> reset_to_main_us=<n> tsc_ticks=<n> tsc_khz=<n>` (`unknown` where
    /// the TSC frequency could not be measured).
    pub const BOOT_PREFIX: &str = "BOOT ";
    /// Start of every exception diagnostic: `EXCEPTION vector=<n> rip=0x… error=0x… …` (plain),
    /// `EXCEPTION vector=<n> name="…" (registers withheld)` (SEV-SNP, TDX).
    pub const EXCEPTION_PREFIX: &str = "EXCEPTION vector=";
    /// Start of every fatal-error line: `FATAL: <reason>`.
    pub const FATAL_PREFIX: &str = "FATAL: ";
    /// Start of the panic line: `PANIC: <message> at <file:line>`.
    pub const PANIC_PREFIX: &str = "PANIC: ";
    /// fw_cfg file with the proxy's address, `a.b.c.d:port` (IPv4, decimal port 1..=65535).
    pub const FW_CFG_PROXY: &str = "opt/fcc/proxy";
    /// fw_cfg file with the sealed state of an earlier boot (`-fw_cfg name=…,file=<blob>`), as
    /// the proxy stored it; absent or empty: a fresh identity.
    pub const FW_CFG_SEALED_STATE: &str = "opt/fcc/sealed-state";
    /// Start of the line saying what became of sealed state: `SEALED resumed: …`,
    /// `SEALED refused (<reason>): a fresh identity` or `SEALED ignored: …`.
    pub const SEALED_PREFIX: &str = "SEALED ";
    /// The proxy address when [`FW_CFG_PROXY`] is absent: QEMU user networking's host address.
    pub const DEFAULT_PROXY: &str = "10.0.2.2:6661";
    /// Printed when DHCP assigned the guest its address: `DHCP <a.b.c.d>/<prefix> ...`.
    pub const DHCP_PREFIX: &str = "DHCP ";
    /// Printed when a connection to the proxy is up: `LINK connected <a.b.c.d:port>`.
    pub const LINK_CONNECTED_PREFIX: &str = "LINK connected ";
    /// Printed once per lost connection or session error: `LINK closed: <reason>`.
    pub const LINK_CLOSED_PREFIX: &str = "LINK closed: ";
    /// Printed per action handled:
    /// `HANDLED op=<opType>/<opCommand> status=<0|1> us=<n> batch=<k>`; `us` is the guest's own
    /// time on it (decoding, handling, and the chunks of data it streamed), not time waited.
    pub const HANDLED_PREFIX: &str = "HANDLED ";
}

// ---------------------------------------------------------------------------------------------
// Compile-time checks: a layout that breaks any of these does not build.
// ---------------------------------------------------------------------------------------------

const fn check_map(map: &[Entry], align: u64) {
    let mut i = 0;
    while i < map.len() {
        let r = map[i].region;
        assert!(r.start < r.end, "empty or inverted region");
        assert!(r.is_aligned(align), "region not aligned");
        if i > 0 {
            assert!(map[i - 1].region.end <= r.start, "regions overlap or are out of order");
        }
        i += 1;
    }
}

const _: () = {
    // ROM.
    assert!(ROM_SIZE.is_multiple_of(64 * KIB), "QEMU -bios needs a multiple of 64 KiB");
    assert!(ROM_SIZE <= 1024 * KIB, "the ROM target is at most 1 MiB");
    assert!(ROM_SIZE <= LARGE_PAGE_SIZE, "the ROM must lie in the last 2 MiB page (mapped executable)");
    check_map(&ROM_MAP, 16);
    assert!(ROM_MAP[0].region.start == ROM.start && ROM_MAP[ROM_MAP.len() - 1].region.end == ROM.end);
    assert!(BOOT_PAGE.start >= FOUR_GIB - 64 * KIB, "real-mode code must lie in the last 64 KiB");
    assert!(BOOT_PAGE.start == BOOT_CODE.start && BOOT_PAGE.end == RESET_VECTOR.end);
    assert!(GUID_TABLE.contains_region(&Region::new(GUID_TABLE_FOOTER - 2, 18)), "footer outside the table area");
    assert!(SNP_AP_ENTRY.end <= 1 << 32 && SNP_AP_ENTRY.start >= FOUR_GIB - 64 * KIB, "AP entry in real-mode reach");
    assert!(PROTECTED_MODE_ENTRY.end == RESET_VECTOR.start && RESET_VECTOR.start == 0xFFFF_FFF0);
    assert!(ROM_VIRT_BASE == 0xFFFF_FFFF_FFF0_0000 || ROM_SIZE != 1024 * KIB);
    assert!(HIGH_ALIAS_PHYS.contains_region(&ROM) && HIGH_ALIAS_PHYS.end == FOUR_GIB);
    assert!(HIGH_ALIAS_PHYS.start.wrapping_add(HIGH_ALIAS_OFFSET) == 0xFFFF_FFFF_8000_0000, "alias = top 2 GiB");

    // RAM.
    check_map(&RAM_MAP, PAGE_SIZE);
    assert!(page_tables::USED_BYTES <= PAGE_TABLES.size(), "page tables overflow their region");
    assert!(page_tables::PD_COUNT * GIB == IDENTITY_MAP_END, "one page directory per GiB");
    assert!(EARLY_RAM.contains_region(&PAGE_TABLES) && EARLY_RAM.contains_region(&BOOT_STACK.slot()));
    assert!(EARLY_RAM.contains_region(&IST_DOUBLE_FAULT.slot()) && EARLY_RAM.contains_region(&DATA_BSS));
    assert!(!EARLY_RAM.overlaps(&SNP_SECRETS_PAGE) && !EARLY_RAM.overlaps(&SNP_CPUID_PAGE));
    assert!(!EARLY_RAM.overlaps(&GHCB_PAGES) && !EARLY_RAM.overlaps(&TDX_TD_HOB));
    assert!(TDX_TD_HOB.end <= SMALL_PAGE_WINDOW.end, "special pages inside the 4 KiB-mapped window");
    assert!(SHARED_BUFFERS.start >= SMALL_PAGE_WINDOW.end && SHARED_BUFFERS.end <= HEAP.start);
    assert!(HEAP.end <= 2 * GIB, "RAM symbols must stay below 2 GiB (kernel code model)");
    assert!(HEAP.is_aligned(LARGE_PAGE_SIZE));
    assert!(PCI_MMIO_WINDOW.is_aligned(LARGE_PAGE_SIZE) && PCI_MMIO_WINDOW.end <= IDENTITY_MAP_END);
    assert!(!PCI_MMIO_WINDOW.overlaps(&PCI_ECAM) && !PCI_MMIO_WINDOW.overlaps(&PLATFORM_MMIO));
    assert!(!PCI_MMIO_WINDOW.overlaps(&ROM) && PCI_MMIO_WINDOW.start >= MIN_RAM_END);
    assert!(PCI_MMIO_WINDOW.end <= u32::MAX as u64, "32-bit BARs must reach the window");
    let mut i = 0;
    while i < GUARD_PAGES.len() {
        assert!(GUARD_PAGES[i].is_multiple_of(PAGE_SIZE) && SMALL_PAGE_WINDOW.contains(GUARD_PAGES[i]));
        i += 1;
    }
    let stacks = [IST_DOUBLE_FAULT, IST_NMI, IST_MACHINE_CHECK, IST_VC_VE, BOOT_STACK];
    let mut i = 0;
    while i < stacks.len() {
        assert!(stacks[i].top().is_multiple_of(16) && stacks[i].stack.size() >= 16 * KIB);
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    extern crate std;
    use std::format;
    use std::string::String;

    use super::*;

    /// The memory-map tables as they appear in `guest/kernel/README.md`.
    fn markdown(map: &[Entry]) -> String {
        let mut out = String::from("| start | end | size | region | purpose |\n| --- | --- | --- | --- | --- |\n");
        for e in map {
            let size = match e.region.size() {
                s if s % MIB == 0 => format!("{} MiB", s / MIB),
                s if s % KIB == 0 => format!("{} KiB", s / KIB),
                s => format!("{s} B"),
            };
            out += &format!(
                "| `{:#010x}` | `{:#010x}` | {size} | {} | {} |\n",
                e.region.start, e.region.end, e.name, e.purpose
            );
        }
        out
    }

    #[test]
    fn kernel_readme_shows_the_current_layout() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../kernel/README.md");
        let readme = std::fs::read_to_string(path).expect("guest/kernel/README.md");
        for (what, map) in [("RAM", &RAM_MAP[..]), ("ROM", &ROM_MAP[..])] {
            let table = markdown(map);
            assert!(readme.contains(&table), "the {what} table in {path} is stale; it should read:\n{table}");
        }
    }

    #[test]
    fn regions() {
        let r = Region::new(0x1000, 0x1000);
        assert!(r.contains(0x1000) && !r.contains(0x2000));
        assert!(r.overlaps(&Region::new(0x1fff, 1)) && !r.overlaps(&Region::new(0x2000, 1)));
        assert!(ROM.contains(RESET_VECTOR.start) && ROM_IMAGE.size() == ROM_SIZE - PAGE_SIZE);
        assert_eq!(BOOT_STACK.top(), DATA_BSS.start);
    }
}
