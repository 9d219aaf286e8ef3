//! `cargo xtask`: the project's orchestration — the end-to-end demo, the full test run and the
//! benchmarks — so the README's commands need no set-up.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, Subcommand};

mod demo;

#[derive(Parser)]
#[command(about = "fcc-unikernel orchestration")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// End to end through the verify-and-sign core in-process: simulated providers, policy
    /// trust root, an FDC2 proof, a policy rotation and a refused instruction, with timings.
    Demo {
        /// Number of simulated data providers.
        #[arg(long, default_value_t = 100)]
        voters: usize,
    },
    /// Every test: unit, property, known-answer, fuzz-corpus replay, CLI, guest-target build,
    /// lints, the contracts' checks (forge fmt, build, lint, tests, gas snapshot, anvil) and the
    /// image's reproducibility (reproducible/check).
    Test,
    /// The benchmarks (verification vs libsecp256k1 baseline).
    Bench,
    /// Build the guest ROM (target/fcc-guest.rom) with pinned flags; print its size and SHA-384.
    Image,
    /// Guest boot numbers: ROM size, QEMU exec -> READY (median of several runs), reset ->
    /// READY by the guest's TSC.
    BenchBoot {
        /// Boots per accelerator.
        #[arg(long, default_value_t = 7)]
        runs: usize,
    },
}

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO")).args(args).status().context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Installs the guest target and the lint components if this toolchain lacks them, so the test
/// command needs no set-up (rustup does not add them to an existing toolchain by itself).
fn ensure_toolchain() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let Ok(installed) = installed else {
        eprintln!("rustup not found; assuming the x86_64-unknown-none target is installed");
        return Ok(());
    };
    if !String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == "x86_64-unknown-none") {
        eprintln!("$ rustup target add x86_64-unknown-none");
        ensure!(
            Command::new("rustup").args(["target", "add", "x86_64-unknown-none"]).status()?.success(),
            "rustup target add failed"
        );
    }
    let components = Command::new("rustup").args(["component", "list", "--installed"]).output()?;
    let components = String::from_utf8_lossy(&components.stdout);
    for c in ["rustfmt", "clippy"] {
        if !components.lines().any(|l| l.starts_with(c)) {
            eprintln!("$ rustup component add {c}");
            ensure!(
                Command::new("rustup").args(["component", "add", c]).status()?.success(),
                "rustup component add {c} failed"
            );
        }
    }
    Ok(())
}

/// The independent SEV-SNP launch-digest tool the image tests compare with (PyPI, pinned).
fn ensure_sev_snp_measure() -> Result<()> {
    let on_path = |name: &str| {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    if on_path("sev-snp-measure") {
        return Ok(());
    }
    let pip = |extra: &[&str]| {
        eprintln!("$ python3 -m pip install sev-snp-measure==0.0.13 {}", extra.join(" "));
        Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "sev-snp-measure==0.0.13"])
            .args(extra)
            .status()
            .is_ok_and(|s| s.success())
    };
    // Debian's own python refuses system-wide installs (PEP 668) unless told otherwise.
    ensure!(pip(&[]) || pip(&["--break-system-packages"]), "installing sev-snp-measure with pip failed");
    if on_path("pyenv") {
        let _ = Command::new("pyenv").arg("rehash").status();
    }
    Ok(())
}

/// Runs `program` (a path under `contracts/`) in `contracts/`.
fn contracts_run(program: &str, args: &[&str]) -> Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts");
    eprintln!("$ (contracts) {program} {}", args.join(" "));
    // Absolute program paths: a relative one with `current_dir` is platform-specific.
    let status = Command::new(dir.join(program))
        .args(args)
        .current_dir(&dir)
        .status()
        .with_context(|| format!("running contracts/{program}"))?;
    ensure!(status.success(), "contracts/{program} {} failed ({status})", args.join(" "));
    Ok(())
}

const FORGE: &str = "node_modules/.bin/forge";

/// Installs the pinned contracts toolchain (`contracts/setup.sh`: forge from npm, solcjs) and
/// builds the contracts. Runs before any cargo build: the `fcc-contracts` bindings are generated
/// from the build artifacts (`contracts/out`).
fn contracts_build() -> Result<()> {
    contracts_run("setup.sh", &[])?;
    contracts_run(FORGE, &["build", "--offline"])
}

/// The contracts' checks after `contracts_build`: formatting, lints, the forge tests, the gas
/// snapshot and a result signed by fcc-core verified on a local anvil node (`script/anvil-check.sh`).
fn contracts_test() -> Result<()> {
    contracts_run(FORGE, &["fmt", "--check"])?;
    // After the build: `forge lint` compiling changed sources itself leaves artifacts without bytecode.
    contracts_run(FORGE, &["lint"])?;
    contracts_run(FORGE, &["test", "--offline"])?;
    contracts_run(FORGE, &["snapshot", "--offline", "--check"])?;
    contracts_run("script/anvil-check.sh", &[])
}

/// `reproducible/check`: the ROM rebuilt twice from clean copies in different environments
/// gives the same bytes and the published measurements.
fn reproducible_check() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("workspace root")?;
    eprintln!("$ reproducible/check");
    let status = Command::new(root.join("reproducible/check")).status().context("running reproducible/check")?;
    if !status.success() {
        bail!("reproducible/check failed ({status})");
    }
    Ok(())
}

/// Whether /dev/kvm can be opened (the KVM boot test needs it).
fn fcc_kvm_usable() -> bool {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok()
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Demo { voters } => demo::run(voters),
        Cmd::Test => {
            ensure_toolchain()?;
            ensure_sev_snp_measure()?;
            // First: the contract bindings (fcc-contracts) need the forge artifacts to compile.
            contracts_build()?;
            cargo(&["fmt", "--all", "--check"])?;
            cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
            // The guest kernel's code is compiled only for its own target.
            cargo(&["clippy", "-p", "fcc-guest", "--target", "x86_64-unknown-none", "--", "-D", "warnings"])?;
            // The core and the platform interfaces must build for the guest's bare-metal target,
            // not only the host.
            cargo(&["build", "-p", "fcc-core", "-p", "fcc-platform", "--target", "x86_64-unknown-none", "--release"])?;
            cargo(&["test", "--workspace", "--all-targets"])?;
            cargo(&["test", "--workspace", "--doc"])?;
            if fcc_kvm_usable() {
                cargo(&["test", "-p", "fcc-e2e", "--test", "guest_boot", "--", "--ignored", "boots_under_kvm"])?;
            } else {
                eprintln!("SKIPPED: guest_boot::boots_under_kvm (/dev/kvm is not usable here)");
            }
            contracts_test()?;
            // Two clean rebuilds in different environments, equal to reproducible/MEASUREMENTS.json.
            reproducible_check()?;
            // The demo is an end-to-end test too: it asserts every step.
            demo::run(20)
        }
        Cmd::Bench => cargo(&["bench", "-p", "fcc-core"]),
        Cmd::Image => cargo(&["run", "--quiet", "-p", "fcc-image", "--", "build"]),
        Cmd::BenchBoot { runs } => {
            cargo(&["run", "--quiet", "-p", "fcc-image", "--", "bench-boot", "--runs", &runs.to_string()])
        }
    }
}
