//! DMA for virtio: the `virtio_drivers::Hal` of this kernel. The device only ever sees two parts
//! of fcc-layout's shared region (`fcc_layout::shared`):
//!
//! * `dma_alloc` hands out zeroed pages of `VIRTQUEUES` for the virtqueues;
//! * `share`/`unshare` copy every buffer the driver gives the device (network frames: the
//!   driver's RX/TX buffers live on the private heap) through a page-sized slot of `BOUNCE`.
//!
//! Memory is identity-mapped, so physical = virtual. On SEV-SNP and TDX the platform layer makes
//! the region shared once at start-up (`platform::Platform::share_dma_region`), before the
//! device is touched. Because every buffer goes through a bounce slot, nothing but frames (which
//! travel in the clear on the wire anyway) is ever written to shared memory: no key, session
//! state or heap data.

use fcc_layout::PAGE_SIZE;
use fcc_layout::shared::{BOUNCE, BOUNCE_SLOTS as SLOTS};

/// Bounce-slot bookkeeping, portable so it is host-tested.
#[derive(Debug)]
pub struct Slots {
    used: [bool; SLOTS],
}

impl Slots {
    /// All free.
    pub const fn new() -> Self {
        Self { used: [false; SLOTS] }
    }

    /// Takes a free slot; its physical address.
    pub fn take(&mut self) -> Option<u64> {
        let i = self.used.iter().position(|u| !u)?;
        self.used[i] = true;
        Some(BOUNCE.start + i as u64 * PAGE_SIZE)
    }

    /// Frees the slot at `paddr`; `false` if that is not a slot in use.
    pub fn free(&mut self, paddr: u64) -> bool {
        if !BOUNCE.contains(paddr) || !(paddr - BOUNCE.start).is_multiple_of(PAGE_SIZE) {
            return false;
        }
        let i = ((paddr - BOUNCE.start) / PAGE_SIZE) as usize;
        core::mem::replace(&mut self.used[i], false)
    }
}

#[cfg(target_os = "none")]
pub use device::FccHal;

#[cfg(target_os = "none")]
mod device {
    use core::ptr::NonNull;

    use fcc_layout::shared::VIRTQUEUES;
    use fcc_layout::{PAGE_SIZE, PCI_MMIO_WINDOW, Region};
    use spin::Mutex;
    use virtio_drivers::{BufferDirection, Hal, PhysAddr};

    use super::Slots;

    struct State {
        /// Next free page of `VIRTQUEUES`.
        next_queue_page: u64,
        slots: Slots,
    }

    static STATE: Mutex<State> = Mutex::new(State { next_queue_page: VIRTQUEUES.start, slots: Slots::new() });

    fn ptr(paddr: u64) -> *mut u8 {
        // Identity map: physical = virtual (below 4 GiB).
        core::ptr::with_exposed_provenance_mut(paddr as usize)
    }

    /// The kernel's virtio HAL (see the module documentation).
    #[derive(Debug)]
    pub struct FccHal;

    // SAFETY: `dma_alloc` returns zeroed, page-aligned, identity-mapped pages of VIRTQUEUES that
    // no one else uses and that are never handed out twice; `mmio_phys_to_virt` only returns
    // pointers inside the MMIO window where the kernel placed the device's BARs; `share` returns
    // a bounce slot owned by that buffer until `unshare`.
    unsafe impl Hal for FccHal {
        fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
            let mut state = STATE.lock();
            let start = state.next_queue_page;
            let end = (pages as u64).checked_mul(PAGE_SIZE).and_then(|len| start.checked_add(len));
            match end {
                Some(end) if pages > 0 && end <= VIRTQUEUES.end => {
                    state.next_queue_page = end;
                    // SAFETY: [start, end) is inside VIRTQUEUES (RAM, checked at boot, identity-mapped
                    // writable), handed out for the first time just now.
                    unsafe { ptr(start).write_bytes(0, (end - start) as usize) };
                    (start, NonNull::new(ptr(start)).expect("VIRTQUEUES does not start at 0"))
                }
                // Physical address 0 is how the crate's `Dma::new` learns of a failure.
                _ => (0, NonNull::dangling()),
            }
        }

        unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
            // Only a dropped device frees its queues, and the kernel keeps its one device for the
            // whole boot: the pages stay reserved.
            0
        }

        unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
            let region = Region { start: paddr, end: paddr.saturating_add(size as u64) };
            assert!(
                size > 0 && PCI_MMIO_WINDOW.contains_region(&region),
                "virtio MMIO [{paddr:#x}, +{size:#x}) outside the PCI MMIO window"
            );
            NonNull::new(ptr(paddr)).expect("the MMIO window does not start at 0")
        }

        unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
            let len = buffer.len();
            assert!(len as u64 <= PAGE_SIZE, "a virtio buffer of {len} bytes does not fit a bounce slot");
            let slot = STATE.lock().slots.take().expect("all virtio bounce slots in use");
            // SAFETY: `slot` is a page of BOUNCE now owned by this buffer; `buffer` is valid
            // for `len` bytes (the caller's contract) and private memory, so the two do not overlap.
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
            assert!(STATE.lock().slots.free(paddr), "unshare of {paddr:#x}, which is not a bounce slot in use");
            if direction != BufferDirection::DriverToDevice {
                // SAFETY: `paddr` is a bounce slot (checked just above), one page of BOUNCE;
                // `buffer` is valid for `len` ≤ one page bytes (the caller's contract) and private.
                unsafe { core::ptr::copy_nonoverlapping(ptr(paddr), buffer.as_ptr().cast::<u8>(), len) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcc_layout::shared::VIRTQUEUES;

    #[test]
    fn slots_are_taken_and_freed_once() {
        let mut s = Slots::new();
        let a = s.take().unwrap();
        let b = s.take().unwrap();
        assert_eq!((a, b), (BOUNCE.start, BOUNCE.start + PAGE_SIZE));
        assert!(s.free(a));
        assert!(!s.free(a), "double free");
        assert!(!s.free(b + 1) && !s.free(VIRTQUEUES.start) && !s.free(BOUNCE.end));
        assert_eq!(s.take(), Some(a));
        while s.take().is_some() {}
        assert!(s.free(b));
        assert_eq!(s.take(), Some(b));
        assert_eq!(s.take(), None);
    }
}
