//! The UEFI edition on the network, as the ROM is in guest_link.rs: Debian's OVMF, with a TPM so
//! the firmware logs what it starts, boots the disk image `fcc-image efi` builds, with a
//! virtio-net NIC on QEMU user networking whose BARs the firmware assigned. The edition must
//! reach the test proxy, say `Hello` with the TEE id of its READY line and evidence that
//! fcc-attest accepts (as the labelled simulation it is) against a manifest holding only the
//! Authenticode SHA-384 we compute for its `.efi` — the digest the firmware logged — and sign a
//! 100-voter instruction whose signature recovers (libsecp256k1) to that TEE.
//!
//! Needs OVMF, swtpm and the `x86_64-unknown-uefi` target: without them it prints
//! `SKIPPED: ...`, unless `FCC_REQUIRE_OVMF=1` (CI), which makes it fail instead.

use std::process::Command;

use anyhow::{Context, ensure};
use fcc_attest::{Binding, Evidence, Manifest, Verifier};
use fcc_core::attester::PlatformKind;
use fcc_core::result::status;
use fcc_e2e::flare::{self, CHAIN_ID, signed_by};
use fcc_e2e::proxy::TestProxy;
use fcc_e2e::{TIMEOUT, boot_ready, run_checked};
use fcc_image::{build, efi};
use fcc_layout::interface::{DHCP_PREFIX, HANDLED_PREFIX, LINK_CONNECTED_PREFIX};
use fcc_qemu::uefi::{Swtpm, Uefi};
use fcc_qemu::{Accel, BootOptions};

/// What this machine lacks for the test, if anything.
fn missing() -> Option<String> {
    let mut missing: Vec<String> = fcc_qemu::uefi::missing().into_iter().collect();
    let targets = Command::new("rustup").args(["target", "list", "--installed"]).output();
    if !targets.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == efi::TARGET)) {
        missing.push(format!("the {} target (rustup target add {})", efi::TARGET, efi::TARGET));
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

#[test]
fn the_uefi_edition_serves_the_proxy_as_the_rom_does() {
    if let Some(m) = missing() {
        assert!(std::env::var_os("FCC_REQUIRE_OVMF").is_none(), "FCC_REQUIRE_OVMF is set but missing: {m}");
        println!("SKIPPED: the UEFI edition needs {m}");
        return;
    }
    let workspace = build::workspace_root();
    let application = std::fs::read(efi::build_application(&workspace).unwrap()).unwrap();
    let disk = efi::disk_image(&application).unwrap();
    let measured = efi::measure(&application, &disk).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let disk_path = dir.path().join("disk.img");
    std::fs::write(&disk_path, &disk).unwrap();
    let tpm = Swtpm::start(dir.path()).unwrap();

    let proxy = TestProxy::bind().unwrap();
    // TCG: OVMF is not among what this machine's KVM was probed for.
    let options =
        BootOptions::uefi(Uefi::new(&disk_path, dir.path(), Some(&tpm)).unwrap(), Accel::Tcg).network(proxy.port);
    let (mut guest, tee) = boot_ready(&options);
    run_checked(&mut guest, |guest| {
        let (dhcp, _) = guest.wait_for(DHCP_PREFIX, TIMEOUT)?;
        ensure!(dhcp.starts_with("DHCP 10.0.2.15 "), "QEMU user networking hands out 10.0.2.15: {dhcp}");
        let mut conn = proxy.accept(TIMEOUT)?;
        let hello = conn.hello().clone();
        ensure!(
            hello.tee_id == tee,
            "Hello from 0x{} but READY said 0x{}",
            hex::encode(hello.tee_id),
            hex::encode(tee)
        );
        ensure!(hello.platform == PlatformKind::Plain && hello.chain_id == CHAIN_ID, "{hello:?}");
        guest.wait_for(LINK_CONNECTED_PREFIX, TIMEOUT)?;

        // The evidence names this application as the firmware measured it, and binds the TEE.
        let manifest = Manifest { uefi_authenticode: Some(measured.authenticode_sha384), ..Manifest::default() };
        let verifier = Verifier { allow_simulated: true, ..Verifier::new(manifest) };
        let verdict = verifier
            .verify(&Evidence::Simulated(&hello.attestation), &Binding::Statement(hello.statement.clone()), 0)
            .context("the Hello's evidence")?;
        ensure!(
            verdict.simulated && verdict.measurement_hex == hex::encode(measured.authenticode_sha384),
            "{verdict:?}"
        );
        eprintln!("Hello evidence: {}", verdict.measurement);

        let ps = flare::providers(100)?;
        let policy = flare::policy(&ps)?;
        let r = conn.run(&flare::initialize_policy(&ps, &policy)?)?;
        ensure!(r.result.status == status::SUCCESS, "INITIALIZE_POLICY refused: {}", r.result.log);
        signed_by(&r, tee)?;
        let all: Vec<usize> = (0..ps.len()).collect();
        let action = flare::signed(&ps, &all, flare::fdc2_instruction(tee, "uefi fdc2"))?;
        let r = conn.run(&action)?;
        ensure!(r.result.status == status::SUCCESS, "PROVE refused: {}", r.result.log);
        ensure!(r.result.id == action.instruction.instruction_id && !r.result.data.is_empty());
        signed_by(&r, tee)?;
        let (handled, _) = guest.wait_for(&format!("{HANDLED_PREFIX}op=F_FDC2/PROVE status=1 "), TIMEOUT)?;
        eprintln!("100-voter instruction in the UEFI edition: {handled}");
        Ok(())
    });
}
