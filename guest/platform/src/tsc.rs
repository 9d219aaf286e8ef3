//! Boot time: the TSC read at the reset vector against the TSC at READY, and the TSC frequency
//! from a short PIT calibration (run after READY, so it does not count in the boot time; the
//! platform layer decides where the PIT is the right source).
//! The numbers are diagnostics: under SEV-SNP/TDX the PIT is the host's and proves nothing.

use x86_64::instructions::port::Port;

/// The PIT's input clock, Hz.
const PIT_HZ: u64 = 1_193_182;
/// Calibration window: 10 ms of PIT ticks.
const CALIBRATION_TICKS: u16 = (PIT_HZ / 100) as u16;

/// The TSC now.
pub fn now() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter (CR4.TSD is clear: ring 0 anyway).
    unsafe { core::arch::x86_64::_rdtsc() }
}

static PIT_FREQUENCY: spin::Once<Option<u64>> = spin::Once::new();

/// TSC ticks per second, measured once per boot over 10 ms of PIT channel 2 (the first caller
/// waits), or `None` if the PIT's output never rose (no PIT). (A TD has no PIT: the platform
/// layer asks CPUID leaf 0x15 there.)
pub fn pit_frequency_hz() -> Option<u64> {
    *PIT_FREQUENCY.call_once(measure_pit)
}

fn measure_pit() -> Option<u64> {
    let mut control = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: PC speaker/PIT ports; programming channel 2 (speaker off, gate on) in mode 0 has
    // no effect on memory or on anything else the kernel uses.
    unsafe {
        let gate = (control.read() & !0x02) | 0x01;
        control.write(gate);
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write(CALIBRATION_TICKS as u8);
        channel2.write((CALIBRATION_TICKS >> 8) as u8);
    }
    // Mode 0 drives OUT2 low once the count is written; high already means there is no PIT.
    // SAFETY: as above; bit 5 of port 0x61 is channel 2's output.
    if unsafe { control.read() } & 0x20 != 0 {
        return None;
    }
    let start = now();
    // 10 ms is at most a few million polls; the bound only stops a PIT that never fires.
    for _ in 0..50_000_000u64 {
        // SAFETY: as above.
        if unsafe { control.read() } & 0x20 != 0 {
            let ticks = now().wrapping_sub(start);
            return Some(ticks * PIT_HZ / u64::from(CALIBRATION_TICKS));
        }
    }
    None
}

/// Microseconds for `ticks` at `hz`.
pub fn micros(ticks: u64, hz: u64) -> u64 {
    if hz == 0 { 0 } else { (u128::from(ticks) * 1_000_000 / u128::from(hz)) as u64 }
}
