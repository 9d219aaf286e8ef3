//! How a failure the guest cannot go on from ends it. The edition installs its way once at boot
//! (the ROM: `exit::fatal`, which knows the platform, redaction and the test exit device); the
//! shared code here ([`crate::net`]) calls [`fatal`], which prints `FATAL: <reason>` and halts if
//! nothing was installed.

use core::fmt;

/// An edition's fatal-error handler: it says why and never returns.
pub type Handler = fn(fmt::Arguments<'_>) -> !;

static HANDLER: spin::Once<Handler> = spin::Once::new();

/// Installs the edition's handler (the first call wins).
pub fn install(handler: Handler) {
    HANDLER.call_once(|| handler);
}

/// Ends the guest with `reason`.
pub fn fatal(reason: fmt::Arguments<'_>) -> ! {
    match HANDLER.get() {
        Some(handler) => handler(reason),
        None => {
            crate::println!("FATAL: {reason}");
            x86_64::instructions::interrupts::disable();
            loop {
                x86_64::instructions::hlt();
            }
        }
    }
}

static PANICKING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Prints the `PANIC` line of the first panic (a panic while printing it prints nothing more):
/// where `redacted` (a confidential guest), only where it panicked — a panic message may format
/// values read from memory.
pub fn print_panic(info: &core::panic::PanicInfo<'_>, redacted: bool) {
    if PANICKING.swap(true, core::sync::atomic::Ordering::SeqCst) {
        return;
    }
    match info.location() {
        Some(at) if redacted => crate::println!("PANIC: (message withheld) at {}:{}", at.file(), at.line()),
        None if redacted => crate::println!("PANIC: (message withheld)"),
        Some(at) => crate::println!("PANIC: {} at {}:{}", info.message(), at.file(), at.line()),
        None => crate::println!("PANIC: {}", info.message()),
    }
}
