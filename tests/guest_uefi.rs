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

use anyhow::{Context, ensure};
use fcc_attest::{Binding, Evidence, Manifest, Verifier};
use fcc_e2e::proxy::TestProxy;
use fcc_e2e::{TIMEOUT, boot_ready, run_checked};
use fcc_image::{build, efi};
use fcc_layout::interface::{DHCP_PREFIX, HANDLED_PREFIX};
use fcc_qemu::uefi::{Swtpm, Uefi};
use fcc_qemu::{Accel, BootOptions};

#[test]
fn the_uefi_edition_serves_the_proxy_as_the_rom_does() {
    if let Some(m) = efi::missing_for_boot() {
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
        let mut conn = proxy.connect(guest, tee, TIMEOUT)?;
        let hello = conn.hello();

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

        fcc_e2e::initialize_and_prove(&mut conn, tee, "uefi fdc2")?;
        let (handled, _) = guest.wait_for(&format!("{HANDLED_PREFIX}op=F_FDC2/PROVE status=1 "), TIMEOUT)?;
        eprintln!("100-voter instruction in the UEFI edition: {handled}");
        Ok(())
    });
}
