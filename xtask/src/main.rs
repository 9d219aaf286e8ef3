//! `cargo xtask`: the project's orchestration — the devnet, the full test run, the in-process
//! demo and the benchmarks — so the README's commands need no set-up.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, Subcommand};

mod demo;
mod extension;
#[cfg(test)]
mod tidy;

#[derive(Parser)]
#[command(about = "fcc-unikernel orchestration")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The whole system locally: builds the image, starts anvil with the contracts, the proxy on
    /// SQLite and the guest in QEMU, registers the TEE, runs simulated providers and traces
    /// instructions sent through the contract up to their results verified on chain.
    Devnet {
        /// Number of simulated data providers.
        #[arg(long, default_value_t = 100)]
        voters: usize,
        /// Leave everything running after the trace and print the endpoints (Ctrl-C stops it).
        #[arg(long)]
        keep_running: bool,
        /// Keep the proxy database, logs and guest console in this directory.
        #[arg(long)]
        workdir: Option<std::path::PathBuf>,
        /// 3: add a wallet across three TEEs (each behind its own proxy) signing XRPL and
        /// Bitcoin payments, judged by xrpl-py, libbitcoinconsensus and python-bitcoinlib.
        #[arg(long, default_value_t = 1)]
        guests: usize,
        /// The compute machine's extensions (comma-separated; default: seed 003's
        /// data-integrity,attested-query): its image is built with them and each one's examples
        /// go through the chain.
        #[arg(long)]
        extensions: Option<String>,
    },
    /// End to end through the verify-and-sign core in-process: simulated providers, policy
    /// trust root, an FDC2 proof, a policy rotation and a refused instruction, with timings.
    Demo {
        /// Number of simulated data providers.
        #[arg(long, default_value_t = 100)]
        voters: usize,
    },
    /// Every test: unit, property, known-answer, fuzz-corpus replay, CLI, guest-target build,
    /// lints, the contracts' checks (forge fmt, build, lint, tests, gas snapshot, anvil) and the
    /// image's reproducibility (reproducible/check), and last the devnet (20 providers), with one
    /// guest and with three (the payments stage).
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
    /// Compute extensions (docs/EXTENSIONS.md).
    Extension {
        #[command(subcommand)]
        cmd: ExtensionCmd,
    },
}

#[derive(Subcommand)]
enum ExtensionCmd {
    /// A new extension from extensions/template, wired into the workspace, the image's extension
    /// set and the guest's features: build it with `cargo run -p fcc-image -- build --extensions
    /// NAME`, run it with `cargo xtask devnet --extensions NAME`.
    New {
        /// Its name: 2 to 24 of a-z, 0-9 and single dashes (`my-ext`: crate fcc-ext-my-ext,
        /// operation type MY_EXT).
        name: String,
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
        eprintln!("rustup not found; assuming the x86_64-unknown-none and -uefi targets are installed");
        return Ok(());
    };
    // The ROM's target and the UEFI edition's.
    for target in ["x86_64-unknown-none", "x86_64-unknown-uefi"] {
        if !String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == target) {
            eprintln!("$ rustup target add {target}");
            ensure!(
                Command::new("rustup").args(["target", "add", target]).status()?.success(),
                "rustup target add {target} failed"
            );
        }
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

/// The Python judges (PyPI, pinned): sev-snp-measure, the independent SEV-SNP launch-digest
/// tool the image tests compare with, pycryptodome (keccak) for the wallet-backup judge of
/// fcc-core's tests (with `cryptography`, which sev-snp-measure brings), xrpl-py for its XRPL
/// multisign judge and python-bitcoinlib for its Bitcoin decode judge.
/// The cargo-deny release the test command checks the dependency graph with (deny.toml).
const CARGO_DENY: &str = "0.20.2";

/// cargo-deny at [`CARGO_DENY`], installed from crates.io when missing or another version.
fn ensure_cargo_deny() -> Result<()> {
    let version = Command::new("cargo").args(["deny", "--version"]).output();
    if version.is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(CARGO_DENY)) {
        return Ok(());
    }
    cargo(&["install", "--locked", "--quiet", "cargo-deny", "--version", CARGO_DENY])
}

fn ensure_python_judges() -> Result<()> {
    const PACKAGES: [&str; 5] = [
        "sev-snp-measure==0.0.13",
        "pycryptodome==3.23.0",
        "xrpl-py==4.3.0",
        "python-bitcoinlib==0.12.2",
        "PyYAML==6.0.3",
    ];
    let on_path = |name: &str| {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    let has_modules = || {
        Command::new("python3")
            .args(["-c", "import Crypto.Hash.keccak, xrpl, bitcoin.core, yaml"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if on_path("sev-snp-measure") && has_modules() {
        return Ok(());
    }
    let pip = |extra: &[&str]| {
        eprintln!("$ python3 -m pip install {} {}", PACKAGES.join(" "), extra.join(" "));
        Command::new("python3")
            .args(["-m", "pip", "install", "--quiet"])
            .args(PACKAGES)
            .args(extra)
            .status()
            .is_ok_and(|s| s.success())
    };
    // Debian's own python refuses system-wide installs (PEP 668) unless told otherwise.
    ensure!(pip(&[]) || pip(&["--break-system-packages"]), "installing the Python judges with pip failed");
    if on_path("pyenv") {
        let _ = Command::new("pyenv").arg("rehash").status();
    }
    Ok(())
}

/// Runs `program` (a path under `contracts/`) in `contracts/`.
fn contracts_run(program: &str, args: &[&str]) -> Result<()> {
    contracts_run_with(program, args, &[])
}

/// `contracts_run` with extra environment variables.
fn contracts_run_with(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts");
    let shown: Vec<String> = envs.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    eprintln!("$ (contracts) {}{program} {}", shown.concat(), args.join(" "));
    // Absolute program paths: a relative one with `current_dir` is platform-specific.
    let status = Command::new(dir.join(program))
        .args(args)
        .envs(envs.iter().copied())
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
    // The CI profile's depth (10,000 fuzz runs, 1,024 invariant runs: ~45 s more); the gas
    // snapshot stays on the default profile, whose fuzz runs it records.
    contracts_run_with(FORGE, &["test", "--offline"], &[("FOUNDRY_PROFILE", "ci")])?;
    gas_snapshot_check()?;
    contracts_run("script/anvil-check.sh", &[])
}

/// The gas snapshot, compared here: forge 1.7.1's `snapshot --check` prints its differences but
/// exits 0. A fresh snapshot is written beside the committed one and must equal it line for line.
fn gas_snapshot_check() -> Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts");
    // In forge's cache directory (not versioned), relative to contracts/ as forge runs there.
    const FRESH: &str = "cache/fresh.gas-snapshot";
    contracts_run(FORGE, &["snapshot", "--offline", "--snap", FRESH])?;
    let committed = std::fs::read_to_string(dir.join(".gas-snapshot")).context("reading contracts/.gas-snapshot")?;
    let fresh = std::fs::read_to_string(dir.join(FRESH)).context("reading the fresh gas snapshot")?;
    std::fs::remove_file(dir.join(FRESH)).context("removing the fresh gas snapshot")?;
    let diffs = snapshot_diffs(&committed, &fresh);
    ensure!(
        diffs.is_empty(),
        "the gas snapshot differs from contracts/.gas-snapshot:\n{}\nUpdate it with `forge snapshot` in contracts/ \
         after a full build (`forge build --force`): via-IR code built incrementally can differ by a few \
         dozen gas from a full build, which is what CI makes.",
        diffs.join("\n")
    );
    Ok(())
}

/// The tests whose lines differ between two gas snapshots, one line each: `test: committed -> fresh`.
fn snapshot_diffs(committed: &str, fresh: &str) -> Vec<String> {
    let parse = |s: &str| -> std::collections::BTreeMap<String, String> {
        s.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match l.split_once(" (") {
                Some((test, gas)) => (test.to_string(), format!("({gas}")),
                None => (l.to_string(), String::new()),
            })
            .collect()
    };
    let (a, b) = (parse(committed), parse(fresh));
    let mut out = Vec::new();
    for test in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        match (a.get(test), b.get(test)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => out.push(format!(
                "  {test}: {} -> {}",
                x.map_or("(not in the committed snapshot)", String::as_str),
                y.map_or("(no longer run)", String::as_str)
            )),
        }
    }
    out
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

/// QEMU for the guest: installed with apt-get when missing and this is root on Debian/Ubuntu,
/// else an error saying how to install it.
fn ensure_qemu() -> Result<()> {
    ensure_debian_tool("qemu-system-x86_64", "qemu-system-x86", "your distribution's QEMU x86_64 system emulator")
}

/// `file`, from Debian's `package` when missing (as [`ensure_debian_tool`]).
fn ensure_debian_file(file: &str, package: &str, elsewhere: &str) -> Result<()> {
    if Path::new(file).is_file() {
        return Ok(());
    }
    apt_install(package, elsewhere, file)?;
    ensure!(Path::new(file).is_file(), "{file} still not found after installing {package}");
    Ok(())
}

/// `binary` on the PATH, from Debian's `package` when missing (as root with apt); elsewhere an
/// error naming what to install (`elsewhere`).
fn ensure_debian_tool(binary: &str, package: &str, elsewhere: &str) -> Result<()> {
    let on_path =
        || std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(binary).is_file()));
    if on_path() {
        return Ok(());
    }
    apt_install(package, elsewhere, binary)?;
    ensure!(on_path(), "{binary} still not found after installing {package}");
    Ok(())
}

/// Installs Debian's `package` for `what` (as root with apt), or says what to install.
fn apt_install(package: &str, elsewhere: &str, what: &str) -> Result<()> {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = Path::new("/usr/bin/apt-get").exists();
    if !(root && apt) {
        bail!(
            "{what} is not installed. On Debian/Ubuntu: `sudo apt-get install {package}` (elsewhere: {elsewhere}), \
             then run this again"
        );
    }
    eprintln!("{what} missing: installing Debian's {package} (apt-get shows its progress)");
    for args in [&["update"][..], &["install", "-y", "--no-install-recommends", package][..]] {
        eprintln!("$ apt-get {}", args.join(" "));
        let status = Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status()?;
        ensure!(status.success(), "apt-get {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The `fcc-devnet` arguments.
fn devnet_args(voters: usize, guests: usize, keep_running: bool, workdir: Option<&Path>) -> Vec<String> {
    let mut args = vec!["--voters".to_owned(), voters.to_string(), "--guests".to_owned(), guests.to_string()];
    if keep_running {
        args.push("--keep-running".to_owned());
    }
    if let Some(w) = workdir {
        args.extend(["--workdir".to_owned(), w.display().to_string()]);
    }
    args
}

/// `cargo xtask devnet`: the set-up it needs (toolchain, contracts toolchain and build, QEMU),
/// then the `fcc-devnet` binary (crate `devnet`), which does the rest (it also serves the proxy
/// process, `fcc-devnet proxy`, so there is one build).
fn devnet(
    voters: usize,
    guests: usize,
    keep_running: bool,
    workdir: Option<&Path>,
    extensions: Option<&str>,
) -> Result<()> {
    eprintln!("[1/4] Rust toolchain and the guest target");
    ensure_toolchain()?;
    if guests > 1 {
        // The payments stage's judges.
        ensure_python_judges()?;
    }
    eprintln!("[2/4] contracts: pinned forge/anvil from npm, forge build");
    contracts_build()?;
    eprintln!("[3/4] QEMU");
    ensure_qemu()?;
    eprintln!("[4/4] building and running fcc-devnet (the first build takes several minutes)");
    let mut args = devnet_args(voters, guests, keep_running, workdir);
    if let Some(extensions) = extensions {
        args.extend(["--extensions".to_owned(), extensions.to_owned()]);
    }
    let mut run = vec!["run", "--quiet", "-p", "fcc-devnet", "--bin", "fcc-devnet", "--"];
    run.extend(args.iter().map(String::as_str));
    cargo(&run)
}

/// The `fcc-devnet` that `cargo test --workspace --all-targets` has just built (its own
/// `tests/cli.rs` makes cargo build the binary), run directly: `cargo run -p fcc-devnet` would
/// resolve features for that package alone and rebuild much of the dependency graph a second time.
/// With `status_page`, the devnet checks the live TEE's status page in headless Chromium and
/// keeps its DOM and screenshot in `target/status-page/` (the test's artifacts); `extensions`
/// chooses the compute machine's extensions (default: seed 003's two).
fn devnet_after_tests(voters: usize, guests: usize, status_page: bool, extensions: Option<&str>) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("workspace root")?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let bin = target.join("debug/fcc-devnet");
    ensure!(bin.is_file(), "{} missing: the workspace test build should have built it", bin.display());
    let mut args = devnet_args(voters, guests, false, None);
    if status_page {
        args.extend(["--status-page".to_owned(), target.join("status-page").display().to_string()]);
    }
    if let Some(extensions) = extensions {
        args.extend(["--extensions".to_owned(), extensions.to_owned()]);
    }
    eprintln!("$ {} {}", bin.display(), args.join(" "));
    let status = Command::new(&bin).args(&args).status().with_context(|| format!("running {}", bin.display()))?;
    ensure!(status.success(), "fcc-devnet failed ({status})");
    Ok(())
}

/// Whether the host's KVM module parameter `path` is on (`Y` or `1`): SEV-SNP or TDX enabled.
fn kvm_feature_on(path: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|v| matches!(v.trim(), "Y" | "y" | "1"))
}

/// The opt-in confidential boots (tests/guest_cvm.rs): run where the host has the feature, else
/// reported as skipped — never as passed.
fn confidential_boots() -> Result<()> {
    for (test, param, what) in [
        ("boots_as_sev_snp_guest", "/sys/module/kvm_amd/parameters/sev_snp", "an SEV-SNP host"),
        ("boots_as_tdx_guest", "/sys/module/kvm_intel/parameters/tdx", "a TDX host"),
        ("the_uefi_edition_boots_as_tdx_guest", "/sys/module/kvm_intel/parameters/tdx", "a TDX host and TDVF"),
    ] {
        // The UEFI edition's TD boot also needs a TDX build of OVMF, which a TDX host may lack.
        let tdvf = if test.starts_with("the_uefi_edition") { fcc_qemu::uefi::tdvf_image().err() } else { None };
        if let (Some(why), true) = (&tdvf, fcc_qemu::kvm_usable() && kvm_feature_on(param)) {
            eprintln!("SKIPPED: guest_cvm::{test} (a TDX host, but {why})");
        } else if fcc_qemu::kvm_usable() && kvm_feature_on(param) {
            cargo(&["test", "-p", "fcc-e2e", "--test", "guest_cvm", "--", "--ignored", "--exact", test])?;
        } else {
            eprintln!("SKIPPED: guest_cvm::{test} (needs {what}: {param} is not Y here, or /dev/kvm is not usable)");
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Devnet { voters, keep_running, workdir, guests, extensions } => {
            devnet(voters, guests, keep_running, workdir.as_deref(), extensions.as_deref())
        }
        Cmd::Demo { voters } => demo::run(voters),
        Cmd::Extension { cmd: ExtensionCmd::New { name } } => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("workspace root")?;
            let dir = extension::new(root, &name)?;
            println!("created {} (from extensions/template) and wired it in:", dir.display());
            println!(
                "  the workspace members, extensions/set (feature {name}), guest/kernel and guest/uefi (feature {name})"
            );
            println!("next:");
            println!("  cargo test -p fcc-ext-{name}                              its tests, through the real engine");
            println!(
                "  cargo run -p fcc-image -- build --extensions {name}      the image with it: ROM, SHA-384, code hash"
            );
            println!(
                "  cargo xtask devnet --extensions {name}                   registered, booted, its examples verified on chain"
            );
            Ok(())
        }
        Cmd::Test => {
            ensure_toolchain()?;
            ensure_python_judges()?;
            // The guest end-to-end tests and the devnet boot the ROM in QEMU.
            ensure_qemu()?;
            // promtool checks the proxy's alert rules and dashboard (host-proxy/tests/monitoring.rs).
            ensure_debian_tool("promtool", "prometheus", "Prometheus's promtool")?;
            // Headless Chromium loads the proxy's status page in the devnet (FCC_CHROMIUM may name
            // another build of it).
            if std::env::var_os("FCC_CHROMIUM").is_none() {
                ensure_debian_tool("chromium", "chromium", "Chromium, then set FCC_CHROMIUM to its path")?;
            }
            // buildah builds the proxy's container image (host-proxy/tests/container.rs).
            ensure_debian_tool("buildah", "buildah", "buildah")?;
            // OVMF and swtpm: the UEFI edition boots under real firmware (image-build/tests/efi.rs).
            ensure_debian_file("/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf", "EDK2's OVMF")?;
            ensure_debian_tool("swtpm", "swtpm", "swtpm")?;
            ensure_debian_tool("swtpm_setup", "swtpm-tools", "swtpm's tools")?;
            ensure_cargo_deny()?;
            // First: the contract bindings (fcc-contracts) need the forge artifacts to compile.
            contracts_build()?;
            cargo(&["fmt", "--all", "--check"])?;
            // Licenses, banned crates, sources: deny.toml (advisories need the network).
            cargo(&["deny", "--log-level", "error", "check", "licenses", "bans", "sources"])?;
            cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
            // The guest kernel's and the UEFI edition's code is compiled only for their own targets.
            cargo(&["clippy", "-p", "fcc-guest", "--target", "x86_64-unknown-none", "--", "-D", "warnings"])?;
            cargo(&["clippy", "-p", "fcc-guest-uefi", "--target", "x86_64-unknown-uefi", "--", "-D", "warnings"])?;
            // The core and the platform interfaces must build for the guest's bare-metal target,
            // not only the host.
            cargo(&["build", "-p", "fcc-core", "-p", "fcc-cvm-abi", "--target", "x86_64-unknown-none", "--release"])?;
            cargo(&["test", "--workspace", "--all-targets"])?;
            cargo(&["test", "--workspace", "--doc"])?;
            // QEMU under this host's KVM: probed first (a usable /dev/kvm may still make QEMU
            // abort at start); skipped only when QEMU itself cannot start, with QEMU's reason.
            match fcc_qemu::probe_kvm() {
                probe @ fcc_qemu::KvmProbe::Usable { .. } => {
                    eprintln!("{}", probe.describe());
                    cargo(&["test", "-p", "fcc-e2e", "--test", "guest_boot", "--", "--ignored", "boots_under_kvm"])?;
                }
                fcc_qemu::KvmProbe::Unusable(why) => eprintln!("SKIPPED: guest_boot::boots_under_kvm ({why})"),
            }
            confidential_boots()?;
            contracts_test()?;
            // Two clean rebuilds in different environments, equal to reproducible/MEASUREMENTS.json.
            reproducible_check()?;
            // The devnet is the last end-to-end check: chain, proxy, guest in QEMU, providers; it
            // asserts every step and exits non-zero on any failure. Both forms: the fast default
            // (with the status page in Chromium, and the template extension's example on chain
            // beside seed 003's two) and the one with a wallet across three TEEs.
            devnet_after_tests(20, 1, true, Some("data-integrity,attested-query,template"))?;
            devnet_after_tests(20, 3, false, None)
        }
        Cmd::Bench => cargo(&["bench", "-p", "fcc-core"]),
        Cmd::Image => cargo(&["run", "--quiet", "-p", "fcc-image", "--", "build"]),
        Cmd::BenchBoot { runs } => {
            cargo(&["run", "--quiet", "-p", "fcc-image", "--", "bench-boot", "--runs", &runs.to_string()])
        }
    }
}

#[cfg(test)]
mod gas_snapshot_tests {
    use super::snapshot_diffs;

    const COMMITTED: &str =
        "A:test_one() (gas: 57874)\nA:test_two() (runs: 512, μ: 9050, ~: 9050)\n\nB:test_three() (gas: 100)\n";

    #[test]
    fn equal_snapshots_have_no_differences() {
        assert!(snapshot_diffs(COMMITTED, COMMITTED).is_empty());
        // Blank lines and a missing final newline are not differences.
        assert!(snapshot_diffs(COMMITTED, COMMITTED.replace("\n\n", "\n").trim_end()).is_empty());
    }

    #[test]
    fn each_changed_added_or_removed_test_is_one_line() {
        let fresh = "A:test_one() (gas: 57908)\nA:test_two() (runs: 512, μ: 9050, ~: 9051)\nC:test_new() (gas: 1)\n";
        let diffs = snapshot_diffs(COMMITTED, fresh);
        assert_eq!(
            diffs,
            [
                "  A:test_one(): (gas: 57874) -> (gas: 57908)",
                "  A:test_two(): (runs: 512, μ: 9050, ~: 9050) -> (runs: 512, μ: 9050, ~: 9051)",
                "  B:test_three(): (gas: 100) -> (no longer run)",
                "  C:test_new(): (not in the committed snapshot) -> (gas: 1)",
            ]
        );
    }
}
