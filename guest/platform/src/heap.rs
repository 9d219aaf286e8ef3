//! The heap both editions allocate from: talc over one region of RAM the edition hands over once
//! (the ROM: fcc-layout's `HEAP`; the UEFI edition: pages the firmware gave it before
//! ExitBootServices), failing an allocation cleanly when it is full.

use talc::{ErrOnOom, Span, Talc, Talck};

/// Bytes of heap each edition gives: fcc-layout's `HEAP`.
pub const SIZE: u64 = fcc_layout::HEAP.size();

/// What the kernel itself keeps on the heap — the link's two 64 KiB TCP buffers, smoltcp's
/// tables, the sealed blob — with room to spare.
const KERNEL_HEAP_RESERVE: u64 = 1024 * 1024;

// The heap holds the core's worst case (`HEAP_BUDGET`, measured with every structure at its
// bound) and the kernel's own use with a fifth to spare for the allocator's overhead and
// fragmentation: an allocation failure would halt the guest.
const _: () = assert!(
    SIZE >= (fcc_core::limits::HEAP_BUDGET as u64 + KERNEL_HEAP_RESERVE) * 6 / 5,
    "the heap is smaller than the core's memory budget allows"
);

#[global_allocator]
static ALLOCATOR: Talck<spin::Mutex<()>, ErrOnOom> = Talc::new(ErrOnOom).lock();

/// Gives `size` bytes at `base` to the allocator.
///
/// # Safety
/// The region must be RAM, mapped writable, used by nothing else for as long as the program
/// runs, and handed over once.
pub unsafe fn claim(base: *mut u8, size: usize) -> Result<(), &'static str> {
    let span = Span::from_base_size(base, size);
    // SAFETY: the caller's promise: the span is ours alone, writable, for ever.
    unsafe { ALLOCATOR.lock().claim(span) }.map(|_| ()).map_err(|()| "the allocator refused the heap region")
}
