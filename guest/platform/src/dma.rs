//! DMA for virtio: the `virtio_drivers::Hal` both editions use. The device only ever sees the
//! DMA region the edition hands over once ([`init`]: the ROM gives fcc-layout's shared region,
//! `fcc_layout::shared`; the UEFI edition pages the firmware gave it) and the device's own BARs
//! ([`allow_mmio`], once PCI has placed or read them):
//!
//! * `dma_alloc` hands out zeroed pages of the region's `queues` part for the virtqueues;
//! * `share`/`unshare` copy every buffer the driver gives the device (network frames: the
//!   driver's RX/TX buffers live on the private heap) through a page-sized slot of its `bounce`
//!   part.
//!
//! Memory is identity-mapped, so physical = virtual. On SEV-SNP and TDX the platform layer makes
//! the region shared once at start-up (the ROM's `platform::Platform::share_dma_region`), before
//! the device is touched. Because every buffer goes through a bounce slot, nothing but frames
//! (which travel in the clear on the wire anyway) is ever written to shared memory: no key,
//! session state or heap data.

use fcc_layout::shared::BOUNCE_SLOTS as SLOTS;
use fcc_layout::{PAGE_SIZE, Region};

/// Bytes of the bounce part: one page per slot.
pub const BOUNCE_LEN: u64 = SLOTS as u64 * PAGE_SIZE;

/// The DMA region an edition hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaRegion {
    /// Virtqueue pages.
    pub queues: Region,
    /// Bounce slots: [`BOUNCE_LEN`] bytes.
    pub bounce: Region,
}

impl DmaRegion {
    /// Checks the parts: page-aligned, not at 0, disjoint, the bounce part exactly
    /// [`BOUNCE_LEN`].
    pub fn check(&self) -> Result<(), &'static str> {
        let aligned = |r: &Region| r.start != 0 && r.end > r.start && r.is_aligned(PAGE_SIZE);
        if !aligned(&self.queues) || !aligned(&self.bounce) {
            return Err("the DMA region's parts must be page-aligned, non-empty and not at address 0");
        }
        if self.bounce.size() != BOUNCE_LEN {
            return Err("the bounce part must hold exactly BOUNCE_SLOTS pages");
        }
        if self.queues.overlaps(&self.bounce) {
            return Err("the DMA region's parts overlap");
        }
        Ok(())
    }
}

/// Bounce-slot bookkeeping, portable so it is host-tested.
#[derive(Debug)]
pub struct Slots {
    base: u64,
    used: [bool; SLOTS],
}

impl Slots {
    /// All free, over the [`BOUNCE_LEN`] bytes at `base`.
    pub const fn new(base: u64) -> Self {
        Self { base, used: [false; SLOTS] }
    }

    /// Takes a free slot; its physical address.
    pub fn take(&mut self) -> Option<u64> {
        let i = self.used.iter().position(|u| !u)?;
        self.used[i] = true;
        Some(self.base + i as u64 * PAGE_SIZE)
    }

    /// Frees the slot at `paddr`; `false` if that is not a slot in use.
    pub fn free(&mut self, paddr: u64) -> bool {
        let Some(offset) = paddr.checked_sub(self.base) else { return false };
        if offset >= BOUNCE_LEN || !offset.is_multiple_of(PAGE_SIZE) {
            return false;
        }
        core::mem::replace(&mut self.used[(offset / PAGE_SIZE) as usize], false)
    }
}

#[cfg(any(target_os = "none", target_os = "uefi"))]
pub use device::{FccHal, allow_mmio, init};

#[cfg(any(target_os = "none", target_os = "uefi"))]
mod device {
    use core::ptr::NonNull;

    use fcc_layout::{PAGE_SIZE, Region};
    use spin::Mutex;
    use virtio_drivers::{BufferDirection, Hal, PhysAddr};

    use super::{DmaRegion, Slots};

    /// Most MMIO regions (a device's BARs) the HAL maps.
    const MAX_MMIO: usize = 6;

    struct State {
        queues: Region,
        /// Next free page of `queues`.
        next_queue_page: u64,
        slots: Slots,
        mmio: [Option<Region>; MAX_MMIO],
    }

    static STATE: Mutex<Option<State>> = Mutex::new(None);

    /// Hands the DMA region over, once, before the device is touched.
    ///
    /// # Safety
    /// Both parts must be RAM, identity-mapped writable, used by nothing else for as long as the
    /// program runs (the device may write them at any time once it has been given them).
    pub unsafe fn init(region: DmaRegion) -> Result<(), &'static str> {
        region.check()?;
        let mut state = STATE.lock();
        if state.is_some() {
            return Err("the DMA region was handed over twice");
        }
        *state = Some(State {
            queues: region.queues,
            next_queue_page: region.queues.start,
            slots: Slots::new(region.bounce.start),
            mmio: [None; MAX_MMIO],
        });
        Ok(())
    }

    /// The device's BARs: the only MMIO the HAL maps (checked by PCI: sized, aligned, where
    /// they were placed or the firmware put them).
    pub fn allow_mmio(bars: &[Region]) -> Result<(), &'static str> {
        let mut state = STATE.lock();
        let state = state.as_mut().ok_or("the DMA region has not been handed over")?;
        if bars.len() > MAX_MMIO {
            return Err("more than six BARs");
        }
        state.mmio = [None; MAX_MMIO];
        for (slot, bar) in state.mmio.iter_mut().zip(bars) {
            *slot = Some(*bar);
        }
        Ok(())
    }

    fn ptr(paddr: u64) -> *mut u8 {
        // Identity map: physical = virtual.
        core::ptr::with_exposed_provenance_mut(paddr as usize)
    }

    /// The guest's virtio HAL (see the module documentation).
    #[derive(Debug)]
    pub struct FccHal;

    // SAFETY: `dma_alloc` returns zeroed, page-aligned, identity-mapped pages of the handed-over
    // `queues` that no one else uses and that are never handed out twice; `mmio_phys_to_virt`
    // only returns pointers inside the device's own BARs; `share` returns a bounce slot owned by
    // that buffer until `unshare`.
    unsafe impl Hal for FccHal {
        fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
            let mut state = STATE.lock();
            let Some(state) = state.as_mut() else { return (0, NonNull::dangling()) };
            let start = state.next_queue_page;
            let end = (pages as u64).checked_mul(PAGE_SIZE).and_then(|len| start.checked_add(len));
            match end {
                Some(end) if pages > 0 && end <= state.queues.end => {
                    state.next_queue_page = end;
                    // SAFETY: [start, end) is inside `queues` (RAM, identity-mapped writable, ours
                    // alone: `init`'s contract), handed out for the first time just now.
                    unsafe { ptr(start).write_bytes(0, (end - start) as usize) };
                    (start, NonNull::new(ptr(start)).expect("`check` refuses a region at 0"))
                }
                // Physical address 0 is how the crate's `Dma::new` learns of a failure.
                _ => (0, NonNull::dangling()),
            }
        }

        unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
            // Only a dropped device frees its queues, and the guest keeps its one device for the
            // whole boot: the pages stay reserved.
            0
        }

        unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
            let region = Region { start: paddr, end: paddr.saturating_add(size as u64) };
            let state = STATE.lock();
            let allowed = state.as_ref().is_some_and(|s| s.mmio.iter().flatten().any(|b| b.contains_region(&region)));
            assert!(size > 0 && allowed, "virtio MMIO [{paddr:#x}, +{size:#x}) outside the device's BARs");
            NonNull::new(ptr(paddr)).expect("a BAR at address 0")
        }

        unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
            let len = buffer.len();
            assert!(len as u64 <= PAGE_SIZE, "a virtio buffer of {len} bytes does not fit a bounce slot");
            let slot = STATE.lock().as_mut().and_then(|s| s.slots.take()).expect("all virtio bounce slots in use");
            // SAFETY: `slot` is a bounce page now owned by this buffer; `buffer` is valid for
            // `len` bytes (the caller's contract) and private memory, so the two do not overlap.
            unsafe {
                if direction == BufferDirection::DeviceToDriver {
                    ptr(slot).write_bytes(0, len);
                } else {
                    core::ptr::copy_nonoverlapping(buffer.as_ptr().cast::<u8>(), ptr(slot), len);
                }
            }
            slot
        }

        unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
            let len = buffer.len().min(PAGE_SIZE as usize);
            // Freed first (single CPU, nothing can take it before the copy below): a `paddr` that
            // is not a slot in use stops here instead of being read from.
            let freed = STATE.lock().as_mut().is_some_and(|s| s.slots.free(paddr));
            assert!(freed, "unshare of {paddr:#x}, which is not a bounce slot in use");
            if direction != BufferDirection::DriverToDevice {
                // SAFETY: `paddr` is a bounce slot (checked just above), one page of `bounce`;
                // `buffer` is valid for `len` ≤ one page bytes (the caller's contract) and private.
                unsafe { core::ptr::copy_nonoverlapping(ptr(paddr), buffer.as_ptr().cast::<u8>(), len) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcc_layout::shared::{BOUNCE, VIRTQUEUES};

    #[test]
    fn slots_are_taken_and_freed_once() {
        let mut s = Slots::new(BOUNCE.start);
        let a = s.take().unwrap();
        let b = s.take().unwrap();
        assert_eq!((a, b), (BOUNCE.start, BOUNCE.start + PAGE_SIZE));
        assert!(s.free(a));
        assert!(!s.free(a), "double free");
        assert!(!s.free(b + 1) && !s.free(VIRTQUEUES.start) && !s.free(BOUNCE.end) && !s.free(BOUNCE.start - 1));
        assert_eq!(s.take(), Some(a));
        while s.take().is_some() {}
        assert!(s.free(b));
        assert_eq!(s.take(), Some(b));
        assert_eq!(s.take(), None);
        assert!(s.free(BOUNCE.end - PAGE_SIZE), "the last slot");
    }

    #[test]
    fn the_region_is_checked() {
        let rom = DmaRegion { queues: VIRTQUEUES, bounce: BOUNCE };
        assert_eq!(BOUNCE.size(), BOUNCE_LEN);
        assert_eq!(rom.check(), Ok(()));
        let at = |start: u64, len: u64| Region::new(start, len);
        let bad = [
            DmaRegion { bounce: at(BOUNCE.start, BOUNCE_LEN - PAGE_SIZE), ..rom },
            DmaRegion { bounce: at(BOUNCE.start, BOUNCE_LEN + PAGE_SIZE), ..rom },
            DmaRegion { bounce: at(BOUNCE.start + 1, BOUNCE_LEN), ..rom },
            DmaRegion { queues: at(0, 2 * PAGE_SIZE), ..rom },
            DmaRegion { queues: at(VIRTQUEUES.start, 0), ..rom },
            DmaRegion { queues: at(BOUNCE.start - PAGE_SIZE, 2 * PAGE_SIZE), ..rom },
            DmaRegion { queues: Region { start: VIRTQUEUES.end, end: VIRTQUEUES.start }, ..rom },
        ];
        for r in bad {
            assert!(r.check().is_err(), "{r:?}");
        }
    }
}
