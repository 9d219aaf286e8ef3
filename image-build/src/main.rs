//! `fcc-image`: build the guest ROM (`build`), its launch measurements (`measure`), boot it
//! (`run`), measure its boot (`bench-boot`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use fcc_image::qemu::{self, BootOptions};
use fcc_image::{bench, build, measure};

#[derive(Parser)]
#[command(about = "Build and boot the FCC guest ROM")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the guest kernel with pinned flags and write the ROM; print its size and SHA-384.
    Build {
        /// Where to write the ROM (default: target/fcc-guest.rom in the workspace).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Build the ROM and boot it in QEMU with the console on this terminal (Ctrl-C to stop).
    Run {
        /// vCPUs.
        #[arg(long, default_value_t = 1)]
        smp: u32,
        /// Extra `-fw_cfg` items as name=value, e.g. opt/fcc/chain-id=114.
        #[arg(long = "fw-cfg", value_parser = parse_fw_cfg)]
        fw_cfg: Vec<(String, String)>,
        /// Add the virtio-net NIC (QEMU user networking) and point the guest at a proxy on this
        /// host port (10.0.2.2:<port> from the guest).
        #[arg(long)]
        proxy_port: Option<u16>,
    },
    /// Print the JSON manifest of a ROM's launch measurements: its SHA-384, the SEV-SNP launch
    /// digests and both TDX MRTDs (builds the ROM first unless --rom is given).
    Measure {
        /// The ROM to measure.
        #[arg(long)]
        rom: Option<PathBuf>,
        /// vCPU counts (repeat or comma-separate).
        #[arg(long, value_delimiter = ',', default_values_t = [1u32, 2, 4, 8, 64])]
        vcpus: Vec<u32>,
        /// CPU models by QEMU name (EPYC-v4, EPYC-Milan, EPYC-Genoa, ...).
        #[arg(long = "vcpu-type", value_delimiter = ',', default_values = ["EPYC-v4", "EPYC-Milan", "EPYC-Genoa"])]
        vcpu_types: Vec<String>,
        /// Raw CPU signatures (CPUID Fn0000_0001_EAX, hex), besides the named types.
        #[arg(long = "vcpu-sig", value_delimiter = ',', value_parser = parse_hex)]
        vcpu_sigs: Vec<u64>,
        /// SEV features in every VMSA (hex).
        #[arg(long, default_value = "0x1", value_parser = parse_hex)]
        guest_features: u64,
        /// Write the manifest here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the ROM size and boot times (QEMU exec -> READY, reset -> READY by TSC).
    BenchBoot {
        /// Boots per accelerator.
        #[arg(long, default_value_t = 7)]
        runs: usize,
    },
}

fn parse_fw_cfg(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected name=value, got {s:?}"))
}

fn parse_hex(s: &str) -> Result<u64, String> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("{s:?}: {e}"))
}

fn build_default() -> Result<PathBuf> {
    let workspace = build::workspace_root();
    let out = workspace.join(build::ROM_PATH);
    let rom = build::build_rom(&workspace, &out)?;
    println!("ROM {}", out.display());
    println!("  size    {} bytes ({} KiB)", rom.bytes.len(), rom.bytes.len() / 1024);
    println!("  used    {} bytes in {} load segments", rom.used(), rom.segments.len());
    println!("  sha384  {}", hex::encode(rom.sha384()));
    Ok(out)
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Build { out: None } => build_default().map(|_| ()),
        Cmd::Build { out: Some(out) } => {
            let rom = build::build_rom(&build::workspace_root(), &out)?;
            println!("ROM {} ({} bytes) sha384 {}", out.display(), rom.bytes.len(), hex::encode(rom.sha384()));
            Ok(())
        }
        Cmd::Run { smp, fw_cfg, proxy_port } => {
            let rom = build_default()?;
            let (accel, why) = qemu::choose_accel()?;
            let mut opts = BootOptions::new(rom, accel);
            opts.smp = smp;
            if let Some(port) = proxy_port {
                opts = opts.network(port);
            }
            opts.fw_cfg.extend(fw_cfg);
            eprintln!("accel {} ({why})\n$ {}", accel.name(), opts.command_line());
            let status = std::process::Command::new(qemu::find_qemu()?).args(opts.args()).status()?;
            std::process::exit(status.code().unwrap_or(1));
        }
        Cmd::Measure { rom, vcpus, vcpu_types, vcpu_sigs, guest_features, out } => {
            let rom = match rom {
                Some(rom) => rom,
                None => build_default()?,
            };
            let image = std::fs::read(&rom).with_context(|| format!("reading {}", rom.display()))?;
            let vcpu_sigs = vcpu_sigs.into_iter().map(u32::try_from).collect::<Result<Vec<_>, _>>()?;
            let req = measure::Request { vcpus, vcpu_types, vcpu_sigs, guest_features };
            let manifest = measure::manifest(&image, &req).with_context(|| format!("measuring {}", rom.display()))?;
            let text = serde_json::to_string_pretty(&manifest)? + "\n";
            match out {
                Some(out) => std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Cmd::BenchBoot { runs } => {
            let rom = build_default()?;
            bench::run(&rom, runs.max(1))
        }
    }
}
