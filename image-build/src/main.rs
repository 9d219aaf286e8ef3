//! `fcc-image`: build the guest ROM (`build`), its launch measurements (`measure`), its IGVM
//! form (`igvm`), the UEFI edition and its disk image (`efi`), check evidence against this
//! source (`verify`), boot it (`run`: a fresh build in plain QEMU; `launch`: a released ROM on
//! plain QEMU, SEV-SNP or TDX), measure its boot (`bench-boot`).

use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use clap::{Parser, Subcommand};
use fcc_image::launch::{self, Platform, PolicyHash};
use fcc_image::{bench, build, efi, igvm, measure, ovmf, snp, verify};
use fcc_layout::interface::DEFAULT_CHAIN_ID;
use fcc_qemu::{Accel, BootOptions};

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
        /// Where to write the ROM (default: target/fcc-guest.rom in the workspace, or
        /// target/fcc-guest+<extensions>.rom).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The source tree to build (default: the workspace this tool was built from).
        #[arg(long)]
        workspace: Option<PathBuf>,
        /// Compute extensions to compile in (comma-separated, e.g. data-integrity,attested-query):
        /// a ROM with its own measurement, registered as its own code version
        /// (docs/EXTENSIONS.md). Default: none, the published ROM.
        #[arg(long, value_delimiter = ',')]
        extensions: Vec<String>,
    },
    /// Build the UEFI edition (the guest as an x86_64 UEFI application, for cloud firmware) and
    /// its GPT disk image; print the Authenticode SHA-384, the GPT event digest and the TDX
    /// RTMR1 a boot of that disk by EDK2-based firmware gives.
    Efi {
        /// The source tree to build (default: the workspace this tool was built from).
        #[arg(long)]
        workspace: Option<PathBuf>,
        /// Where to write fcc-guest.efi and fcc-guest-efi.img (default: the workspace's target/).
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// A settings file to put on the disk as \EFI\fcc\settings (`opt/fcc/<name>=<value>`
        /// lines; a cloud has no fw_cfg). Checked as the guest reads it; the measurements do not
        /// change.
        #[arg(long)]
        settings: Option<PathBuf>,
        /// Compute extensions to compile in (comma-separated), as `build --extensions`: an
        /// application with its own Authenticode hash and RTMR1.
        #[arg(long, value_delimiter = ',')]
        extensions: Vec<String>,
    },
    /// Write the ROM as an IGVM file (SEV-SNP and TDX in one file) and print the measurements
    /// the `igvm` crate computes for it beside ours.
    Igvm {
        /// The ROM (default: build it).
        #[arg(long)]
        rom: Option<PathBuf>,
        /// vCPUs: the file holds one VMSA per vCPU.
        #[arg(long, default_value_t = 1)]
        vcpus: u32,
        /// CPU model by QEMU name, or a raw signature with --vcpu-sig.
        #[arg(long = "vcpu-type", default_value = "EPYC-Genoa")]
        vcpu_type: String,
        /// Raw CPU signature (hex), instead of --vcpu-type.
        #[arg(long = "vcpu-sig", value_parser = parse_hex)]
        vcpu_sig: Option<u64>,
        /// Where to write the file.
        #[arg(long)]
        out: PathBuf,
    },
    /// The UEFI edition's evidence from a saved console (e.g. a cloud's serial port output):
    /// writes `quote.dat` (the TDX quote of the boot statement), `statement.hex`
    /// (`abi.encode(Attestation)`, for `fcc-attest --statement`) and `eventlog.dat` (the
    /// firmware's event log, for `verify --event-log`) into a directory.
    Evidence {
        /// The console output.
        console: PathBuf,
        /// The directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check evidence against this source: a JSON manifest, a raw SEV-SNP report, a raw TDX quote
    /// (files), or a 48-byte measurement in hex. Exit status 0 on match, 1 on mismatch.
    Verify {
        /// The ROM to compare with (default: build it from this source).
        #[arg(long)]
        rom: Option<PathBuf>,
        /// A manifest, report, quote or file holding a hex measurement.
        #[arg(required_unless_present = "measurement", conflicts_with = "measurement")]
        evidence: Option<PathBuf>,
        /// A measurement in hex (SNP MEASUREMENT or TDX MRTD).
        #[arg(long)]
        measurement: Option<String>,
        /// Search SNP digests for 1..=N vCPUs.
        #[arg(long, default_value_t = fcc_image::measure::PUBLISHED_MAX_VCPUS)]
        max_vcpus: u32,
        /// SEV features in the VMSA (hex).
        #[arg(long, default_value = "0x1", value_parser = parse_hex)]
        guest_features: u64,
        /// The UEFI edition's application to compare a manifest's `uefi` section or a cloud quote
        /// with (default: build it from this source when needed).
        #[arg(long)]
        efi: Option<PathBuf>,
        /// A TDX quote of the UEFI edition on cloud firmware: the firmware's MRTD to accept
        /// (repeat for several; e.g. from the cloud's signed reference values).
        #[arg(long, value_parser = parse_mrtd)]
        firmware_mrtd: Vec<[u8; 48]>,
        /// With --firmware-mrtd: the boot's CC event log, to name the RTMR1 event that differs.
        #[arg(long, requires = "firmware_mrtd")]
        event_log: Option<PathBuf>,
        /// With --firmware-mrtd: the settings file the edition booted with (its
        /// `\EFI\fcc\settings`), whose runtime configuration RTMR2 must hold; without it the
        /// defaults.
        #[arg(long, requires = "firmware_mrtd")]
        settings: Option<PathBuf>,
        /// What to print on a mismatch (e.g. how to update a committed manifest).
        #[arg(long)]
        on_mismatch: Option<String>,
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
    /// Launch a released ROM (never rebuilt) on plain QEMU, SEV-SNP or TDX: check it and this
    /// configuration against the manifest, print what its evidence must show, then run QEMU
    /// with the console on this terminal. A ROM or an SEV-SNP configuration the manifest does not
    /// publish is refused before QEMU starts.
    Launch {
        /// The released ROM.
        #[arg(long)]
        rom: PathBuf,
        /// The release's manifest (reproducible/MEASUREMENTS.json).
        #[arg(long)]
        manifest: PathBuf,
        /// plain, sev-snp or tdx.
        #[arg(long, default_value = "plain")]
        platform: Platform,
        /// vCPUs (SEV-SNP: measured; the guest uses one).
        #[arg(long, default_value_t = 1)]
        vcpus: u32,
        /// SEV-SNP: the CPU model (measured: one the manifest publishes, no newer than the host).
        #[arg(long, default_value = fcc_qemu::SNP_CPU)]
        cpu: String,
        /// SEV-SNP: the host's C-bit position (CPUID 0x8000001f EBX[5:0]).
        #[arg(long, default_value_t = 51)]
        cbitpos: u32,
        /// TDX: the quote-generation service's vsock, CID:PORT (e.g. 2:4050).
        #[arg(long, value_parser = parse_vsock)]
        qgs_vsock: Option<(u32, u16)>,
        /// RAM in MiB.
        #[arg(long, default_value_t = 256)]
        memory: u32,
        /// Plain only: kvm or tcg (default: the best that works on this host).
        #[arg(long, value_parser = parse_accel)]
        accel: Option<Accel>,
        /// The proxy's link port on this host: adds the NIC (QEMU user networking; the guest
        /// reaches 10.0.2.2:<port>). TDX: measured into RTMR2.
        #[arg(long)]
        proxy_port: Option<u16>,
        /// The chain the guest serves (TDX: measured into RTMR2).
        #[arg(long, default_value_t = DEFAULT_CHAIN_ID)]
        chain_id: u64,
        /// chain-bound or legacy policy hashes (TDX: measured into RTMR2).
        #[arg(long, default_value = "chain-bound")]
        policy_hash: PolicyHash,
        /// The sealed-state file the proxy keeps (its --sealed-state); created empty if missing.
        #[arg(long)]
        sealed_state: Option<PathBuf>,
        /// Other fw_cfg settings as name=value (opt/fcc/extension-id, opt/fcc/owner,
        /// opt/fcc/governance).
        #[arg(long = "fw-cfg", value_parser = parse_fw_cfg)]
        fw_cfg: Vec<(String, String)>,
        /// Leave QEMU after READY (exit status 33), for tests.
        #[arg(long)]
        test_exit: bool,
        /// Print the checks, the expected measurement and the QEMU command line; do not start.
        #[arg(long)]
        dry_run: bool,
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
        /// Exactly what reproducible/MEASUREMENTS.json publishes (1..=64 vCPUs of EPYC-Milan,
        /// EPYC-Genoa and EPYC-Turin, and the UEFI edition), instead of --vcpus/--vcpu-type/--vcpu-sig.
        #[arg(long, conflicts_with_all = ["vcpus", "vcpu_types", "vcpu_sigs"])]
        published: bool,
        /// The UEFI edition's application (`fcc-image efi`) to measure too (with --published:
        /// default, build it from this source).
        #[arg(long)]
        efi: Option<PathBuf>,
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

fn parse_mrtd(s: &str) -> Result<[u8; 48], String> {
    verify::parse_measurement(s).map_err(|e| e.to_string())
}

fn parse_fw_cfg(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected name=value, got {s:?}"))
}

fn parse_vsock(s: &str) -> Result<(u32, u16), String> {
    let (cid, port) = s.split_once(':').ok_or_else(|| format!("expected CID:PORT, got {s:?}"))?;
    Ok((
        cid.parse().map_err(|e| format!("CID {cid:?}: {e}"))?,
        port.parse().map_err(|e| format!("port {port:?}: {e}"))?,
    ))
}

fn parse_accel(s: &str) -> Result<Accel, String> {
    match s {
        "kvm" => Ok(Accel::Kvm),
        "tcg" => Ok(Accel::Tcg),
        _ => Err(format!("{s:?}: kvm or tcg")),
    }
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

/// The UEFI application at `path`; without one, the one built from this source when `needed`.
fn read_efi(path: Option<PathBuf>, needed: bool) -> Result<Option<Vec<u8>>> {
    let path = match path {
        Some(path) => path,
        None if needed => efi::build_application(&build::workspace_root())?,
        None => return Ok(None),
    };
    Ok(Some(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?))
}

/// The ROM at `path`, or the one built from this source.
fn read_rom(path: Option<PathBuf>) -> Result<(PathBuf, Vec<u8>)> {
    let path = match path {
        Some(path) => path,
        None => build_default()?,
    };
    let image = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok((path, image))
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Build { out: None, workspace: None, extensions } if extensions.is_empty() => build_default().map(|_| ()),
        Cmd::Build { out, workspace, extensions } => {
            let workspace = workspace.unwrap_or_else(build::workspace_root);
            let workspace = std::path::absolute(&workspace)?;
            let out = out.unwrap_or_else(|| workspace.join(build::rom_path(&extensions)));
            let rom = build::build_rom_with(&workspace, &out, &extensions)?;
            println!("ROM {} ({} bytes) sha384 {}", out.display(), rom.bytes.len(), hex::encode(rom.sha384()));
            if !extensions.is_empty() {
                println!("  extensions {}", extensions.join(", "));
                let code_hash = <sha3::Keccak256 as sha2::Digest>::digest(rom.sha384());
                println!(
                    "  code hash  0x{} (keccak256 of the SHA-384: its plain-QEMU code version)",
                    hex::encode(code_hash)
                );
                println!(
                    "  measure it for SEV-SNP/TDX: fcc-image measure --rom {} --published --out <manifest>",
                    out.display()
                );
            }
            Ok(())
        }
        Cmd::Efi { workspace, out_dir, settings, extensions } => {
            let workspace = std::path::absolute(workspace.unwrap_or_else(build::workspace_root))?;
            let out_dir = out_dir.unwrap_or_else(|| workspace.join(efi::OUT_DIR));
            let settings = match settings {
                Some(path) => Some(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?),
                None => None,
            };
            let (application, disk, m) = efi::build(&workspace, &out_dir, settings.as_deref(), &extensions)?;
            println!("application {} ({} bytes)", out_dir.join(efi::EFI_FILE).display(), application.len());
            println!("disk image  {} ({} bytes)", out_dir.join(efi::DISK_FILE).display(), disk.len());
            println!("Authenticode SHA-384  {}", hex::encode(m.authenticode_sha384));
            println!("GPT event SHA-384     {}", hex::encode(m.gpt_event_sha384));
            println!("TDX RTMR1             {}", hex::encode(m.rtmr1));
            Ok(())
        }
        Cmd::Run { smp, fw_cfg, proxy_port } => {
            let rom = build_default()?;
            let host = fcc_qemu::choose()?;
            let mut opts = BootOptions::on_host(rom, &host);
            opts.smp = smp;
            if let Some(port) = proxy_port {
                opts = opts.network(port);
            }
            opts.fw_cfg.extend(fw_cfg);
            eprintln!("accel {} -cpu {} ({})\n$ {}", host.accel.name(), host.cpu, host.why, opts.command_line());
            let status = std::process::Command::new(fcc_qemu::find_qemu()?).args(opts.args()).status()?;
            std::process::exit(status.code().unwrap_or(1));
        }
        Cmd::Launch {
            rom,
            manifest,
            platform,
            vcpus,
            cpu,
            cbitpos,
            qgs_vsock,
            memory,
            accel,
            proxy_port,
            chain_id,
            policy_hash,
            sealed_state,
            fw_cfg,
            test_exit,
            dry_run,
        } => {
            let image = std::fs::read(&rom).with_context(|| format!("reading {}", rom.display()))?;
            let text = std::fs::read(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
            let manifest: serde_json::Value =
                serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", manifest.display()))?;
            ensure!(
                accel.is_none() || platform == Platform::Plain,
                "--accel is for plain launches (SEV-SNP and TDX need KVM)"
            );
            let req = launch::Request {
                rom,
                platform,
                vcpus,
                cpu,
                cbitpos,
                qgs_vsock,
                memory_mib: memory,
                accel,
                proxy_port,
                chain_id,
                policy_hash,
                sealed_state,
                fw_cfg,
                test_exit,
            };
            let plan = launch::plan(&image, &manifest, &req)?;
            println!("fcc-image launch: {platform}, the released ROM {} (not rebuilt)", req.rom.display());
            for (what, value) in &plan.expected {
                println!("  expect {what:<24} {value}");
            }
            println!("$ {}", plan.boot.command_line());
            if dry_run {
                return Ok(());
            }
            if let Some(why) = launch::host_lacks(platform) {
                anyhow::bail!("cannot launch {platform} here: {why}");
            }
            if let Some(path) = &req.sealed_state {
                use std::os::unix::fs::OpenOptionsExt;
                // QEMU refuses a missing fw_cfg file; the guest takes an empty one as none.
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
                    .with_context(|| format!("sealed-state file {}", path.display()))?;
            }
            use std::io::Write;
            std::io::stdout().flush()?;
            let status = std::process::Command::new(fcc_qemu::find_qemu()?).args(plan.boot.args()).status()?;
            std::process::exit(status.code().unwrap_or(1));
        }
        Cmd::Measure { rom, vcpus, vcpu_types, vcpu_sigs, guest_features, published, efi, out } => {
            let (rom, image) = read_rom(rom)?;
            let application = read_efi(efi, published)?;
            let vcpu_sigs = vcpu_sigs.into_iter().map(u32::try_from).collect::<Result<Vec<_>, _>>()?;
            let req = if published {
                measure::Request { guest_features, ..measure::Request::published() }
            } else {
                measure::Request { vcpus, vcpu_types, vcpu_sigs, guest_features }
            };
            let mut manifest =
                measure::manifest(&image, &req).with_context(|| format!("measuring {}", rom.display()))?;
            if let Some(application) = application {
                measure::add_uefi(&mut manifest, &application)?;
            }
            let text = serde_json::to_string_pretty(&manifest)? + "\n";
            match out {
                Some(out) => std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Cmd::Igvm { rom, vcpus, vcpu_type, vcpu_sig, out } => {
            let (_, image) = read_rom(rom)?;
            let tables = ovmf::parse(&image)?;
            let cpu_signature = match vcpu_sig {
                Some(sig) => u32::try_from(sig)?,
                None => snp::cpu_type_signature(&vcpu_type)?,
            };
            let p = igvm::Params { vcpus, cpu_signature, guest_features: snp::DEFAULT_GUEST_FEATURES };
            let bytes = igvm::to_bytes(&igvm::build(&image, &tables, &p)?)?;
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            let file = igvm::parse(&bytes)?;
            let qemu = snp::launch_digest(&image, &tables, vcpus, cpu_signature, p.guest_features)?;
            println!("IGVM {} ({} bytes), {vcpus} vCPUs, signature {cpu_signature:#x}", out.display(), bytes.len());
            println!("  snp digest, QEMU (ZERO pages)          {}", hex::encode(qemu));
            println!("  snp digest, igvm crate (NORMAL zeroed) {}", hex::encode(igvm::crate_snp_digest(&file)?));
            println!("  tdx mrtd, igvm crate (page by page)    {}", hex::encode(igvm::crate_mrtd(&file)?));
            Ok(())
        }
        Cmd::Verify {
            rom,
            evidence,
            measurement,
            max_vcpus,
            guest_features,
            efi,
            firmware_mrtd,
            event_log,
            settings,
            on_mismatch,
        } => {
            let verdict = if !firmware_mrtd.is_empty() {
                let path = evidence.context("give the quote (a file) with --firmware-mrtd")?;
                let quote = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let log = match &event_log {
                    Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
                    None => None,
                };
                let settings = match &settings {
                    Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
                    None => None,
                };
                let settings = fcc_image::tdx::uefi_settings(settings.as_deref())?;
                let application = read_efi(efi, true)?.context("the UEFI application")?;
                verify::tdx_quote_uefi(&application, &firmware_mrtd, &quote, log.as_deref(), &settings)?
            } else {
                verify_rom(rom, evidence, measurement, max_vcpus, guest_features, efi)?
            };
            print!("{}", verdict.render());
            if !verdict.is_match() {
                if let Some(hint) = on_mismatch {
                    eprintln!("{hint}");
                }
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Evidence { console, out } => {
            let text = std::fs::read(&console).with_context(|| format!("reading {}", console.display()))?;
            // Serial output may carry other bytes (firmware escape sequences): read it lossily.
            let text = String::from_utf8_lossy(&text);
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let write = |name: &str, bytes: &[u8]| -> Result<()> {
                let path = out.join(name);
                std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
                println!("{} ({} bytes)", path.display(), bytes.len());
                Ok(())
            };
            let (statement, quote) =
                efi::console_quote(&text)?.context("the console holds no QUOTE block (not a TD, or no quote)")?;
            write("quote.dat", &quote)?;
            write("statement.hex", (hex::encode(statement) + "\n").as_bytes())?;
            match efi::console_event_log(&text)? {
                Some(log) => write("eventlog.dat", &log)?,
                None => println!("no EVENTLOG block: the firmware kept no event log the application could read"),
            }
            Ok(())
        }
        Cmd::BenchBoot { runs } => {
            let rom = build_default()?;
            bench::run(&rom, runs.max(1))
        }
    }
}

/// `verify` of the ROM: a manifest (with its `uefi` section), a report, a quote or a measurement.
fn verify_rom(
    rom: Option<PathBuf>,
    evidence: Option<PathBuf>,
    measurement: Option<String>,
    max_vcpus: u32,
    guest_features: u64,
    efi: Option<PathBuf>,
) -> Result<verify::Verdict> {
    let (_, image) = read_rom(rom)?;
    let search = verify::Search { max_vcpus, guest_features, ..verify::Search::default() };
    let verdict = match (evidence, measurement) {
        (_, Some(m)) => verify::measurement(&image, &verify::parse_measurement(&m)?, &search)?,
        (Some(path), None) => {
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let wants_efi = serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|j| j.get("uefi").is_some());
            let application = read_efi(efi, wants_efi)?;
            verify::file(&image, application.as_deref(), &bytes, &search)
                .with_context(|| format!("checking {}", path.display()))?
        }
        (None, None) => anyhow::bail!("give evidence (a file) or --measurement"),
    };
    Ok(verdict)
}
