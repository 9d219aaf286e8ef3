//! How the kernel stops: it halts for ever (a confidential guest that failed asks its host to end
//! it) or, when a test asked for it (fw_cfg `opt/fcc/test-exit`), leaves QEMU through the
//! isa-debug-exit device so the test sees an exit status instead of a VM that has to be killed.
//! [`fatal`] is every boot step's way out.
//!
//! What a stopping guest may say: on SEV-SNP and TDX the host can inject an exception at any
//! instruction, in the middle of a signature or a key derivation, so the diagnostics print the
//! vector or a reason and nothing read from registers or memory ([`diagnostics_redacted`]).
//! Plain QEMU keeps the full register dump for developers.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use fcc_guest_platform::println;
use fcc_layout::interface::{DEBUG_EXIT_PORT, EXIT_FAILURE, EXIT_SUCCESS};

use crate::platform;

static TEST_EXIT: AtomicBool = AtomicBool::new(false);
static REDACTED: AtomicBool = AtomicBool::new(false);

/// From now on diagnostics carry no register or memory contents (set once the platform is known
/// to be confidential, or by the test setting `opt/fcc/test-redact`; never unset).
pub fn redact_diagnostics() {
    REDACTED.store(true, Ordering::SeqCst);
}

/// Whether diagnostics must not carry register or memory contents.
pub fn diagnostics_redacted() -> bool {
    REDACTED.load(Ordering::SeqCst)
}

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
/// with interrupts disabled, for ever — or, after a failure on SEV-SNP or TDX, asks the host to
/// end the guest. Safe inside the #VC/#VE handlers: the platform's port route raises neither.
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
    match outcome {
        Outcome::Success => platform.halt(),
        Outcome::Failure => platform.fail(),
    }
}

/// [`stop`] after a failure (`interrupts::Handlers::stop`).
pub fn stop_failed() -> ! {
    stop(Outcome::Failure)
}

/// Prints `FATAL: <reason>` and stops (exits QEMU with the failure status under tests).
pub fn fatal(reason: fmt::Arguments<'_>) -> ! {
    println!("FATAL: {reason}");
    stop(Outcome::Failure)
}
