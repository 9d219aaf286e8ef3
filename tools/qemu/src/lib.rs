//! `fcc-qemu`: booting the guest ROM in QEMU for the tests, the devnet and the benchmarks — the
//! command line (one place, also shown in the kernel's README and docs/PLATFORMS.md), the
//! accelerator and CPU model this host can actually run, and a console reader that waits for a
//! line with a timeout.
//!
//! A usable `/dev/kvm` is not a usable KVM: some hosts' KVM (`kvm_pvm`) make QEMU 7.2 abort at
//! start with `-cpu max` or `-cpu host` (`failed to set MSR 0x10a`) and accept `qemu64`. So KVM is
//! never assumed: [`probe_kvm`] starts QEMU under KVM with each CPU model of
//! [`KVM_CPU_MODELS`] and keeps the first one QEMU runs, or says why none runs; [`choose`] turns
//! that into the accelerator and CPU model every caller uses, with the reason, for printing.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fcc_layout::interface::{
    FW_CFG_EXTENSION_ID, FW_CFG_OWNER, FW_CFG_PROXY, FW_CFG_SEALED_STATE, FW_CFG_TEST_EXIT, READY_PREFIX,
};

pub mod uefi;

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// The Debian package that provides [`QEMU`].
pub const QEMU_PACKAGE: &str = "qemu-system-x86";

/// QEMU's accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization through /dev/kvm.
    Kvm,
    /// QEMU's software emulator.
    Tcg,
}

impl Accel {
    /// The `-accel` value.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Whether /dev/kvm can be opened read-write.
pub fn kvm_usable() -> bool {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok()
}

/// Whether the host's KVM is PVM (`kvm_pvm`, software virtualization without VMX/SVM): it runs a
/// guest that is not a PVM guest, like ours, through its instruction emulator — correct, but
/// far slower than real KVM (and than TCG), so timings under it say nothing about KVM.
pub fn kvm_is_pvm() -> bool {
    Path::new("/sys/module/kvm_pvm").exists()
}

/// The CPU models tried under KVM, best first. The guest needs RDRAND or RDSEED: `max` and
/// `host` pass the host's through; `qemu64` with both asked for is the model hosts whose KVM
/// refuses the first two still start.
pub const KVM_CPU_MODELS: [&str; 3] = ["max", "host", "qemu64,+rdrand,+rdseed"];

/// How long a probe's QEMU must keep running to count as started: QEMU checks the CPU model
/// and loads the vCPU state under KVM before it runs any guest code, and fails in milliseconds.
pub const PROBE_WINDOW: Duration = Duration::from_secs(3);

/// What this host's KVM runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmProbe {
    /// QEMU starts under KVM with this CPU model; `refused` lists the better models it did not
    /// start with and QEMU's reason for each.
    Usable {
        /// The `-cpu` value.
        cpu: String,
        /// (model, QEMU's error) for each model tried before it.
        refused: Vec<(String, String)>,
    },
    /// QEMU does not start under KVM here; the reason, for a SKIPPED line or an error.
    Unusable(String),
}

impl KvmProbe {
    /// One line for logs: the model chosen and why not a better one.
    pub fn describe(&self) -> String {
        match self {
            KvmProbe::Usable { cpu, refused } if refused.is_empty() => format!("KVM with -cpu {cpu}"),
            KvmProbe::Usable { cpu, refused } => {
                let why: Vec<String> = refused.iter().map(|(m, e)| format!("-cpu {m}: {e}")).collect();
                format!("KVM with -cpu {cpu} (QEMU did not start with {})", why.join("; "))
            }
            KvmProbe::Unusable(why) => format!("KVM unusable: {why}"),
        }
    }
}

/// Probes this host's KVM once per process (see [`probe_kvm_uncached`]).
pub fn probe_kvm() -> &'static KvmProbe {
    static PROBE: OnceLock<KvmProbe> = OnceLock::new();
    PROBE.get_or_init(probe_kvm_uncached)
}

/// Starts QEMU under KVM with each model of [`KVM_CPU_MODELS`] in turn (no guest, SeaBIOS idling,
/// no devices) and returns the first that keeps running for [`PROBE_WINDOW`]. QEMU's own failure
/// — it exits at once — is what is tested here, not our guest: a guest that fails under a model
/// QEMU accepts still fails its test.
pub fn probe_kvm_uncached() -> KvmProbe {
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        return KvmProbe::Unusable(format!("/dev/kvm cannot be opened read-write: {e}"));
    }
    let qemu = match find_qemu() {
        Ok(q) => q,
        Err(e) => return KvmProbe::Unusable(format!("{e:#}")),
    };
    let mut refused = Vec::new();
    for model in KVM_CPU_MODELS {
        match qemu_starts(&qemu, model) {
            Ok(()) => return KvmProbe::Usable { cpu: model.to_string(), refused },
            Err(why) => refused.push((model.to_string(), why)),
        }
    }
    let why: Vec<String> = refused.iter().map(|(m, e)| format!("-cpu {m}: {e}")).collect();
    KvmProbe::Unusable(format!("QEMU exits at start under -accel kvm with every CPU model tried ({})", why.join("; ")))
}

/// Whether QEMU keeps running under KVM with CPU `model`; else QEMU's error (its first stderr
/// line that is not a warning) and exit status.
fn qemu_starts(qemu: &Path, model: &str) -> Result<(), String> {
    let mut child = Command::new(qemu)
        .args(["-accel", "kvm", "-cpu", model, "-machine", "q35", "-m", "64M", "-nodefaults", "-no-reboot"])
        .args(["-display", "none", "-monitor", "none", "-serial", "none"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {QEMU}: {e}"))?;
    let deadline = Instant::now() + PROBE_WINDOW;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(());
            }
            Err(e) => return Err(format!("waiting for {QEMU}: {e}")),
        }
    };
    let mut stderr = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut stderr);
    }
    Err(qemu_error(&stderr, status))
}

/// QEMU's first error line (warnings skipped, its `qemu-system-x86_64: ` prefix dropped) with the
/// exit status.
fn qemu_error(stderr: &str, status: ExitStatus) -> String {
    let line = stderr
        .lines()
        .map(|l| l.trim().trim_start_matches(&format!("{QEMU}: ")).trim())
        .find(|l| !l.is_empty() && !l.starts_with("warning:"))
        .unwrap_or("no message");
    let line = line.strip_prefix("error: ").unwrap_or(line);
    format!("{line} ({status})")
}

/// An accelerator with the CPU model to use under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAccel {
    /// The accelerator.
    pub accel: Accel,
    /// The `-cpu` model.
    pub cpu: String,
    /// Why these, for logs.
    pub why: String,
}

/// The CPU model under TCG: `max` emulates everything QEMU has, RDRAND and RDSEED included.
pub const TCG_CPU: &str = "max";

/// The accelerator and CPU model for this host: `$FCC_QEMU_ACCEL` (`kvm` or `tcg`) if set, else
/// KVM where QEMU starts under it ([`probe_kvm`]) and it is hardware virtualization, else TCG.
/// Under `kvm_pvm` (software virtualization) our guest runs about 40x slower than under TCG, so
/// TCG is chosen there and KVM is exercised by a dedicated test (`boots_under_kvm`).
pub fn choose() -> Result<HostAccel> {
    let tcg = |why: String| HostAccel { accel: Accel::Tcg, cpu: TCG_CPU.into(), why };
    let kvm = |why: &str| match probe_kvm() {
        KvmProbe::Usable { cpu, .. } => {
            Ok(HostAccel { accel: Accel::Kvm, cpu: cpu.clone(), why: format!("{why}; {}", probe_kvm().describe()) })
        }
        KvmProbe::Unusable(reason) => Err(reason.clone()),
    };
    match std::env::var("FCC_QEMU_ACCEL").ok().as_deref() {
        Some("kvm") => {
            return kvm("FCC_QEMU_ACCEL=kvm").map_err(|r| anyhow::anyhow!("FCC_QEMU_ACCEL=kvm, but {r}"));
        }
        Some("tcg") => return Ok(tcg("FCC_QEMU_ACCEL=tcg".into())),
        Some(other) => bail!("FCC_QEMU_ACCEL must be kvm or tcg, not {other:?}"),
        None => {}
    }
    if !kvm_usable() {
        return Ok(tcg("/dev/kvm is not usable".into()));
    }
    if kvm_is_pvm() {
        return Ok(tcg("/dev/kvm is kvm_pvm, which emulates this guest slower than TCG".into()));
    }
    Ok(kvm("/dev/kvm is usable")
        .unwrap_or_else(|reason| tcg(format!("QEMU cannot run under this host's KVM: {reason}"))))
}

/// The QEMU binary on PATH, or an error that says how to install it.
pub fn find_qemu() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(QEMU)).find(|p| p.is_file()).with_context(|| {
        format!("{QEMU} not found on PATH: install QEMU (Debian/Ubuntu: apt-get install {QEMU_PACKAGE})")
    })
}

/// How to boot the ROM.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// The ROM image (`-bios`); unused when [`BootOptions::uefi`] is set.
    pub rom: PathBuf,
    /// The UEFI edition under OVMF instead of the ROM ([`BootOptions::uefi`]).
    pub uefi: Option<uefi::Uefi>,
    /// Accelerator.
    pub accel: Accel,
    /// RAM in MiB (`-m`).
    pub memory_mib: u32,
    /// vCPUs (`-smp`).
    pub smp: u32,
    /// `-cpu` model. `max` (TCG: everything QEMU emulates; KVM: the host's CPU) has RDRAND and
    /// RDSEED, which the guest needs; QEMU's default `qemu64` has neither.
    pub cpu: String,
    /// `-fw_cfg name=…,string=…` items.
    pub fw_cfg: Vec<(String, String)>,
    /// `-fw_cfg name=…,file=…` items (the sealed state of an earlier boot).
    pub fw_cfg_files: Vec<(String, PathBuf)>,
    /// A virtio-net NIC on QEMU user networking ([`NETWORK_ARGS`]).
    pub network: bool,
    /// A confidential launch (SEV-SNP or TDX, KVM only); `None` boots plain.
    pub confidential: Option<Confidential>,
    /// QEMU's human monitor on this unix socket (tests inject events through it, e.g. `nmi`);
    /// `None`: no monitor.
    pub monitor: Option<PathBuf>,
}

/// What a confidential launch adds to the command line: the machine's
/// `confidential-guest-support`, guest memory from a memfd backend (both platforms want private
/// memory they can convert) and the platform's object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confidential {
    /// SEV-SNP (QEMU ≥ 9.1).
    SevSnp {
        /// The host's C-bit position (CPUID Fn8000_001F EBX[5:0]); QEMU insists on it.
        cbitpos: u32,
        /// The guest policy: [`SNP_POLICY`] unless you know why not.
        policy: u64,
    },
    /// TDX (QEMU ≥ 10.1).
    Tdx {
        /// The host's quote-generation service as a vsock (cid, port), for GetQuote; without
        /// it the guest boots but has no quotes.
        qgs_vsock: Option<(u32, u16)>,
    },
}

/// The SEV-SNP guest policy the published measurements and `fcc-attest` expect: SMT allowed,
/// bit 17 (reserved, must be 1), DEBUG (bit 19) clear.
pub const SNP_POLICY: u64 = 0x30000;
/// The CPU model of SEV-SNP launches: one the published measurements cover (the VMSA holds the
/// CPU signature).
pub const SNP_CPU: &str = "EPYC-Milan";
/// Intel QGS's default vsock port.
pub const QGS_VSOCK_PORT: u16 = 4050;

/// The NIC: QEMU user networking (the guest gets 10.0.2.15 by DHCP, the host is 10.0.2.2) and a
/// modern-only virtio-net PCI device (the guest has no legacy virtio driver).
pub const NETWORK_ARGS: [&str; 4] = ["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,disable-legacy=on"];

/// The host as seen from a guest on QEMU user networking.
pub const USER_NET_HOST: &str = "10.0.2.2";

impl BootOptions {
    /// The defaults: 256 MiB, one vCPU, `-cpu max` (what the documented command lines show; use
    /// [`BootOptions::on_host`] to run on this host).
    pub fn new(rom: impl Into<PathBuf>, accel: Accel) -> Self {
        Self {
            rom: rom.into(),
            uefi: None,
            accel,
            memory_mib: 256,
            smp: 1,
            cpu: "max".into(),
            fw_cfg: Vec::new(),
            fw_cfg_files: Vec::new(),
            network: false,
            confidential: None,
            monitor: None,
        }
    }

    /// The defaults under the accelerator and CPU model chosen for this host ([`choose`]).
    pub fn on_host(rom: impl Into<PathBuf>, host: &HostAccel) -> Self {
        Self { cpu: host.cpu.clone(), ..Self::new(rom, host.accel) }
    }

    /// The UEFI edition: OVMF boots `uefi`'s disk (plain only: the edition refuses TDX and SEV
    /// for now), the defaults otherwise.
    pub fn uefi(uefi: uefi::Uefi, accel: Accel) -> Self {
        Self { uefi: Some(uefi), ..Self::new(PathBuf::new(), accel) }
    }

    /// An SEV-SNP launch under KVM with the host's `cbitpos`, [`SNP_POLICY`] and [`SNP_CPU`]
    /// (docs/PLATFORMS.md).
    pub fn sev_snp(rom: impl Into<PathBuf>, cbitpos: u32) -> Self {
        Self {
            cpu: SNP_CPU.into(),
            confidential: Some(Confidential::SevSnp { cbitpos, policy: SNP_POLICY }),
            ..Self::new(rom, Accel::Kvm)
        }
    }

    /// A TDX launch under KVM (`-cpu host`), with the host's quote-generation service at
    /// `qgs_vsock` if given (docs/PLATFORMS.md).
    pub fn tdx(rom: impl Into<PathBuf>, qgs_vsock: Option<(u32, u16)>) -> Self {
        Self { cpu: "host".into(), confidential: Some(Confidential::Tdx { qgs_vsock }), ..Self::new(rom, Accel::Kvm) }
    }

    /// Adds a `-fw_cfg name=…,file=…` item: QEMU reads the file when it starts.
    pub fn fw_cfg_file(mut self, name: &str, path: impl Into<PathBuf>) -> Self {
        self.fw_cfg_files.push((name.into(), path.into()));
        self
    }

    /// Hands the guest the sealed state the proxy keeps at `path` (`opt/fcc/sealed-state`).
    pub fn sealed_state(self, path: impl Into<PathBuf>) -> Self {
        self.fw_cfg_file(FW_CFG_SEALED_STATE, path)
    }

    /// Adds a `-fw_cfg name=…,string=…` item (commas in `value` are doubled, as QEMU wants).
    pub fn fw_cfg(mut self, name: &str, value: &str) -> Self {
        self.fw_cfg.push((name.into(), value.into()));
        self
    }

    /// Adds the NIC ([`NETWORK_ARGS`]) and points the guest at a proxy listening on the host's
    /// `proxy_port` (fw_cfg `opt/fcc/proxy` = `10.0.2.2:<port>`).
    pub fn network(mut self, proxy_port: u16) -> Self {
        self.network = true;
        self.fw_cfg(FW_CFG_PROXY, &format!("{USER_NET_HOST}:{proxy_port}"))
    }

    /// The extension and owner the guest may sign its registration for (fw_cfg
    /// `opt/fcc/extension-id` and `opt/fcc/owner`, docs/PROTOCOL.md §7.2).
    pub fn registration(self, extension_id: u64, owner: [u8; 20]) -> Self {
        self.fw_cfg(FW_CFG_EXTENSION_ID, &extension_id.to_string())
            .fw_cfg(FW_CFG_OWNER, &format!("0x{}", hex::encode(owner)))
    }

    /// Puts QEMU's human monitor on the unix socket `path` ([`monitor_command`]).
    pub fn monitor(mut self, path: impl Into<PathBuf>) -> Self {
        self.monitor = Some(path.into());
        self
    }

    /// Asks the guest to leave QEMU through isa-debug-exit when it is done or fails.
    pub fn test_exit(self) -> Self {
        self.fw_cfg(FW_CFG_TEST_EXIT, "1")
    }

    /// QEMU's arguments. `-nographic` alone would put the monitor on stdio too, so it is
    /// `-monitor none`; the serial console is stdio.
    pub fn args(&self) -> Vec<String> {
        let machine = match &self.confidential {
            None => "q35",
            Some(Confidential::SevSnp { .. }) => "q35,confidential-guest-support=sev0,memory-backend=ram0",
            Some(Confidential::Tdx { .. }) => {
                "q35,kernel-irqchip=split,confidential-guest-support=tdx0,memory-backend=ram0"
            }
        };
        let monitor = match &self.monitor {
            Some(path) => format!("unix:{},server=on,wait=off", path.display()),
            None => "none".into(),
        };
        let mut args: Vec<String> = vec!["-machine".into(), machine.into()];
        if let Some(c) = &self.confidential {
            args.push("-object".into());
            args.push(format!("memory-backend-memfd,id=ram0,size={}M", self.memory_mib));
            args.push("-object".into());
            args.push(match c {
                Confidential::SevSnp { cbitpos, policy } => {
                    format!("sev-snp-guest,id=sev0,cbitpos={cbitpos},reduced-phys-bits=1,policy={policy:#x}")
                }
                Confidential::Tdx { qgs_vsock: None } => "tdx-guest,id=tdx0".into(),
                // The socket address is an object, so only QEMU's JSON syntax can say it.
                Confidential::Tdx { qgs_vsock: Some((cid, port)) } => format!(
                    r#"{{"qom-type":"tdx-guest","id":"tdx0","quote-generation-socket":{{"type":"vsock","cid":"{cid}","port":"{port}"}}}}"#
                ),
            });
        }
        args.extend(["-cpu".into(), self.cpu.clone()]);
        match &self.uefi {
            Some(uefi) => {
                args.extend(uefi.args());
                if !self.network {
                    // Else q35's default NIC, whose option ROM OVMF would load and try.
                    args.extend(["-nic".into(), "none".into()]);
                }
            }
            None => args.extend(["-bios".into(), self.rom.display().to_string()]),
        }
        args.extend(
            [
                "-m",
                &format!("{}M", self.memory_mib),
                "-smp",
                &self.smp.to_string(),
                "-nographic",
                "-monitor",
                &monitor,
                "-serial",
                "stdio",
                "-no-reboot",
                "-display",
                "none",
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-accel",
                self.accel.name(),
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        if self.network {
            args.extend(NETWORK_ARGS.iter().map(|s| s.to_string()));
        }
        for (name, value) in &self.fw_cfg {
            args.push("-fw_cfg".into());
            // QEMU's option syntax: a comma inside a value is written twice.
            args.push(format!("name={name},string={}", value.replace(',', ",,")));
        }
        for (name, path) in &self.fw_cfg_files {
            args.push("-fw_cfg".into());
            args.push(format!("name={name},file={}", path.display()));
        }
        args
    }

    /// The command line, for logs and documentation (arguments with shell metacharacters, such
    /// as TDX's JSON object, single-quoted).
    pub fn command_line(&self) -> String {
        let quote = |a: String| if a.contains(['"', '{', ' ']) { format!("'{a}'") } else { a };
        std::iter::once(QEMU.to_string()).chain(self.args().into_iter().map(quote)).collect::<Vec<_>>().join(" ")
    }
}

/// Sends one command to the QEMU human monitor listening on `socket` (`BootOptions::monitor`),
/// e.g. `nmi`, and waits until QEMU has read it.
pub fn monitor_command(socket: &Path, command: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let mut stream = UnixStream::connect(socket).with_context(|| format!("connecting to {}", socket.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    // The monitor echoes the command and prints its prompt again once it has run it.
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let n = stream.read(&mut buf).context("reading the monitor")?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        if text.matches("(qemu)").count() >= 2 {
            return Ok(());
        }
    }
    bail!("the QEMU monitor did not confirm {command:?}: {}", String::from_utf8_lossy(&seen))
}

/// A running guest; killed when dropped.
#[derive(Debug)]
pub struct Guest {
    child: Child,
    lines: Receiver<String>,
    log: Vec<String>,
    started: Instant,
}

impl Guest {
    /// Starts QEMU. The clock for [`Guest::wait_for`]'s elapsed time starts just before the
    /// process is spawned.
    pub fn boot(options: &BootOptions) -> Result<Self> {
        let qemu = find_qemu()?;
        let started = Instant::now();
        let mut child = Command::new(qemu)
            .args(options.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {QEMU}"))?;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().context("QEMU stdout")?;
        let stderr = child.stderr.take().context("QEMU stderr")?;
        for (stream, prefix) in [(Box::new(stdout) as Box<dyn Read + Send>, ""), (Box::new(stderr), "qemu stderr: ")] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).split(b'\n') {
                    let Ok(line) = line else { break };
                    let line = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
                    if tx.send(format!("{prefix}{line}")).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self { child, lines, log: Vec::new(), started })
    }

    /// Waits for a console line starting with `prefix`; returns it and the time since spawn.
    pub fn wait_for(&mut self, prefix: &str, timeout: Duration) -> Result<(String, Duration)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let elapsed = self.started.elapsed();
                    self.log.push(line.clone());
                    if line.starts_with(prefix) {
                        return Ok((line, elapsed));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    bail!("no line starting with {prefix:?} within {timeout:?}; console so far:\n{}", self.output())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    bail!(
                        "QEMU ended ({status:?}) without a line starting with {prefix:?}; console:\n{}",
                        self.output()
                    )
                }
            }
        }
    }

    /// Waits for QEMU to exit (the guest uses isa-debug-exit under `test_exit`); collects the
    /// rest of the console.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.log.push(line);
                }
                return Ok(status);
            }
            while let Ok(line) = self.lines.try_recv() {
                self.log.push(line);
            }
            if Instant::now() >= deadline {
                bail!("QEMU still running after {timeout:?}; console:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything read from the console so far, after collecting the lines already printed.
    pub fn console(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        self.output()
    }

    /// Stops QEMU where it is (SIGSTOP): the guest runs no further instruction until
    /// [`Guest::thaw`]; a drop still kills it.
    pub fn freeze(&mut self) -> Result<()> {
        self.signal("-STOP")
    }

    /// Lets a frozen QEMU run again (SIGCONT).
    pub fn thaw(&mut self) -> Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, which: &str) -> Result<()> {
        let status = Command::new("kill").args([which, &self.child.id().to_string()]).status().context("kill")?;
        anyhow::ensure!(status.success(), "kill {which} QEMU failed ({status})");
        Ok(())
    }

    /// Everything read from the console so far.
    pub fn output(&self) -> String {
        self.log.join("\n")
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed `READY` line: `READY tee=0x<40 hex> platform=<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The TEE id (20 bytes).
    pub tee: [u8; 20],
    /// The platform name.
    pub platform: String,
}

/// Parses a `READY` line strictly (lower-case hex, exactly these two fields).
pub fn parse_ready(line: &str) -> Result<Ready> {
    let rest = line.strip_prefix(READY_PREFIX).with_context(|| format!("not a READY line: {line:?}"))?;
    let (hex_id, platform) = rest.split_once(" platform=").with_context(|| format!("no platform in {line:?}"))?;
    if hex_id.len() != 40 || !hex_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        bail!("the TEE id is not 40 lower-case hex digits: {line:?}");
    }
    if !["plain", "sev-snp", "tdx"].contains(&platform) {
        bail!("unknown platform in {line:?}");
    }
    let mut tee = [0u8; 20];
    hex::decode_to_slice(hex_id, &mut tee)?;
    Ok(Ready { tee, platform: platform.into() })
}

/// The value of `key=` in a `BOOT` line, if it is a number.
pub fn boot_field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_lines() {
        let r = parse_ready("READY tee=0x00112233445566778899aabbccddeeff00112233 platform=plain").unwrap();
        assert_eq!(r.tee[1], 0x11);
        assert_eq!(r.platform, "plain");
        for bad in [
            "READY tee=0x00112233445566778899AABBCCDDEEFF00112233 platform=plain",
            "READY tee=0x0011 platform=plain",
            "READY tee=0x00112233445566778899aabbccddeeff00112233 platform=vmx",
            "READY tee=0x00112233445566778899aabbccddeeff00112233",
            "READY tee=00112233445566778899aabbccddeeff00112233 platform=plain",
        ] {
            assert!(parse_ready(bad).is_err(), "{bad}");
        }
    }

    /// QEMU's abort on a KVM that refuses `-cpu max` (QEMU 7.2 under kvm_pvm), as a probe reports it.
    #[test]
    fn qemu_errors_skip_warnings_and_the_program_name() {
        use std::os::unix::process::ExitStatusExt;
        let stderr = "qemu-system-x86_64: warning: host doesn't support requested feature: CPUID.01H:ECX.pni [bit 0]\n\
            qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n\
            qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion failed.\n";
        let why = qemu_error(stderr, ExitStatus::from_raw(134 << 8));
        assert_eq!(why, "failed to set MSR 0x10a to 0x69 (exit status: 134)");
        assert_eq!(qemu_error("", ExitStatus::from_raw(1 << 8)), "no message (exit status: 1)");
    }

    #[test]
    fn probes_describe_the_model_and_what_was_refused() {
        let p = KvmProbe::Usable { cpu: "qemu64".into(), refused: vec![("max".into(), "MSR".into())] };
        assert_eq!(p.describe(), "KVM with -cpu qemu64 (QEMU did not start with -cpu max: MSR)");
        assert_eq!(KvmProbe::Usable { cpu: "max".into(), refused: vec![] }.describe(), "KVM with -cpu max");
    }

    #[test]
    fn host_options_take_the_chosen_cpu() {
        let host = HostAccel { accel: Accel::Kvm, cpu: "qemu64,+rdrand,+rdseed".into(), why: String::new() };
        let cmd = BootOptions::on_host("fcc.rom", &host).command_line();
        assert!(cmd.contains(" -cpu qemu64,+rdrand,+rdseed ") && cmd.contains(" -accel kvm"), "{cmd}");
    }

    #[test]
    fn boot_fields() {
        let line = "BOOT reset_to_ready_us=1234 reset_to_main_us=56 tsc_ticks=99 tsc_khz=2100000";
        assert_eq!(boot_field(line, "reset_to_ready_us"), Some(1234));
        assert_eq!(boot_field(line, "tsc_khz"), Some(2_100_000));
        assert_eq!(boot_field("BOOT reset_to_ready_us=unknown", "reset_to_ready_us"), None);
        assert_eq!(boot_field(line, "reset"), None);
    }

    #[test]
    fn command_line() {
        let opts = BootOptions::new("target/fcc-guest.rom", Accel::Tcg).test_exit();
        let cmd = opts.command_line();
        assert!(cmd.starts_with("qemu-system-x86_64 -machine q35 -cpu max -bios target/fcc-guest.rom -m 256M"));
        assert!(cmd.ends_with("-accel tcg -fw_cfg name=opt/fcc/test-exit,string=1"));
        // A comma inside a value is doubled (QEMU's option syntax).
        let cmd = BootOptions::new("r.rom", Accel::Tcg).fw_cfg("opt/fcc/governance", "1:0xa,0xb").command_line();
        assert!(cmd.ends_with("-fw_cfg name=opt/fcc/governance,string=1:0xa,,0xb"), "{cmd}");
    }

    /// The `sh` block after `heading` in docs/PLATFORMS.md, split like a shell would (line
    /// continuations joined, single quotes removed).
    fn documented_command(heading: &str) -> Vec<String> {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PLATFORMS.md")).unwrap();
        let at = doc.find(heading).unwrap_or_else(|| panic!("{heading} not in PLATFORMS.md"));
        let block = doc[at..].split("```sh\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
        let joined = block.replace("\\\n", " ");
        let mut words = Vec::new();
        for (i, part) in joined.split('\'').enumerate() {
            if i % 2 == 1 {
                words.push(part.to_string());
            } else {
                words.extend(part.split_whitespace().map(str::to_string));
            }
        }
        words
    }

    /// The command lines operators copy from docs/PLATFORMS.md are the ones the code builds.
    #[test]
    fn documented_confidential_command_lines_are_the_generated_ones() {
        let rom = "target/fcc-guest.rom";
        let snp = std::iter::once(QEMU.to_string()).chain(BootOptions::sev_snp(rom, 51).args()).collect::<Vec<_>>();
        assert_eq!(documented_command("## SEV-SNP"), snp);
        let tdx = BootOptions::tdx(rom, Some((2, QGS_VSOCK_PORT))).network(6661);
        let tdx = std::iter::once(QEMU.to_string()).chain(tdx.args()).collect::<Vec<_>>();
        assert_eq!(documented_command("### Command line (QEMU ≥ 10.1"), tdx);
        assert!(BootOptions::tdx(rom, None).command_line().contains(" -object tdx-guest,id=tdx0 "));
        assert!(BootOptions::sev_snp(rom, 51).command_line().contains(" -accel kvm"));
    }

    #[test]
    fn network_command_line() {
        let cmd = BootOptions::new("fcc.rom", Accel::Tcg).network(6661).command_line();
        assert!(cmd.ends_with(
            "-accel tcg -netdev user,id=n0 -device virtio-net-pci,netdev=n0,disable-legacy=on -fw_cfg name=opt/fcc/proxy,string=10.0.2.2:6661"
        ));
    }

    #[test]
    fn kernel_readme_shows_the_command() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest/kernel/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        for opts in [
            BootOptions::new("target/fcc-guest.rom", Accel::Kvm),
            BootOptions::new("target/fcc-guest.rom", Accel::Kvm).network(6661),
        ] {
            let cmd = opts.command_line();
            assert!(readme.contains(&cmd), "{path} should show the QEMU command:\n{cmd}");
        }
    }
}
