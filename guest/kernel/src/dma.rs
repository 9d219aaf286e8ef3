//! DMA for virtio: the `virtio_drivers::Hal` of this kernel. The device only ever sees
//! fcc-layout's `SHARED_BUFFERS`:
//!
//! * `dma_alloc` hands out zeroed pages of its first part ([`QUEUE_AREA`]) for the virtqueues;
//! * `share`/`unshare` copy every buffer the driver gives the device (network frames: the
//!   driver's RX/TX buffers live on the private heap) through a page-sized bounce slot of its
//!   second part ([`BOUNCE_AREA`]).
//!
//! Memory is identity-mapped, so physical = virtual. On SEV-SNP and TDX this region is converted
//! to shared memory once at start-up — [`convert_to_shared`] is that one place (SNP: C-bit
//! cleared in its mappings, page-state change to shared; it was never validated, so no
//! `PVALIDATE` rescind; TDX: shared bit in its mappings, `TDG.VP.VMCALL<MapGPA>`). Because
//! every buffer goes through a bounce slot, nothing but frames (which travel
//! in the clear on the wire anyway) is ever written to shared memory: no key, session state or
//! heap data.

use fcc_layout::{PAGE_SIZE, Region, SHARED_BUFFERS};

/// Virtqueue pages (`dma_alloc`).
pub const QUEUE_AREA: Region = Region { start: SHARED_BUFFERS.start, end: SHARED_BUFFERS.start + 2 * 1024 * 1024 };
/// Bounce slots (`share`/`unshare`), one page each.
pub const BOUNCE_AREA: Region = Region { start: QUEUE_AREA.end, end: QUEUE_AREA.end + SLOTS as u64 * PAGE_SIZE };
/// Number of bounce slots: one per RX buffer in the queue, plus room for transmits.
pub const SLOTS: usize = 128;

const _: () = assert!(SHARED_BUFFERS.contains_region(&BOUNCE_AREA));

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
        Some(BOUNCE_AREA.start + i as u64 * PAGE_SIZE)
    }

    /// Frees the slot at `paddr`; `false` if that is not a slot in use.
    pub fn free(&mut self, paddr: u64) -> bool {
        if !BOUNCE_AREA.contains(paddr) || !(paddr - BOUNCE_AREA.start).is_multiple_of(PAGE_SIZE) {
            return false;
        }
        let i = ((paddr - BOUNCE_AREA.start) / PAGE_SIZE) as usize;
        core::mem::replace(&mut self.used[i], false)
    }
}

#[cfg(target_os = "none")]
pub use device::{FccHal, convert_to_shared};

#[cfg(target_os = "none")]
mod device {
    use core::ptr::NonNull;

    use fcc_layout::{PAGE_SIZE, PCI_MMIO_WINDOW, Region};
    use spin::Mutex;
    use virtio_drivers::{BufferDirection, Hal, PhysAddr};

    use super::{QUEUE_AREA, Slots};

    struct State {
        /// Next free page of `QUEUE_AREA`.
        next_queue_page: u64,
        slots: Slots,
    }

    static STATE: Mutex<State> = Mutex::new(State { next_queue_page: QUEUE_AREA.start, slots: Slots::new() });

    /// Makes the shared region visible to the host, before the first `dma_alloc`. Plain
    /// QEMU/KVM: nothing to do (the host sees all guest memory). SEV-SNP: C-bit cleared and
    /// page-state change to shared (`sev::share_dma_region`). TDX: shared bit set and MapGPA
    /// (`tdx::share_dma_region`). The error is the platform's, ready to print.
    pub fn convert_to_shared() -> Result<(), &'static dyn core::fmt::Display> {
        static SNP: spin::Once<crate::sev::MemoryError> = spin::Once::new();
        static TDX: spin::Once<crate::tdx::TdxError> = spin::Once::new();
        crate::sev::share_dma_region().map_err(|e| SNP.call_once(|| e) as &dyn core::fmt::Display)?;
        crate::tdx::share_dma_region().map_err(|e| TDX.call_once(|| e) as &dyn core::fmt::Display)
    }

    fn ptr(paddr: u64) -> *mut u8 {
        // Identity map: physical = virtual (below 4 GiB).
        core::ptr::with_exposed_provenance_mut(paddr as usize)
    }

    /// The kernel's virtio HAL (see the module documentation).
    #[derive(Debug)]
    pub struct FccHal;

    // SAFETY: `dma_alloc` returns zeroed, page-aligned, identity-mapped pages of QUEUE_AREA that
    // no one else uses and that are never handed out twice; `mmio_phys_to_virt` only returns
    // pointers inside the MMIO window where the kernel placed the device's BARs; `share` returns
    // a bounce slot owned by that buffer until `unshare`.
    unsafe impl Hal for FccHal {
        fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
            let mut state = STATE.lock();
            let start = state.next_queue_page;
            let end = (pages as u64).checked_mul(PAGE_SIZE).and_then(|len| start.checked_add(len));
            match end {
                Some(end) if pages > 0 && end <= QUEUE_AREA.end => {
                    state.next_queue_page = end;
                    // SAFETY: [start, end) is inside QUEUE_AREA (RAM, checked at boot, identity-mapped
                    // writable), handed out for the first time just now.
                    unsafe { ptr(start).write_bytes(0, (end - start) as usize) };
                    (start, NonNull::new(ptr(start)).expect("QUEUE_AREA does not start at 0"))
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
            // SAFETY: `slot` is a page of BOUNCE_AREA now owned by this buffer; `buffer` is valid
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
                // SAFETY: `paddr` is a bounce slot (checked just above), one page of BOUNCE_AREA;
                // `buffer` is valid for `len` ≤ one page bytes (the caller's contract) and private.
                unsafe { core::ptr::copy_nonoverlapping(ptr(paddr), buffer.as_ptr().cast::<u8>(), len) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_and_freed_once() {
        let mut s = Slots::new();
        let a = s.take().unwrap();
        let b = s.take().unwrap();
        assert_eq!((a, b), (BOUNCE_AREA.start, BOUNCE_AREA.start + PAGE_SIZE));
        assert!(s.free(a));
        assert!(!s.free(a), "double free");
        assert!(!s.free(b + 1) && !s.free(QUEUE_AREA.start) && !s.free(BOUNCE_AREA.end));
        assert_eq!(s.take(), Some(a));
        while s.take().is_some() {}
        assert!(s.free(b));
        assert_eq!(s.take(), Some(b));
        assert_eq!(s.take(), None);
    }
}
