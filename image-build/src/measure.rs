//! `fcc-image measure`: every launch measurement of an image, as one JSON manifest.

use anyhow::Result;
use serde_json::{Value, json};
use sha2::{Digest, Sha384};

use crate::ovmf;
use crate::snp::{self, DEFAULT_GUEST_FEATURES};
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

/// The manifest of `image`.
pub fn manifest(image: &[u8], req: &Request) -> Result<Value> {
    let tables = ovmf::parse(image)?;
    let mut cpus: Vec<(String, u32)> = Vec::new();
    for name in &req.vcpu_types {
        cpus.push((name.clone(), snp::cpu_type_signature(name)?));
    }
    cpus.extend(req.vcpu_sigs.iter().map(|&s| (format!("{s:#x}"), s)));
    let mut digests = Vec::new();
    for (name, sig) in &cpus {
        for &n in &req.vcpus {
            let d = snp::launch_digest(image, &tables, n, *sig, req.guest_features)?;
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
