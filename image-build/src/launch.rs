//! `fcc-image launch`: boots a released ROM — never a rebuild — on plain QEMU/KVM, SEV-SNP or
//! TDX with the objects, fw_cfg settings and sealed-state file that platform needs, after
//! printing what its evidence must then show, and refuses a launch no verifier would accept:
//! a ROM that is not the manifest's, or an SEV-SNP configuration whose launch digest the
//! manifest does not publish. The measurements are recomputed from the ROM here and must equal
//! the manifest's (a manifest edited to match another ROM is refused too).
//!
//! What is measured where (docs/PLATFORMS.md): SEV-SNP's launch digest covers the ROM, the vCPU
//! count and the CPU model (its signature is in each VMSA), so only published (vCPUs, model)
//! pairs launch; TDX's MRTD covers the ROM alone, and RTMR2 the runtime configuration record
//! (chain id, proxy address, policy-hash scheme), printed for this launch; plain QEMU has no
//! measurement at all (its evidence is simulated).

use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use fcc_layout::interface::{
    DEFAULT_CHAIN_ID, FW_CFG_CHAIN_ID, FW_CFG_POLICY_HASH, FW_CFG_PROXY, FW_CFG_SEALED_STATE, FW_CFG_TEST_EXIT,
};
use fcc_qemu::{Accel, BootOptions, USER_NET_HOST};
use serde_json::Value;
use sha2::{Digest, Sha384};

use crate::{ovmf, snp, tdx};

/// The platform to launch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Plain QEMU (KVM where it works, else TCG): not a TEE.
    Plain,
    /// AMD SEV-SNP under KVM.
    SevSnp,
    /// Intel TDX under KVM.
    Tdx,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain => "plain",
            Self::SevSnp => "sev-snp",
            Self::Tdx => "tdx",
        })
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "plain" => Ok(Self::Plain),
            "sev-snp" | "snp" => Ok(Self::SevSnp),
            "tdx" => Ok(Self::Tdx),
            _ => Err(format!("{s:?}: the platform is plain, sev-snp or tdx")),
        }
    }
}

/// The policy-hash scheme the guest's light client uses (fw_cfg `opt/fcc/policy-hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyHash {
    /// Bound to the chain id (the default).
    ChainBound,
    /// Flare's Relay hash without the chain id.
    Legacy,
}

impl std::str::FromStr for PolicyHash {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chain-bound" => Ok(Self::ChainBound),
            "legacy" => Ok(Self::Legacy),
            _ => Err(format!("{s:?}: the policy-hash scheme is chain-bound or legacy")),
        }
    }
}

/// What the operator asks for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The released ROM.
    pub rom: PathBuf,
    /// The platform.
    pub platform: Platform,
    /// vCPUs.
    pub vcpus: u32,
    /// SEV-SNP: the QEMU CPU model (its signature is measured).
    pub cpu: String,
    /// SEV-SNP: the host's C-bit position.
    pub cbitpos: u32,
    /// TDX: the quote-generation service's vsock (cid, port).
    pub qgs_vsock: Option<(u32, u16)>,
    /// RAM in MiB.
    pub memory_mib: u32,
    /// Plain only: the accelerator (`None`: this host's best).
    pub accel: Option<Accel>,
    /// The proxy's link port on this host (QEMU user networking: `10.0.2.2:<port>` from the
    /// guest); `None`: no NIC.
    pub proxy_port: Option<u16>,
    /// The chain the guest serves.
    pub chain_id: u64,
    /// Its light client's policy hashes.
    pub policy_hash: PolicyHash,
    /// The sealed-state file shared with the proxy (`--sealed-state` there); created empty
    /// (0600) when missing.
    pub sealed_state: Option<PathBuf>,
    /// Other fw_cfg settings (`opt/fcc/extension-id`, `opt/fcc/owner`, `opt/fcc/governance`:
    /// not in any measurement — the registration signature carries them).
    pub fw_cfg: Vec<(String, String)>,
    /// Leave QEMU after READY (isa-debug-exit), for tests.
    pub test_exit: bool,
}

/// A launch that may go ahead: the QEMU options and what its evidence must show.
#[derive(Debug, Clone)]
pub struct Plan {
    /// QEMU's options.
    pub boot: BootOptions,
    /// What to expect, line by line: (what, value).
    pub expected: Vec<(String, String)>,
}

/// Settings a flag of their own sets (they are measured into RTMR2, or name a file the launch
/// creates): not accepted as generic `--fw-cfg`.
const OWN_FLAGS: [&str; 5] = [FW_CFG_CHAIN_ID, FW_CFG_PROXY, FW_CFG_POLICY_HASH, FW_CFG_SEALED_STATE, FW_CFG_TEST_EXIT];

/// Checks `req` against the ROM `image` and `manifest` (`reproducible/MEASUREMENTS.json` as
/// released) and plans the launch.
pub fn plan(image: &[u8], manifest: &Value, req: &Request) -> Result<Plan> {
    for (name, _) in &req.fw_cfg {
        ensure!(
            !OWN_FLAGS.contains(&name.as_str()),
            "{name} has a flag of its own (--chain-id, --proxy-port, --policy-hash, --sealed-state, --test-exit)"
        );
    }
    ensure!(req.vcpus >= 1, "at least one vCPU");
    let sha = hex::encode(Sha384::digest(image));
    let published =
        manifest.pointer("/rom/sha384").and_then(Value::as_str).context("the manifest has no rom.sha384")?;
    ensure!(
        sha == published,
        "this ROM (sha384 {sha}) is not the one the manifest publishes ({published}): refusing to launch it"
    );
    let tables = ovmf::parse(image)?;
    let mut expected = vec![("ROM sha384".to_string(), format!("{sha} (= the manifest's)"))];
    let mut boot = match req.platform {
        Platform::Plain => {
            let host = fcc_qemu::choose()?;
            let mut boot = BootOptions::on_host(&req.rom, &host);
            if let Some(accel) = req.accel {
                boot.accel = accel;
                boot.cpu = match accel {
                    Accel::Tcg => fcc_qemu::TCG_CPU.into(),
                    Accel::Kvm => "host".into(),
                };
            }
            expected.push((
                "measurement".into(),
                "none: plain QEMU is not a TEE (its evidence is simulated; fcc-attest accepts it only in test mode)"
                    .into(),
            ));
            boot
        }
        Platform::SevSnp => {
            let sig = snp::cpu_type_signature(&req.cpu)?;
            let features = manifest
                .pointer("/snp/guest_features")
                .and_then(Value::as_str)
                .and_then(|f| u64::from_str_radix(f.trim_start_matches("0x"), 16).ok())
                .context("the manifest's snp.guest_features")?;
            let digests =
                manifest.pointer("/snp/launch_digests").and_then(Value::as_array).context("snp.launch_digests")?;
            let entry = digests.iter().find(|d| {
                d["vcpus"].as_u64() == Some(u64::from(req.vcpus)) && d["vcpu_type"].as_str() == Some(req.cpu.as_str())
            });
            let Some(entry) = entry else {
                let mut types: Vec<&str> = digests.iter().filter_map(|d| d["vcpu_type"].as_str()).collect();
                types.dedup();
                bail!(
                    "SEV-SNP with {} vCPU(s) of {} is not in the manifest: its launch digest would match nothing a \
                     verifier accepts (published CPU models: {}; vCPUs 1..={})",
                    req.vcpus,
                    req.cpu,
                    types.join(", "),
                    digests.iter().filter_map(|d| d["vcpus"].as_u64()).max().unwrap_or(0)
                );
            };
            let digest = hex::encode(snp::launch_digest(image, &tables, req.vcpus, sig, features)?);
            ensure!(
                entry["digest"].as_str() == Some(digest.as_str()),
                "the manifest's launch digest for {} vCPU(s) of {} is not this ROM's ({digest}): refusing",
                req.vcpus,
                req.cpu
            );
            expected.push((
                "SEV-SNP MEASUREMENT".into(),
                format!(
                    "{digest} ({} vCPU(s), {} = signature {sig:#x}, guest features {features:#x})",
                    req.vcpus, req.cpu
                ),
            ));
            expected.push(("SEV-SNP POLICY".into(), format!("{:#x} (no DEBUG)", fcc_qemu::SNP_POLICY)));
            expected.push(code_hash(&digest));
            BootOptions { cpu: req.cpu.clone(), ..BootOptions::sev_snp(&req.rom, req.cbitpos) }
        }
        Platform::Tdx => {
            let mrtd = hex::encode(tdx::mrtd(image, &tables, tdx::Order::PageByPage)?);
            let published = manifest.pointer("/tdx/page_by_page/mrtd").and_then(Value::as_str);
            ensure!(
                published == Some(mrtd.as_str()),
                "the manifest's TDX MRTD ({published:?}) is not this ROM's ({mrtd}): refusing"
            );
            let proxy = req.proxy_port.unwrap_or(DEFAULT_PROXY_PORT);
            let chain_bound = req.policy_hash == PolicyHash::ChainBound;
            let rtmr2 = hex::encode(tdx::rtmr2(req.chain_id, USER_NET_IP, proxy, chain_bound));
            expected.push(("TDX MRTD".into(), format!("{mrtd} (page by page: upstream KVM with QEMU >= 10.1)")));
            expected.push(("TDX RTMR0, RTMR1, RTMR3".into(), "zero (no firmware, no loader)".into()));
            expected.push((
                "TDX RTMR2".into(),
                format!(
                    "{rtmr2} (chain {}, proxy {USER_NET_HOST}:{proxy}, policy hash {})",
                    req.chain_id,
                    match req.policy_hash {
                        PolicyHash::ChainBound => "chain-bound",
                        PolicyHash::Legacy => "legacy",
                    }
                ),
            ));
            expected.push(("TDX TD_ATTRIBUTES".into(), "DEBUG clear".into()));
            expected.push(code_hash(&mrtd));
            BootOptions::tdx(&req.rom, req.qgs_vsock)
        }
    };
    boot.smp = req.vcpus;
    boot.memory_mib = req.memory_mib;
    if let Some(port) = req.proxy_port {
        boot = boot.network(port);
    }
    if req.chain_id != DEFAULT_CHAIN_ID {
        boot = boot.fw_cfg(FW_CFG_CHAIN_ID, &req.chain_id.to_string());
    }
    if req.policy_hash == PolicyHash::Legacy {
        boot = boot.fw_cfg(FW_CFG_POLICY_HASH, "legacy");
    }
    for (name, value) in &req.fw_cfg {
        boot = boot.fw_cfg(name, value);
    }
    if let Some(path) = &req.sealed_state {
        boot = boot.sealed_state(path);
        expected.push(("sealed state".into(), format!("{} (shared with the proxy's --sealed-state)", path.display())));
    }
    if req.test_exit {
        boot = boot.test_exit();
    }
    Ok(Plan { boot, expected })
}

/// The code hash the extension's code version must name for this measurement (hex):
/// `TeeExtensionRegistry.codeHashOf(measurement)` = keccak256 of its 48 bytes.
fn code_hash(measurement_hex: &str) -> (String, String) {
    use sha3::Digest as _;
    let bytes = hex::decode(measurement_hex).expect("our own hex");
    let hash = hex::encode(sha3::Keccak256::digest(&bytes));
    ("code hash".into(), format!("0x{hash} (TeeExtensionRegistry.codeHashOf: addTeeVersion names it)"))
}

/// The guest's proxy address on QEMU user networking, as the RTMR2 record holds it.
const USER_NET_IP: [u8; 4] = [10, 0, 2, 2];
/// The guest's default proxy port (`fcc_layout::interface::DEFAULT_PROXY`).
const DEFAULT_PROXY_PORT: u16 = 6661;

/// Whether this host can launch `platform` (KVM's module parameter, QEMU's object): the reason
/// it cannot, if so.
pub fn host_lacks(platform: Platform) -> Option<String> {
    let (param, object) = match platform {
        Platform::Plain => return None,
        Platform::SevSnp => ("/sys/module/kvm_amd/parameters/sev_snp", "sev-snp-guest"),
        Platform::Tdx => ("/sys/module/kvm_intel/parameters/tdx", "tdx-guest"),
    };
    let on = std::fs::read_to_string(param).is_ok_and(|v| matches!(v.trim(), "Y" | "y" | "1"));
    if !on {
        return Some(format!("{param} is not Y: this host's KVM does not offer it"));
    }
    let qemu = fcc_qemu::find_qemu().ok()?;
    let help = std::process::Command::new(&qemu).args(["-object", "help"]).output().ok()?;
    if !String::from_utf8_lossy(&help.stdout).contains(object) {
        return Some(format!("{} has no {object} object (too old a QEMU)", qemu.display()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_proxy_port_is_the_layouts() {
        let (host, port) = fcc_layout::interface::DEFAULT_PROXY.split_once(':').unwrap();
        assert_eq!((host, port.parse::<u16>().unwrap()), (USER_NET_HOST, DEFAULT_PROXY_PORT));
        assert_eq!(USER_NET_HOST.parse::<std::net::Ipv4Addr>().unwrap().octets(), USER_NET_IP);
    }
}
