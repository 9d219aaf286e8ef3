//! The UEFI edition under firmware that is not ours: Debian's OVMF booting a disk image, with a
//! TPM 2.0 from `swtpm` (SHA-256 and SHA-384 banks) so the firmware keeps a measured-boot log.
//! [`crate::BootOptions::uefi`] puts it on the command line; [`Swtpm`] runs the TPM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

/// OVMF's code (Debian package `ovmf`, 4 MiB flash layout).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// OVMF's variable-store template; each boot gets its own copy.
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Where distributions install a TDX build of OVMF (Ubuntu's and CentOS's TDX packages).
pub const TDVF_CANDIDATES: [&str; 2] = ["/usr/share/ovmf/OVMF.inteltdx.fd", "/usr/share/edk2/ovmf/OVMF.inteltdx.fd"];

/// The TDVF image a TD boot of the UEFI edition uses: `FCC_TDVF` if set (it must exist), else the
/// first of [`TDVF_CANDIDATES`] present; `Err` says how to provide one.
pub fn tdvf_image() -> std::result::Result<PathBuf, String> {
    match std::env::var_os("FCC_TDVF") {
        Some(path) => {
            let path = PathBuf::from(path);
            path.is_file().then_some(path.clone()).ok_or_else(|| format!("FCC_TDVF={}: no such file", path.display()))
        }
        None => TDVF_CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file()).ok_or_else(|| {
            format!(
                "no TDVF image: set FCC_TDVF (EDK2 OvmfPkg/IntelTdx) or install it at {}",
                TDVF_CANDIDATES.join(" or ")
            )
        }),
    }
}

/// What a UEFI boot needs that this machine lacks (OVMF, swtpm), if anything.
pub fn missing() -> Option<String> {
    let mut missing = Vec::new();
    for f in [OVMF_CODE, OVMF_VARS] {
        if !Path::new(f).is_file() {
            missing.push(format!("{f} (Debian package ovmf)"));
        }
    }
    for tool in ["swtpm", "swtpm_setup"] {
        if Command::new(tool).arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            missing.push(format!("{tool} (Debian packages swtpm, swtpm-tools)"));
        }
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// A UEFI boot: the firmware ([`Firmware`]), the disk on virtio-blk as the first boot option,
/// and the TPM on an swtpm control socket if given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uefi {
    /// The firmware.
    pub firmware: Firmware,
    /// The disk image (raw).
    pub disk: PathBuf,
    /// [`Swtpm::socket`], for a TPM.
    pub tpm_socket: Option<PathBuf>,
}

/// Which firmware boots the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firmware {
    /// Debian's OVMF: its code read-only and this boot's copy of [`OVMF_VARS`] as the two
    /// pflash drives.
    Ovmf {
        /// This boot's copy of [`OVMF_VARS`].
        vars: PathBuf,
    },
    /// OVMF built for TDX (TDVF, e.g. EDK2's `OvmfPkg/IntelTdx` or a distribution's
    /// `OVMF.inteltdx.fd`): one image as `-bios`, measured by the TDX module into MRTD.
    Tdvf(PathBuf),
}

impl Uefi {
    /// A boot of `disk` whose variable store is a fresh copy of [`OVMF_VARS`] in `dir`.
    pub fn new(disk: impl Into<PathBuf>, dir: &Path, tpm: Option<&Swtpm>) -> Result<Self> {
        let vars = dir.join("OVMF_VARS.fd");
        std::fs::copy(OVMF_VARS, &vars).with_context(|| format!("copying {OVMF_VARS}"))?;
        Ok(Self { firmware: Firmware::Ovmf { vars }, disk: disk.into(), tpm_socket: tpm.map(|t| t.socket.clone()) })
    }

    /// A TD's boot of `disk` under the TDVF image `tdvf` (no TPM: the firmware measures into
    /// the RTMRs and keeps the CC event log).
    pub fn tdvf(disk: impl Into<PathBuf>, tdvf: impl Into<PathBuf>) -> Self {
        Self { firmware: Firmware::Tdvf(tdvf.into()), disk: disk.into(), tpm_socket: None }
    }

    /// QEMU's arguments for it (in place of `-bios`).
    pub fn args(&self) -> Vec<String> {
        let mut args = match &self.firmware {
            Firmware::Ovmf { vars } => vec![
                "-drive".into(),
                format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
                "-drive".into(),
                format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
            ],
            Firmware::Tdvf(image) => vec!["-bios".into(), image.display().to_string()],
        };
        args.extend::<[String; 4]>([
            "-drive".into(),
            format!("if=none,id=disk,format=raw,file={}", self.disk.display()),
            "-device".into(),
            "virtio-blk-pci,drive=disk,bootindex=0".into(),
        ]);
        if let Some(socket) = &self.tpm_socket {
            args.extend([
                "-chardev".into(),
                format!("socket,id=tpm,path={}", socket.display()),
                "-tpmdev".into(),
                "emulator,id=tpm0,chardev=tpm".into(),
                "-device".into(),
                "tpm-tis,tpmdev=tpm0".into(),
            ]);
        }
        args
    }
}

/// A software TPM 2.0 with SHA-256 and SHA-384 PCR banks, fresh state in its directory, serving
/// one QEMU on a unix control socket; killed when dropped.
#[derive(Debug)]
pub struct Swtpm {
    child: Child,
    /// The control socket QEMU connects to.
    pub socket: PathBuf,
}

impl Swtpm {
    /// Manufactures a TPM in `dir` and starts it (waits up to 10 s for its socket).
    pub fn start(dir: &Path) -> Result<Self> {
        let state = dir.join("tpm");
        std::fs::create_dir_all(&state)?;
        let setup = Command::new("swtpm_setup")
            .args(["--tpm2", "--pcr-banks", "sha256,sha384", "--overwrite", "--tpmstate"])
            .arg(&state)
            .output()
            .context("swtpm_setup")?;
        ensure!(setup.status.success(), "swtpm_setup: {}", String::from_utf8_lossy(&setup.stderr));
        let socket = dir.join("swtpm.sock");
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--terminate", "--tpmstate"])
            .arg(format!("dir={}", state.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", socket.display()))
            .stdout(Stdio::null())
            .spawn()
            .context("swtpm")?;
        let tpm = Self { child, socket };
        let started = Instant::now();
        while !tpm.socket.exists() {
            ensure!(started.elapsed() < Duration::from_secs(10), "swtpm did not open its socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(tpm)
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
