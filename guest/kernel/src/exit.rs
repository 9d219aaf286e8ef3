//! How the kernel stops: it halts for ever or, when a test asked for it (fw_cfg
//! `opt/fcc/test-exit`), leaves QEMU through the isa-debug-exit device so the test sees an exit
//! status instead of a VM that has to be killed. [`fatal`] is every boot step's way out.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use fcc_layout::interface::{DEBUG_EXIT_PORT, EXIT_FAILURE, EXIT_SUCCESS};

use crate::{platform, println};

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
/// with interrupts disabled, for ever. Safe inside the #VC/#VE handlers: the platform's port
/// route raises neither.
pub fn stop(outcome: Outcome) -> ! {
    let platform = platform::current();
    if TEST_EXIT.load(Ordering::SeqCst) {
        let value = match outcome {
            Outcome::Success => EXIT_SUCCESS,
            Outcome::Failure => EXIT_FAILURE,
        };
        // Without the device the write goes nowhere.
        let _ = platform.ports().write(DEBUG_EXIT_PORT, 4, value);
    }
    platform.halt()
}

/// Prints `FATAL: <reason>` and stops (exits QEMU with the failure status under tests).
pub fn fatal(reason: fmt::Arguments<'_>) -> ! {
    println!("FATAL: {reason}");
    stop(Outcome::Failure)
}
