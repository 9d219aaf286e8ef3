//! `cargo xtask bench-boot`: the ROM's size, QEMU exec → READY wall time (median of several
//! runs) and reset → READY as the guest measures it with the TSC, under each usable accelerator.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use fcc_layout::interface::{BOOT_PREFIX, EXIT_SUCCESS, READY_PREFIX, qemu_exit_status};

use fcc_qemu::{Accel, BootOptions, Guest, HostAccel, KvmProbe, TCG_CPU, boot_field};

/// How long one boot may take before the bench gives up.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Median of a non-empty list.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// One accelerator's numbers, in milliseconds.
#[derive(Debug, Clone)]
pub struct Timings {
    /// Accelerator.
    pub accel: Accel,
    /// QEMU spawn → READY line read, per run.
    pub exec_to_ready_ms: Vec<f64>,
    /// Reset vector → READY by the guest's TSC, per run (absent where it could not calibrate).
    pub reset_to_ready_ms: Vec<f64>,
    /// Reset vector → Rust entry (the start-up assembly), per run.
    pub reset_to_main_ms: Vec<f64>,
}

/// Boots `rom` `runs` times under `host`'s accelerator and CPU model.
pub fn measure(rom: &Path, host: &HostAccel, runs: usize) -> Result<Timings> {
    let accel = host.accel;
    let mut t = Timings { accel, exec_to_ready_ms: vec![], reset_to_ready_ms: vec![], reset_to_main_ms: vec![] };
    for _ in 0..runs {
        let mut guest = Guest::boot(&BootOptions::on_host(rom, host).test_exit())?;
        let (_, elapsed) = guest.wait_for(READY_PREFIX, BOOT_TIMEOUT)?;
        let (boot, _) = guest.wait_for(BOOT_PREFIX, BOOT_TIMEOUT)?;
        let status = guest.wait_exit(BOOT_TIMEOUT)?;
        ensure!(status.code() == Some(qemu_exit_status(EXIT_SUCCESS)), "guest failed ({status}):\n{}", guest.output());
        t.exec_to_ready_ms.push(elapsed.as_secs_f64() * 1e3);
        if let Some(us) = boot_field(&boot, "reset_to_ready_us") {
            t.reset_to_ready_ms.push(us as f64 / 1e3);
        }
        if let Some(us) = boot_field(&boot, "reset_to_main_us") {
            t.reset_to_main_ms.push(us as f64 / 1e3);
        }
    }
    Ok(t)
}

fn summary(values: &[f64]) -> String {
    if values.is_empty() {
        return "unknown".into();
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("median {:.1} ms (min {min:.1}, max {max:.1}, {} runs)", median(values.to_vec()), values.len())
}

/// Prints the ROM's size and the boot times under KVM (where QEMU starts under it: probed, with
/// the CPU model the probe found) and TCG.
pub fn run(rom_path: &Path, runs: usize) -> Result<()> {
    let rom = std::fs::read(rom_path).with_context(|| format!("reading {}", rom_path.display()))?;
    let used = rom.iter().filter(|&&b| b != fcc_layout::ROM_FILL).count();
    println!(
        "ROM {}: {} bytes ({} KiB), {} KiB not fill",
        rom_path.display(),
        rom.len(),
        rom.len() / 1024,
        used / 1024
    );
    let mut hosts = vec![];
    match fcc_qemu::probe_kvm() {
        probe @ KvmProbe::Usable { cpu, .. } => {
            hosts.push(HostAccel { accel: Accel::Kvm, cpu: cpu.clone(), why: probe.describe() });
        }
        KvmProbe::Unusable(why) => println!("kvm: SKIPPED ({why})"),
    }
    hosts.push(HostAccel { accel: Accel::Tcg, cpu: TCG_CPU.into(), why: "TCG".into() });
    for host in hosts {
        let t = measure(rom_path, &host, runs)?;
        let note = if host.accel == Accel::Kvm && fcc_qemu::kvm_is_pvm() {
            "  [kvm_pvm: this KVM emulates non-PVM guests; not a KVM number]"
        } else {
            ""
        };
        println!("{} (-cpu {}):{note}", host.accel.name(), host.cpu);
        println!("  QEMU exec -> READY (wall):  {}", summary(&t.exec_to_ready_ms));
        println!("  reset -> READY (guest TSC): {}", summary(&t.reset_to_ready_ms));
        println!("  reset -> Rust entry (TSC):  {}", summary(&t.reset_to_main_ms));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
