//! `fcc-image measure`: every launch measurement of an image, as one JSON manifest.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use sha2::{Digest, Sha384};

use crate::ovmf;
use crate::snp::{self, DEFAULT_GUEST_FEATURES, ZeroPages};
use crate::tdx::{self, Order};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Request {
    /// vCPU counts.
    pub vcpus: Vec<u32>,
    /// CPU models by QEMU name (see [`snp::CPU_TYPES`]).
    pub vcpu_types: Vec<String>,
    /// Raw CPU signatures (CPUID Fn0000_0001_EAX) besides the named types.
    pub vcpu_sigs: Vec<u32>,
    /// SEV features in the VMSA.
    pub guest_features: u64,
}

impl Default for Request {
    fn default() -> Self {
        Self {
            vcpus: vec![1, 2, 4, 8, 64],
            vcpu_types: ["EPYC-v4", "EPYC-Milan", "EPYC-Genoa"].map(String::from).to_vec(),
            vcpu_sigs: Vec::new(),
            guest_features: DEFAULT_GUEST_FEATURES,
        }
    }
}

impl Request {
    /// What `reproducible/MEASUREMENTS.json` publishes: 1..=64 vCPUs of QEMU's EPYC-Milan,
    /// EPYC-Genoa and EPYC-Turin models, SNPActive only.
    pub fn published() -> Self {
        Self {
            vcpus: (1..=PUBLISHED_MAX_VCPUS).collect(),
            vcpu_types: PUBLISHED_TYPES.map(String::from).to_vec(),
            vcpu_sigs: Vec::new(),
            guest_features: DEFAULT_GUEST_FEATURES,
        }
    }

    /// The request a manifest was made with (its vCPU counts, types and features), so it can be
    /// recomputed.
    pub fn of_manifest(manifest: &Value) -> Result<Self> {
        let snp = manifest.get("snp").context("the manifest has no \"snp\" object")?;
        let features = snp.get("guest_features").and_then(Value::as_str).context("snp.guest_features")?;
        let guest_features =
            u64::from_str_radix(features.trim_start_matches("0x"), 16).context("snp.guest_features is not hex")?;
        let digests = snp.get("launch_digests").and_then(Value::as_array).context("snp.launch_digests")?;
        let (mut vcpus, mut vcpu_types, mut vcpu_sigs) = (Vec::new(), Vec::new(), Vec::new());
        for (i, d) in digests.iter().enumerate() {
            let n = d.get("vcpus").and_then(Value::as_u64).with_context(|| format!("snp.launch_digests[{i}].vcpus"))?;
            ensure!((1..=MAX_VCPUS).contains(&n), "snp.launch_digests[{i}].vcpus = {n} is out of 1..={MAX_VCPUS}");
            let t = d
                .get("vcpu_type")
                .and_then(Value::as_str)
                .with_context(|| format!("snp.launch_digests[{i}].vcpu_type"))?;
            if !vcpus.contains(&(n as u32)) {
                vcpus.push(n as u32);
            }
            if let Some(sig) = t.strip_prefix("0x") {
                let sig = u32::from_str_radix(sig, 16).with_context(|| format!("vCPU signature {t:?}"))?;
                if !vcpu_sigs.contains(&sig) {
                    vcpu_sigs.push(sig);
                }
            } else if !vcpu_types.iter().any(|v: &String| v == t) {
                vcpu_types.push(t.to_string());
            }
        }
        Ok(Self { vcpus, vcpu_types, vcpu_sigs, guest_features })
    }
}

/// The vCPU counts [`Request::published`] covers.
pub const PUBLISHED_MAX_VCPUS: u32 = 64;
/// The CPU models [`Request::published`] covers.
pub const PUBLISHED_TYPES: [&str; 3] = ["EPYC-Milan", "EPYC-Genoa", "EPYC-Turin"];
/// The most vCPUs a manifest may name (KVM's limit for SNP guests is far lower in practice).
pub const MAX_VCPUS: u64 = 512;

/// The manifest of `image`.
pub fn manifest(image: &[u8], req: &Request) -> Result<Value> {
    let tables = ovmf::parse(image)?;
    let mut cpus: Vec<(String, u32)> = Vec::new();
    for name in &req.vcpu_types {
        cpus.push((name.clone(), snp::cpu_type_signature(name)?));
    }
    cpus.extend(req.vcpu_sigs.iter().map(|&s| (format!("{s:#x}"), s)));
    let max_vcpus = req.vcpus.iter().copied().max().unwrap_or(1);
    let mut digests = Vec::new();
    for (name, sig) in &cpus {
        let all = snp::launch_digests(image, &tables, max_vcpus, *sig, req.guest_features, ZeroPages::Zero)?;
        for &n in &req.vcpus {
            ensure!(n >= 1, "at least one vCPU");
            let d = all[n as usize - 1];
            digests.push(
                json!({"vcpu_type": name, "vcpu_sig": format!("{sig:#x}"), "vcpus": n, "digest": hex::encode(d)}),
            );
        }
    }
    let mut mrtd = serde_json::Map::new();
    for order in Order::ALL {
        let d = tdx::mrtd(image, &tables, order)?;
        mrtd.insert(order.label().into(), json!({"mrtd": hex::encode(d), "order": order.description()}));
    }
    Ok(json!({
        "rom": {"size": image.len(), "sha384": hex::encode(Sha384::digest(image))},
        "snp": {
            "vmm": "qemu",
            "guest_features": format!("{:#x}", req.guest_features),
            "ap_reset_address": tables.sev_es_reset.map(|a| format!("{a:#x}")),
            "launch_digests": digests,
        },
        "tdx": mrtd,
    }))
}

/// Adds the UEFI edition's section to a manifest: the application's size and Authenticode
/// SHA-384, its disk image's SHA-384 and GPT event digest (`efi::disk_image` of it), and the TDX
/// RTMR1 an EDK2-based firmware gives for a boot of that disk (docs/PLATFORMS.md, "Cloud VMs").
pub fn add_uefi(manifest: &mut Value, application: &[u8]) -> Result<()> {
    let disk = crate::efi::disk_image(application)?;
    let m = crate::efi::measure(application, &disk)?;
    let section = json!({
        "application": {"size": application.len(), "authenticode_sha384": hex::encode(m.authenticode_sha384)},
        "disk": {"size": disk.len(), "sha384": hex::encode(Sha384::digest(&disk)), "gpt_event_sha384": hex::encode(m.gpt_event_sha384)},
        "tdx_rtmr1": hex::encode(m.rtmr1),
    });
    manifest.as_object_mut().context("a manifest is a JSON object")?.insert("uefi".into(), section);
    Ok(())
}
