//! `fcc-image launch` on a released ROM: the ROM and the committed manifest copied into a
//! "release" directory, as an operator downloads them. Plain QEMU boots it to READY (no
//! rebuild); a ROM that is not the manifest's and SEV-SNP configurations the manifest does not
//! publish are refused before QEMU starts; the SEV-SNP and TDX launches print the measurement
//! their evidence must show — the manifest's digest, its code hash as pycryptodome's keccak
//! computes it, and an RTMR2 that Python's hashlib, fed the record as docs/PLATFORMS.md lays it
//! out, computes the same.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fcc_image(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fcc-image")).args(args).output().unwrap()
}

fn hex_sha384(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha384::digest(bytes))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A release: the ROM built from this source and the committed manifest, side by side.
fn release() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (built, _) = common::guest_rom();
    let dir = tempfile::tempdir().unwrap();
    let rom = dir.path().join("fcc-guest.rom");
    std::fs::copy(built, &rom).unwrap();
    let manifest = dir.path().join("MEASUREMENTS.json");
    std::fs::copy(fcc_image::build::workspace_root().join("reproducible/MEASUREMENTS.json"), &manifest).unwrap();
    (dir, rom, manifest)
}

/// The value of the `expect <what>` line the launch printed.
fn expected<'a>(all: &'a str, what: &str) -> &'a str {
    let line = all
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("expect ")?.strip_prefix(what))
        .unwrap_or_else(|| panic!("no `expect {what}` line: {all}"));
    line.trim()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_released_rom_boots_on_plain_qemu_without_a_rebuild() {
    let (dir, rom, manifest) = release();
    let sealed = dir.path().join("sealed-state.bin");
    let out = fcc_image(&[
        "launch",
        "--rom",
        s(&rom),
        "--manifest",
        s(&manifest),
        "--platform",
        "plain",
        "--sealed-state",
        s(&sealed),
        "--test-exit",
    ]);
    let all = text(&out);
    let exit = fcc_layout::interface::qemu_exit_status(fcc_layout::interface::EXIT_SUCCESS);
    assert_eq!(out.status.code(), Some(exit), "{all}");
    assert!(all.contains("READY tee=0x") && all.contains("platform=plain"), "{all}");
    let sha = hex_sha384(&std::fs::read(&rom).unwrap());
    assert!(expected(&all, "ROM sha384").starts_with(&sha), "{all}");
    assert!(expected(&all, "measurement").contains("plain QEMU is not a TEE"), "{all}");
    assert!(!all.contains("cargo build"), "a launch never builds: {all}");
    assert!(all.contains(&format!("name=opt/fcc/sealed-state,file={}", sealed.display())), "{all}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&sealed).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_rom_the_manifest_does_not_publish_is_refused_before_qemu_starts() {
    let (dir, rom, manifest) = release();
    let mut bytes = std::fs::read(&rom).unwrap();
    bytes[4096] ^= 1;
    let other = dir.path().join("other.rom");
    std::fs::write(&other, bytes).unwrap();
    let out = fcc_image(&["launch", "--rom", s(&other), "--manifest", s(&manifest), "--test-exit"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("is not the one the manifest publishes") && !all.contains("READY"), "{all}");
    // Settings that are measured (TDX RTMR2) or that the launch manages have flags of their own.
    let out = fcc_image(&["launch", "--rom", s(&rom), "--manifest", s(&manifest), "--fw-cfg", "opt/fcc/chain-id=5"]);
    assert!(text(&out).contains("has a flag of its own") && !out.status.success());
}

#[test]
fn sev_snp_launches_only_published_configurations_and_print_their_digest() {
    let (dir, rom, manifest) = release();
    let published: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let digest = |vcpus: u64, cpu: &str| {
        published["snp"]["launch_digests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["vcpus"] == vcpus && d["vcpu_type"] == cpu)
            .map(|d| d["digest"].as_str().unwrap().to_owned())
    };
    let snp = |extra: &[&str], manifest: &Path| {
        let mut args = vec!["launch", "--rom", s(&rom), "--manifest", s(manifest), "--platform", "sev-snp"];
        args.extend_from_slice(extra);
        fcc_image(&args)
    };
    let out = snp(&["--vcpus", "2", "--cpu", "EPYC-Genoa", "--cbitpos", "51", "--dry-run"], &manifest);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let want = digest(2, "EPYC-Genoa").expect("the manifest publishes 2 vCPUs of EPYC-Genoa");
    assert!(expected(&all, "SEV-SNP MEASUREMENT").starts_with(&format!("{want} (2 vCPU(s), EPYC-Genoa")), "{all}");
    // The code hash a code version names: keccak256 of the digest (judge: pycryptodome).
    let judge = Command::new("python3")
        .args([
            "-c",
            &format!(
                "from Crypto.Hash import keccak\nk = keccak.new(digest_bits=256)\nk.update(bytes.fromhex('{want}'))\nprint(k.hexdigest())"
            ),
        ])
        .output()
        .expect("python3");
    let code_hash = String::from_utf8(judge.stdout).unwrap();
    assert!(expected(&all, "code hash").starts_with(&format!("0x{} ", code_hash.trim())), "{all}");
    for part in ["sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,policy=0x30000", "-cpu EPYC-Genoa", "-smp 2"] {
        assert!(all.contains(part), "{part} missing: {all}");
    }
    // Not published: another model, too many vCPUs.
    for (extra, why) in [(["--cpu", "EPYC-v4"], "EPYC-v4"), (["--vcpus", "65"], "65 vCPU(s)")] {
        let out = snp(&extra, &manifest);
        let all = text(&out);
        assert!(!out.status.success() && all.contains(why) && all.contains("is not in the manifest"), "{all}");
    }
    // A manifest edited to publish another digest for this configuration: refused too.
    let edited = dir.path().join("edited.json");
    let one = digest(1, "EPYC-Milan").unwrap();
    std::fs::write(&edited, std::fs::read_to_string(&manifest).unwrap().replace(&one, &"ab".repeat(48))).unwrap();
    let out = snp(&["--dry-run"], &edited);
    assert!(!out.status.success() && text(&out).contains("is not this ROM's"), "{}", text(&out));
    // Without --dry-run on a host without SEV-SNP: refused with the reason, QEMU never started.
    if std::fs::read_to_string("/sys/module/kvm_amd/parameters/sev_snp").is_ok_and(|v| v.trim() == "Y") {
        println!("SKIPPED: the refusal on a host without SEV-SNP (this host has it)");
    } else {
        let out = snp(&[], &manifest);
        let all = text(&out);
        assert!(!out.status.success() && all.contains("cannot launch") && !all.contains("READY"), "{all}");
    }
}

#[test]
fn tdx_launches_print_the_mrtd_and_the_rtmr2_of_their_configuration() {
    let (_dir, rom, manifest) = release();
    let published: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let mrtd = published["tdx"]["page_by_page"]["mrtd"].as_str().unwrap();
    let out = fcc_image(&[
        "launch",
        "--rom",
        s(&rom),
        "--manifest",
        s(&manifest),
        "--platform",
        "tdx",
        "--chain-id",
        "114",
        "--proxy-port",
        "7000",
        "--policy-hash",
        "legacy",
        "--qgs-vsock",
        "2:4050",
        "--dry-run",
    ]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(expected(&all, "TDX MRTD").starts_with(&format!("{mrtd} ")), "{all}");
    // The judge: Python's hashlib over the record as docs/PLATFORMS.md's table lays it out.
    let judge = Command::new("python3")
        .args([
            "-c",
            "import hashlib, struct\n\
             r = b'FCC-CFG1' + struct.pack('<Q', 114) + bytes([10, 0, 2, 2]) + struct.pack('<H', 7000) + bytes([0]) + bytes(25)\n\
             print(hashlib.sha384(bytes(48) + r).hexdigest())",
        ])
        .output()
        .expect("python3");
    let rtmr2 = String::from_utf8(judge.stdout).unwrap();
    assert!(expected(&all, "TDX RTMR2").starts_with(&format!("{} (chain 114", rtmr2.trim())), "{all}");
    for part in [
        "confidential-guest-support=tdx0",
        r#""quote-generation-socket":{"type":"vsock","cid":"2","port":"4050"}"#,
        "name=opt/fcc/chain-id,string=114",
        "name=opt/fcc/policy-hash,string=legacy",
        "name=opt/fcc/proxy,string=10.0.2.2:7000",
    ] {
        assert!(all.contains(part), "{part} missing: {all}");
    }
}
