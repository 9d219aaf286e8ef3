//! PCI: configuration space through the legacy port mechanism (0xCF8 address, 0xCFC data) —
//! under the ROM q35's ECAM stays disabled, nobody programmed it — enumeration of bus 0, and the
//! device's memory BARs ([`Bars`]): placed inside fcc-layout's `PCI_MMIO_WINDOW` by the ROM (no
//! firmware ran, so nothing else assigns them), or kept where the firmware put them by the UEFI
//! edition (checked all the same).
//!
//! Everything read from configuration space is host input: loops are bounded, sizes and
//! alignments checked, and nonsense is an error the caller turns into one `FATAL` line.
//! Devices behind PCI bridges are not looked at: QEMU puts `-device virtio-net-pci` on bus 0
//! unless told otherwise.

use alloc::vec::Vec;

use fcc_layout::{PAGE_SIZE, Region};

/// A memory BAR to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarRequest {
    /// BAR index, 0..=5.
    pub index: u8,
    /// Size the device reports (must be a power of two).
    pub size: u64,
    /// Whether it is a 64-bit BAR (two registers).
    pub wide: bool,
}

/// Where a BAR goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarPlacement {
    /// BAR index.
    pub index: u8,
    /// Its assigned address and size.
    pub region: Region,
}

/// Places `bars` inside `window`, each naturally aligned (and at least page aligned, so no two
/// share a page), largest first so that no alignment gap is wasted. Refuses a size that is not
/// a power of two, a 32-bit BAR the window cannot serve, and a set that does not fit.
pub fn place_bars(bars: &[BarRequest], window: Region) -> Result<Vec<BarPlacement>, &'static str> {
    if bars.len() > 6 {
        return Err("more than six BARs");
    }
    let mut order: Vec<BarRequest> = bars.to_vec();
    order.sort_by(|a, b| b.size.cmp(&a.size).then(a.index.cmp(&b.index)));
    let mut cursor = window.start;
    let mut out = Vec::with_capacity(order.len());
    for bar in order {
        if bar.index > 5 || (bar.wide && bar.index > 4) {
            return Err("BAR index out of range");
        }
        if !bar.size.is_power_of_two() || bar.size < 16 {
            return Err("BAR size is not a power of two of at least 16 bytes");
        }
        if bar.size > window.size() {
            return Err("BAR larger than the MMIO window");
        }
        let align = bar.size.max(PAGE_SIZE);
        let start = cursor.checked_next_multiple_of(align).ok_or("BAR placement overflows")?;
        let end = start.checked_add(bar.size).ok_or("BAR placement overflows")?;
        if end > window.end {
            return Err("the device's BARs do not fit in the MMIO window");
        }
        if !bar.wide && end > u64::from(u32::MAX) + 1 {
            return Err("32-bit BAR above 4 GiB");
        }
        out.push(BarPlacement { index: bar.index, region: Region { start, end } });
        cursor = end.next_multiple_of(PAGE_SIZE);
    }
    Ok(out)
}

/// Checks BARs the firmware assigned: each a power of two of at least 16 bytes, naturally
/// aligned, not at 0, not wrapping, no two sharing a byte, at most six.
pub fn check_assigned(bars: &[BarPlacement]) -> Result<(), &'static str> {
    if bars.len() > 6 {
        return Err("more than six BARs");
    }
    for (i, bar) in bars.iter().enumerate() {
        let Region { start, end } = bar.region;
        let size = end.checked_sub(start).ok_or("a BAR ends before it starts")?;
        if bar.index > 5 || !size.is_power_of_two() || size < 16 {
            return Err("an assigned BAR's index or size is invalid");
        }
        if start == 0 || !start.is_multiple_of(size) {
            return Err("an assigned BAR is unassigned or not naturally aligned");
        }
        if bars[i + 1..].iter().any(|other| other.index == bar.index || other.region.overlaps(&bar.region)) {
            return Err("two BARs overlap");
        }
    }
    Ok(())
}

/// A virtio vendor capability as read from configuration space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioCap {
    /// Which BAR.
    pub bar: u8,
    /// Offset in the BAR.
    pub offset: u32,
    /// Length.
    pub length: u32,
}

/// Checks that a virtio capability lies inside one of the placed BARs.
pub fn check_virtio_cap(cap: VirtioCap, placed: &[BarPlacement]) -> Result<(), &'static str> {
    let bar = placed.iter().find(|p| p.index == cap.bar).ok_or("a virtio capability names an unassigned BAR")?;
    let end = u64::from(cap.offset) + u64::from(cap.length);
    if cap.length == 0 || end > bar.region.size() {
        return Err("a virtio capability lies outside its BAR");
    }
    Ok(())
}

/// The walk of a capability list: at most this many entries (48 fit in 192 bytes of
/// configuration space), each offset visited once.
pub const MAX_CAPABILITIES: usize = 48;

/// Walks a capability list given a reader of the configuration-space dword at an offset;
/// returns (offset, id) of every entry. Refuses loops, offsets into the header or unaligned.
pub fn walk_capabilities(first: u8, read: &mut dyn FnMut(u8) -> u32) -> Result<Vec<(u8, u8)>, &'static str> {
    let mut seen = [false; 256];
    let mut out = Vec::new();
    let mut next = first & 0xFC;
    while next != 0 {
        if next < 0x40 {
            return Err("a capability pointer points into the header");
        }
        if seen[usize::from(next)] || out.len() >= MAX_CAPABILITIES {
            return Err("the capability list loops");
        }
        seen[usize::from(next)] = true;
        let header = read(next);
        out.push((next, header as u8));
        let pointer = (header >> 8) as u8;
        if pointer & 3 != 0 {
            return Err("an unaligned capability pointer");
        }
        next = pointer;
    }
    Ok(out)
}

/// Where the device's memory BARs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bars {
    /// Placed inside this window (the ROM: no firmware ran, nothing else assigns them).
    Place(Region),
    /// Kept where the firmware assigned them (the UEFI edition), after [`check_assigned`].
    Firmware,
}

/// Makes the device's memory BARs reachable before the driver touches them (in a TD: the shared
/// bit in their mappings and the #VE handler's MMIO windows); `Err` says why not.
pub type Expose = fn(&[Region]) -> Result<(), &'static str>;

/// The [`Expose`] of an edition whose BARs are reachable already (plain machines; the ROM, whose
/// PCI window is shared at boot).
pub fn reachable(_: &[Region]) -> Result<(), &'static str> {
    Ok(())
}

#[cfg(any(target_os = "none", target_os = "uefi"))]
pub use device::find_virtio_net;

#[cfg(any(target_os = "none", target_os = "uefi"))]
mod device {
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    use fcc_layout::Region;
    use virtio_drivers::transport::DeviceType;
    use virtio_drivers::transport::pci::bus::{
        BarInfo, Command, ConfigurationAccess, DeviceFunction, HeaderType, PciRoot, Status,
    };
    use virtio_drivers::transport::pci::virtio_device_type;
    use x86_64::instructions::port::Port;

    use super::{
        BarPlacement, BarRequest, Bars, Expose, VirtioCap, check_assigned, check_virtio_cap, place_bars,
        walk_capabilities,
    };

    const ADDRESS_PORT: u16 = 0xCF8;
    const DATA_PORT: u16 = 0xCFC;
    /// PCI capability id of vendor-specific capabilities (virtio's).
    const CAP_VENDOR: u8 = 0x09;

    /// Configuration access through ports 0xCF8/0xCFC (configuration mechanism #1).
    #[derive(Debug)]
    pub struct PortCam(());

    impl PortCam {
        /// The port mechanism. One instance per boot: it is the only user of the two ports.
        pub fn new() -> Self {
            PortCam(())
        }

        fn select(df: DeviceFunction, offset: u8) {
            let address = 0x8000_0000
                | u32::from(df.bus) << 16
                | u32::from(df.device & 0x1F) << 11
                | u32::from(df.function & 0x7) << 8
                | u32::from(offset & 0xFC);
            let mut port = Port::<u32>::new(ADDRESS_PORT);
            // SAFETY: the PCI configuration address register; writing it selects a dword of
            // configuration space and touches no memory.
            unsafe { port.write(address) }
        }
    }

    impl ConfigurationAccess for PortCam {
        fn read_word(&self, df: DeviceFunction, offset: u8) -> u32 {
            Self::select(df, offset);
            let mut port = Port::<u32>::new(DATA_PORT);
            // SAFETY: the configuration data register for the dword selected just above; a read
            // touches no memory (single CPU, no interrupts: nothing re-selects in between).
            unsafe { port.read() }
        }

        fn write_word(&mut self, df: DeviceFunction, offset: u8, data: u32) {
            Self::select(df, offset);
            let mut port = Port::<u32>::new(DATA_PORT);
            // SAFETY: as in `read_word`; what a write does is up to the device, and the callers
            // only write command registers and BARs inside the MMIO window.
            unsafe { port.write(data) }
        }

        unsafe fn unsafe_clone(&self) -> Self {
            PortCam(())
        }
    }

    /// The virtio-net function found, its BARs placed and enabled.
    pub struct VirtioNetFunction {
        /// The PCI root (owns the configuration access).
        pub root: PciRoot<PortCam>,
        /// Bus/device/function.
        pub function: DeviceFunction,
    }

    /// Looks for a virtio-net device on bus 0; places its memory BARs ([`Bars`]), hands them to
    /// the DMA layer as the only MMIO it maps and to `expose`, and enables memory decoding and
    /// bus mastering. `Ok(None)`: there is no such device.
    pub fn find_virtio_net(bars: Bars, expose: Expose) -> Result<Option<VirtioNetFunction>, String> {
        let mut root = PciRoot::new(PortCam::new());
        // At most 32 devices × 8 functions: the iterator is bounded.
        let found = root.enumerate_bus(0).find(|(_, info)| {
            info.header_type == HeaderType::Standard && virtio_device_type(info) == Some(DeviceType::Network)
        });
        let Some((function, info)) = found else { return Ok(None) };
        crate::println!(
            "PCI {:02x}:{:02x}.{} {:04x}:{:04x} virtio-net",
            function.bus,
            function.device,
            function.function,
            info.vendor_id,
            info.device_id
        );

        // Decoding off while the BARs move (or are read).
        let (status, command) = root.get_status_command(function);
        root.set_command(function, command - (Command::IO_SPACE | Command::MEMORY_SPACE | Command::BUS_MASTER));

        let infos = root.bars(function).map_err(|e| format!("PCI BARs of the virtio-net device: {e}"))?;
        let mut requests = Vec::new();
        let mut assigned = Vec::new();
        for (index, bar) in infos.iter().enumerate() {
            if let Some(BarInfo::Memory { address, size, .. }) = bar {
                let wide = bar.as_ref().is_some_and(BarInfo::takes_two_entries);
                requests.push(BarRequest { index: index as u8, size: *size, wide });
                let end = address.checked_add(*size).ok_or("virtio-net: a BAR wraps")?;
                assigned.push(BarPlacement { index: index as u8, region: Region { start: *address, end } });
            }
        }
        let placed = match bars {
            Bars::Place(window) => {
                let placed = place_bars(&requests, window).map_err(|e| format!("virtio-net BARs: {e}"))?;
                for p in &placed {
                    if requests.iter().any(|r| r.index == p.index && r.wide) {
                        root.set_bar_64(function, p.index, p.region.start);
                    } else {
                        root.set_bar_32(function, p.index, p.region.start as u32);
                    }
                }
                placed
            }
            Bars::Firmware => {
                check_assigned(&assigned).map_err(|e| format!("virtio-net BARs: {e}"))?;
                assigned
            }
        };
        for p in &placed {
            crate::println!("PCI BAR{} [{:#x}, {:#x})", p.index, p.region.start, p.region.end);
        }
        let regions: Vec<Region> = placed.iter().map(|p| p.region).collect();
        crate::dma::allow_mmio(&regions).map_err(|e| format!("virtio-net BARs: {e}"))?;
        expose(&regions).map_err(|e| format!("virtio-net BARs: {e}"))?;

        // The virtio capabilities must be a finite list and point inside the placed BARs
        // (virtio-drivers walks the list again without a loop bound).
        if !status.contains(Status::CAPABILITIES_LIST) {
            return Err("the virtio-net device has no capability list".into());
        }
        // The port mechanism is stateless: a second handle reads the same configuration space.
        let cam = PortCam::new();
        let first = cam.read_word(function, 0x34) as u8;
        let caps = walk_capabilities(first, &mut |offset| cam.read_word(function, offset))
            .map_err(|e| format!("virtio-net capabilities: {e}"))?;
        for &(offset, id) in &caps {
            if id != CAP_VENDOR {
                continue;
            }
            let read = |at: u8| cam.read_word(function, offset.saturating_add(at));
            let cap = VirtioCap { bar: read(4) as u8, offset: read(8), length: read(12) };
            let header = read(0);
            let (cap_len, cfg_type) = ((header >> 16) as u8, (header >> 24) as u8);
            // Common, notify, ISR and device configuration: the structures the driver maps.
            // (Type 5, the PCI configuration access window, names no BAR it uses.)
            if cap_len >= 16 && (1..=4).contains(&cfg_type) {
                check_virtio_cap(cap, &placed).map_err(|e| format!("virtio-net: {e}"))?;
            }
        }

        let enable = (command - Command::IO_SPACE) | Command::MEMORY_SPACE | Command::BUS_MASTER;
        root.set_command(function, enable | Command::INTERRUPT_DISABLE);
        Ok(Some(VirtioNetFunction { root, function }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Region = Region { start: 0xC000_0000, end: 0xC100_0000 };

    #[test]
    fn bars_are_aligned_and_disjoint() {
        let bars = [
            BarRequest { index: 1, size: 0x1000, wide: false },
            BarRequest { index: 4, size: 0x4000, wide: true },
            BarRequest { index: 0, size: 0x20, wide: false },
        ];
        let placed = place_bars(&bars, WINDOW).unwrap();
        assert_eq!(placed[0], BarPlacement { index: 4, region: Region::new(0xC000_0000, 0x4000) });
        assert_eq!(placed[1], BarPlacement { index: 1, region: Region::new(0xC000_4000, 0x1000) });
        assert_eq!(placed[2], BarPlacement { index: 0, region: Region::new(0xC000_5000, 0x20) });
        for (i, a) in placed.iter().enumerate() {
            assert!(a.region.start.is_multiple_of(a.region.size().max(PAGE_SIZE)));
            assert!(WINDOW.contains_region(&a.region));
            assert!(placed[i + 1..].iter().all(|b| !a.region.overlaps(&b.region)));
        }
    }

    #[test]
    fn nonsense_bars_are_refused() {
        let one = |index, size, wide| place_bars(&[BarRequest { index, size, wide }], WINDOW);
        assert!(one(0, 0x3000, false).is_err(), "not a power of two");
        assert!(one(0, 8, false).is_err(), "too small");
        assert!(one(0, 0, false).is_err());
        assert!(one(0, 1 << 40, true).is_err(), "larger than the window");
        assert!(one(6, 0x1000, false).is_err());
        assert!(one(5, 0x1000, true).is_err(), "a 64-bit BAR needs two registers");
        let two = [
            BarRequest { index: 0, size: 0x80_0000, wide: false },
            BarRequest { index: 1, size: 0x100_0000, wide: false },
        ];
        assert!(place_bars(&two, WINDOW).is_err(), "does not fit");
        assert!(place_bars(&[BarRequest { index: 0, size: 0x1000, wide: false }; 7], WINDOW).is_err());
    }

    #[test]
    fn firmware_bars_are_checked() {
        let bar = |index, start, size| BarPlacement { index, region: Region::new(start, size) };
        // OVMF's placement of a modern virtio-net: a 4 KiB BAR1 below 4 GiB, a 16 KiB BAR4 above.
        let ovmf = [bar(1, 0xC000_1000, 0x1000), bar(4, 0x8_0000_0000, 0x4000)];
        assert_eq!(check_assigned(&ovmf), Ok(()));
        assert_eq!(check_assigned(&[]), Ok(()));
        let refused: [&[BarPlacement]; 8] = [
            &[bar(0, 0, 0x1000)],
            &[bar(0, 0xC000_0800, 0x1000)],
            &[bar(0, 0xC000_0000, 0x3000)],
            &[bar(0, 0xC000_0000, 8)],
            &[bar(6, 0xC000_0000, 0x1000)],
            &[bar(0, 0xC000_0000, 0x2000), bar(1, 0xC000_1000, 0x1000)],
            &[bar(0, 0xC000_0000, 0x1000), bar(0, 0xC000_1000, 0x1000)],
            &[BarPlacement { index: 0, region: Region { start: 0x2000, end: 0x1000 } }],
        ];
        for bars in refused {
            assert!(check_assigned(bars).is_err(), "{bars:?}");
        }
        assert!(check_assigned(&[bar(0, 0xC000_0000, 0x1000); 7]).is_err(), "seven BARs");
        assert_eq!(check_assigned(&[bar(0, 0xC000_0000, 16)]), Ok(()), "the smallest BAR");
    }

    #[test]
    fn virtio_caps_must_lie_in_their_bar() {
        let placed = [BarPlacement { index: 4, region: Region::new(0xC000_0000, 0x4000) }];
        assert!(check_virtio_cap(VirtioCap { bar: 4, offset: 0x3000, length: 0x1000 }, &placed).is_ok());
        assert!(check_virtio_cap(VirtioCap { bar: 4, offset: 0x3000, length: 0x1001 }, &placed).is_err());
        assert!(check_virtio_cap(VirtioCap { bar: 4, offset: u32::MAX, length: 2 }, &placed).is_err(), "no wrap");
        assert!(check_virtio_cap(VirtioCap { bar: 1, offset: 0, length: 4 }, &placed).is_err());
        assert!(check_virtio_cap(VirtioCap { bar: 4, offset: 0, length: 0 }, &placed).is_err());
    }

    #[test]
    fn capability_walks_are_bounded() {
        // 0x40 -> 0x50 -> end.
        let mut space = [0u32; 64];
        space[0x40 / 4] = 0x5009;
        space[0x50 / 4] = 0x0011;
        let mut read = |o: u8| space[usize::from(o) / 4];
        assert_eq!(walk_capabilities(0x40, &mut read), Ok(std::vec![(0x40, 0x09), (0x50, 0x11)]));
        // A loop, a pointer into the header, an unaligned pointer.
        let mut looped = [0u32; 64];
        looped[0x40 / 4] = 0x5009;
        looped[0x50 / 4] = 0x4009;
        assert!(walk_capabilities(0x40, &mut |o| looped[usize::from(o) / 4]).is_err());
        assert!(walk_capabilities(0x10, &mut |_| 0).is_err());
        assert!(walk_capabilities(0x40, &mut |_| 0x4109).is_err());
        assert_eq!(walk_capabilities(0, &mut |_| unreachable!()), Ok(std::vec![]));
    }
}
