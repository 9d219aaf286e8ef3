//! The serial console: a 16550 UART on COM1 (I/O port 0x3F8), polled, write-only. Every line
//! the kernel prints goes here; QEMU's `-serial stdio` shows it.
//!
//! The UART is reached through the platform's port route ([`init`]): direct on plain QEMU/KVM,
//! straight through the GHCB under SEV-SNP and TDG.VP.VMCALL under TDX, never by a #VC or #VE, so
//! the handlers of those can print their own diagnostics.

use core::fmt;

use spin::Once;

use crate::port::{Native, PortIo};

/// COM1.
const COM1: u16 = 0x3F8;

// Register offsets from the base port.
const DATA: u16 = 0; // transmit holding / divisor latch low (DLAB = 1)
const INTERRUPT_ENABLE: u16 = 1; // divisor latch high (DLAB = 1)
const FIFO_CONTROL: u16 = 2;
const LINE_CONTROL: u16 = 3;
const MODEM_CONTROL: u16 = 4;
const LINE_STATUS: u16 = 5;

const LINE_STATUS_THR_EMPTY: u8 = 1 << 5;

/// The port route, set once by [`init`] (direct `IN`/`OUT` until then).
static PORTS: Once<&'static dyn PortIo> = Once::new();

fn ports() -> &'static dyn PortIo {
    PORTS.get().copied().unwrap_or(&Native)
}

fn write_register(offset: u16, value: u8) {
    // A refused write loses a console byte, nothing else.
    let _ = ports().write(COM1 + offset, 1, value.into());
}

fn read_register(offset: u16) -> u8 {
    // Refused: all ones, which reads as "transmitter empty", so the writer never waits.
    ports().read(COM1 + offset, 1).map_or(0xff, |v| v as u8)
}

/// Programs COM1 for 115200 baud, 8N1, FIFOs on, interrupts off, reached through `ports` from
/// now on (the platform's route: `platform::Platform::ports`).
pub fn init(ports: &'static dyn PortIo) {
    PORTS.call_once(|| ports);
    write_register(INTERRUPT_ENABLE, 0x00);
    write_register(LINE_CONTROL, 0x80); // DLAB: the next two writes set the divisor
    write_register(DATA, 0x01); // 115200 / 1
    write_register(INTERRUPT_ENABLE, 0x00);
    write_register(LINE_CONTROL, 0x03); // 8 data bits, no parity, 1 stop bit
    write_register(FIFO_CONTROL, 0xC7); // enable and clear the FIFOs
    write_register(MODEM_CONTROL, 0x03); // DTR, RTS
}

// Out of line (as `write_str`): with three ways to reach the UART, inlined copies at every
// `println!` cost kilobytes of ROM.
#[inline(never)]
fn write_byte(byte: u8) {
    // Bounded wait: a missing or stuck UART must not hang the kernel (QEMU's is always ready).
    for _ in 0..100_000 {
        if read_register(LINE_STATUS) & LINE_STATUS_THR_EMPTY != 0 {
            break;
        }
        core::hint::spin_loop();
    }
    write_register(DATA, byte);
}

/// Lower-case hex of a byte string, for console lines.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A writer to COM1. It holds no state, so panic and exception handlers can make their own
/// without waiting for a lock a crashed path may hold.
pub struct Console;

impl fmt::Write for Console {
    #[inline(never)]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                write_byte(b'\r');
            }
            write_byte(byte);
        }
        Ok(())
    }
}

/// `print!` to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::serial::Console, $($arg)*);
    }};
}

/// `println!` to the serial console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::serial::Console, $($arg)*);
    }};
}
