//! Cross-check: our SEV-SNP launch digests equal those of the independent PyPI package
//! `sev-snp-measure` (`.ci/run` installs it) for the real guest ROM — vCPU counts 1, 2, 4, 8, 64
//! and the EPYC-v4, EPYC-Milan, EPYC-Genoa and EPYC-Turin models — and for a hand-made image carrying every
//! SEV metadata section type.

mod common;

use std::path::Path;
use std::process::Command;

use fcc_image::{ovmf, snp};

const INSTALL: &str = "pip install sev-snp-measure==0.0.13 (CI: .ci/run installs it)";

fn reference(rom: &Path, vcpus: u32, vcpu_type: &str) -> String {
    let out = Command::new("sev-snp-measure")
        .args(["--mode", "snp", "--ovmf"])
        .arg(rom)
        .args(["--vcpus", &vcpus.to_string(), "--vcpu-type", vcpu_type])
        .output()
        .unwrap_or_else(|e| panic!("sev-snp-measure is not available ({e}): install it with `{INSTALL}`"));
    assert!(out.status.success(), "sev-snp-measure failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn ours(image: &[u8], vcpus: u32, vcpu_type: &str) -> String {
    let tables = ovmf::parse(image).unwrap();
    let sig = snp::cpu_type_signature(vcpu_type).unwrap();
    hex::encode(snp::launch_digest(image, &tables, vcpus, sig, snp::DEFAULT_GUEST_FEATURES).unwrap())
}

#[test]
fn guest_rom_digests_match_sev_snp_measure() {
    let (path, image) = common::guest_rom();
    for vcpu_type in ["EPYC-v4", "EPYC-Milan", "EPYC-Genoa", "EPYC-Turin"] {
        for vcpus in [1, 2, 4, 8, 64] {
            let want = reference(&path, vcpus, vcpu_type);
            assert_eq!(ours(&image, vcpus, vcpu_type), want, "{vcpu_type} x {vcpus}");
        }
    }
}

#[test]
fn every_section_type_matches_sev_snp_measure() {
    let sections = [
        (0x10_0000, 0x3000, 1),
        (0x20_0000, 0x1000, 2),
        (0x20_1000, 0x1000, 3),
        (0x20_2000, 0x1000, 4),
        (0x20_3000, 0x2000, 0x10),
    ];
    let image = common::image(8, Some(0xffff_8000), Some(&sections), None, &[]);
    let dir = std::env::temp_dir().join(format!("fcc-image-snp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hand-made.fd");
    std::fs::write(&path, &image).unwrap();
    for (vcpus, vcpu_type) in [(1, "EPYC-Milan"), (3, "EPYC-Genoa")] {
        assert_eq!(ours(&image, vcpus, vcpu_type), reference(&path, vcpus, vcpu_type), "{vcpu_type} x {vcpus}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
