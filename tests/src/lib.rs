//! Fixtures for the end-to-end tests: the guest ROM, built once per test binary with the pinned
//! flags (`fcc-image`), and a booted guest under the accelerator chosen for this machine; the
//! proxy in-process (`stack`), a hand-written test proxy (`proxy`), the providers' side
//! (`flare`), a link fuzzer playing a hostile proxy (`link_fuzz`) and a TCP balancer in front of
//! several proxies (`balancer`). The proxy as a process and its API client are the devnet's (`fcc_devnet::process`).

pub mod balancer;
pub mod flare;
pub mod link_fuzz;
pub mod proxy;
pub mod stack;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::ensure;
use fcc_core::policy::SigningPolicy;
use fcc_core::result::status;
use fcc_image::build;
use fcc_layout::interface::{EXCEPTION_PREFIX, FATAL_PREFIX, HANDLED_PREFIX, PANIC_PREFIX, READY_PREFIX};
use fcc_qemu::{BootOptions, Guest, HostAccel, parse_ready};
use proxy::Connection;

/// How long a boot may take. Generous: under TCG or an emulating KVM (kvm_pvm) on a loaded
/// two-core machine a boot takes seconds, not milliseconds.
pub const TIMEOUT: Duration = Duration::from_secs(180);

/// The ROM (`target/fcc-guest.rom`), built on first use.
pub fn rom() -> PathBuf {
    static ROM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROM.get_or_init(|| {
        let workspace = build::workspace_root();
        let out = workspace.join(build::ROM_PATH);
        build::build_rom(&workspace, &out).map(|_| out).map_err(|e| format!("{e:#}"))
    })
    .clone()
    .unwrap_or_else(|e| panic!("building the guest ROM failed: {e}"))
}

/// The accelerator and CPU model for this machine (probed and printed once).
pub fn host_accel() -> &'static HostAccel {
    static HOST: OnceLock<HostAccel> = OnceLock::new();
    HOST.get_or_init(|| {
        let host = fcc_qemu::choose().unwrap_or_else(|e| panic!("{e:#}"));
        eprintln!("fcc-e2e: QEMU accel={} cpu={} ({})", host.accel.name(), host.cpu, host.why);
        host
    })
}

/// Boot options for the ROM under this machine's accelerator, exiting through isa-debug-exit.
pub fn options() -> BootOptions {
    if let Err(e) = fcc_qemu::find_qemu() {
        panic!("{e:#}");
    }
    BootOptions::on_host(rom(), host_accel()).test_exit()
}

/// Boots with `options`, printing the command line.
pub fn boot(options: &BootOptions) -> Guest {
    eprintln!("$ {}", options.command_line());
    Guest::boot(options).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Boots a guest whose proxy is 10.0.2.2:`port` (the host's 127.0.0.1:`port`); returns it and
/// the TEE id of its READY line.
pub fn boot_networked(port: u16) -> (Guest, [u8; 20]) {
    boot_ready(&options().network(port))
}

/// Boots with `options` and waits for READY; returns the guest and its TEE id.
pub fn boot_ready(options: &BootOptions) -> (Guest, [u8; 20]) {
    let mut guest = boot(options);
    let (line, elapsed) = guest.wait_for(READY_PREFIX, TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("{line}  ({} ms after exec)", elapsed.as_millis());
    let ready = parse_ready(&line).unwrap_or_else(|e| panic!("{e:#}"));
    (guest, ready.tee)
}

/// Runs `body`; on failure panics with the error and the guest's console (QEMU is killed when
/// the guest is dropped during the unwind). The guest must never have printed a panic,
/// exception or fatal stop; the actions it handled are echoed.
pub fn run_checked(guest: &mut Guest, body: impl FnOnce(&mut Guest) -> anyhow::Result<()>) {
    let outcome = body(guest);
    let console = guest.console();
    if let Err(e) = outcome {
        panic!("{e:#}\n--- guest console ---\n{console}");
    }
    for bad in [PANIC_PREFIX, EXCEPTION_PREFIX, FATAL_PREFIX] {
        assert!(!console.contains(bad), "the guest printed {bad:?}:\n{console}");
    }
    for line in console.lines().filter(|l| l.starts_with(HANDLED_PREFIX)) {
        eprintln!("guest: {line}");
    }
}

/// Through `conn`: the trust root of 100 providers, then an `F_FDC2/PROVE` (`memo`) signed by
/// all of them; both must succeed and recover (libsecp256k1) to `tee`, the proof with its id and
/// data. Returns the providers and the policy, for what the caller does next.
pub fn initialize_and_prove(
    conn: &mut Connection,
    tee: [u8; 20],
    memo: &str,
) -> anyhow::Result<(Vec<flare::Provider>, SigningPolicy)> {
    let ps = flare::providers(100)?;
    let policy = flare::policy(&ps)?;
    let r = conn.run(&flare::initialize_policy(&ps, &policy)?)?;
    ensure!(r.result.status == status::SUCCESS, "INITIALIZE_POLICY refused: {}", r.result.log);
    flare::signed_by(&r, tee)?;
    let all: Vec<usize> = (0..ps.len()).collect();
    let action = flare::signed(&ps, &all, flare::fdc2_instruction(tee, memo))?;
    let r = conn.run(&action)?;
    ensure!(r.result.status == status::SUCCESS, "PROVE refused: {}", r.result.log);
    ensure!(r.result.id == action.instruction.instruction_id && !r.result.data.is_empty());
    flare::signed_by(&r, tee)?;
    Ok((ps, policy))
}
