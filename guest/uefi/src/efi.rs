//! The UEFI entry point, COM1 and the firmware's event log.

use core::fmt::Write;

use fcc_cvm_abi::eventlog::Log;
use uefi::mem::memory_map::MemoryMap;
use uefi::proto::unsafe_protocol;
use uefi::{Status, boot, entry};
use uefi_raw::protocol::tcg::v2::{Tcg2EventLogFormat, Tcg2Protocol};
use x86_64::instructions::port::Port;

/// The first serial port; the firmware has set it up (115200 8N1) for its own console.
struct Com1;

impl Com1 {
    const DATA: u16 = 0x3f8;
    const LINE_STATUS: u16 = 0x3fd;
    const THR_EMPTY: u8 = 0x20;

    fn byte(&mut self, b: u8) {
        let mut status: Port<u8> = Port::new(Self::LINE_STATUS);
        let mut data: Port<u8> = Port::new(Self::DATA);
        // SAFETY: COM1's registers: reading the line status and writing the data register have
        // no effect beyond the UART; the firmware's console uses the same port, and nothing else
        // of ours runs concurrently (one CPU, no interrupts of ours).
        unsafe {
            for _ in 0..100_000 {
                if status.read() & Self::THR_EMPTY != 0 {
                    break;
                }
            }
            data.write(b);
        }
    }
}

impl Write for Com1 {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.byte(b'\r');
            }
            self.byte(b);
        }
        Ok(())
    }
}

/// EFI_TCG2_PROTOCOL as the specification defines it: `uefi`'s `Tcg` hides where the log lies,
/// which is what the host needs to read it whole.
#[repr(transparent)]
#[unsafe_protocol(Tcg2Protocol::GUID)]
struct RawTcg2(Tcg2Protocol);

/// Most bytes of event log written out (OVMF's log area is 64 KiB).
const MAX_LOG: usize = 1 << 20;

/// The firmware's crypto-agile event log up to and including its last event, or why not.
fn event_log() -> Result<&'static [u8], &'static str> {
    let handle = boot::get_handle_for_protocol::<RawTcg2>().map_err(|_| "no EFI_TCG2_PROTOCOL (no TPM)")?;
    let mut tcg = boot::open_protocol_exclusive::<RawTcg2>(handle).map_err(|_| "EFI_TCG2_PROTOCOL did not open")?;
    let (mut location, mut last, mut truncated) = (0u64, 0u64, Default::default());
    let this: *mut Tcg2Protocol = &mut tcg.0;
    // SAFETY: the firmware's own protocol function, called with the protocol it came from and
    // pointers to our locals, as the TCG EFI Protocol specification (§6.5) defines.
    let status =
        unsafe { (tcg.0.get_event_log)(this, Tcg2EventLogFormat::TCG_2, &mut location, &mut last, &mut truncated) };
    if status != Status::SUCCESS {
        return Err("GetEventLog failed");
    }
    if location == 0 || last < location || (last - location) as usize > MAX_LOG {
        return Err("GetEventLog returned no log");
    }
    let before_last = (last - location) as usize;
    if before_last == 0 {
        return Err("the log holds its header only");
    }
    // SAFETY: GetEventLog says the log starts at `location` and its last event at `last`; the
    // firmware keeps it in boot-services memory that stays mapped (identity) while we run. The
    // last event is a TCG_PCR_EVENT2 (the header is not it), at least 16 bytes long.
    let head = unsafe { core::slice::from_raw_parts(location as *const u8, before_last + 16) };
    // The last event's length: its fixed fields, then the header's digests, then its data size.
    let log = Log::parse(head).map_err(|_| "the log's header does not read")?;
    let digests: usize = log.algorithms().iter().map(|&(_, len)| 2 + usize::from(len)).sum();
    let size_at = before_last + 12 + digests;
    // SAFETY: as above: the size field lies inside the last event.
    let size_field = unsafe { core::slice::from_raw_parts((location as usize + size_at) as *const u8, 4) };
    let size = u32::from_le_bytes(size_field.try_into().expect("4 bytes")) as usize;
    let len = size_at + 4 + size;
    if len > MAX_LOG {
        return Err("the log's last event is too long");
    }
    // SAFETY: as above: the log runs to the end of its last event.
    Ok(unsafe { core::slice::from_raw_parts(location as *const u8, len) })
}

#[entry]
fn main() -> Status {
    let mut out = Com1;
    let _ = writeln!(out, "fcc-guest-uefi: started (the firmware measured this image before it ran)");
    match event_log() {
        Ok(log) => {
            let _ = writeln!(out, "EVENTLOG BEGIN {}", log.len());
            for line in log.chunks(64) {
                let _ = out.write_str("EVENTLOG ");
                for b in line {
                    let _ = write!(out, "{b:02x}");
                }
                let _ = out.write_str("\n");
            }
            let _ = writeln!(out, "EVENTLOG END");
        }
        Err(why) => {
            let _ = writeln!(out, "fcc-guest-uefi: no event log: {why}");
        }
    }
    // SAFETY: nothing of ours holds a boot-services object past this point (the protocol above
    // was closed when its scope ended; the log is only read before).
    let map = unsafe { boot::exit_boot_services(None) };
    let _ = writeln!(out, "fcc-guest-uefi: boot services exited ({} memory map entries)", map.len());
    halt()
}

/// Stops this CPU for good (no interrupt of the firmware's wakes it).
fn halt() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let _ = writeln!(Com1, "fcc-guest-uefi: PANIC: {info}");
    halt()
}
