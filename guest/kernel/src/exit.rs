//! How the kernel stops: it halts for ever or, when a test asked for it (fw_cfg
//! `opt/fcc/test-exit`), leaves QEMU through the isa-debug-exit device so the test sees an exit
//! status instead of a VM that has to be killed.

use core::sync::atomic::{AtomicBool, Ordering};

use fcc_layout::interface::{DEBUG_EXIT_PORT, EXIT_FAILURE, EXIT_SUCCESS};
use x86_64::instructions::port::Port;

static TEST_EXIT: AtomicBool = AtomicBool::new(false);

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Reached READY and did what the test asked.
    Success,
    /// An exception, a panic or a fatal error.
    Failure,
}

/// From now on [`stop`] leaves QEMU through isa-debug-exit.
pub fn enable_test_exit() {
    TEST_EXIT.store(true, Ordering::SeqCst);
}

/// Stops the boot CPU: exits QEMU if tests asked for it (and the device exists), else halts
/// with interrupts disabled, for ever.
pub fn stop(outcome: Outcome) -> ! {
    if TEST_EXIT.load(Ordering::SeqCst) {
        let value = match outcome {
            Outcome::Success => EXIT_SUCCESS,
            Outcome::Failure => EXIT_FAILURE,
        };
        if crate::sev::active() {
            // Straight through the GHCB: `stop` may run inside the #VC handler.
            let _ = crate::sev::io_write(DEBUG_EXIT_PORT, 4, value);
        } else if crate::tdx::active() {
            // Straight through TDG.VP.VMCALL: `stop` may run inside the #VE handler.
            let _ = crate::tdx::io_write(DEBUG_EXIT_PORT, 4, value);
        } else {
            let mut port = Port::<u32>::new(DEBUG_EXIT_PORT);
            // SAFETY: writing the isa-debug-exit port makes QEMU exit; without that device the
            // write goes nowhere. No memory is touched either way.
            unsafe { port.write(value) };
        }
    }
    if crate::tdx::active() {
        // HLT would raise #VE (and `stop` may run inside the #VE handler).
        crate::tdx::halt();
    }
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
