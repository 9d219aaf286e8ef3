//! The UEFI edition under real firmware, the judge of what we predict: Debian's OVMF with a TPM
//! 2.0 (swtpm, SHA-256 and SHA-384 banks) boots the disk image `fcc-image efi` builds. The
//! application writes the firmware's event log to the serial port, calls ExitBootServices, runs
//! the core to READY with fw_cfg's settings. The log must read with our reader to its end, and
//! the firmware must have logged exactly our Authenticode SHA-384 for the application (PCR 4) and
//! our GPT event digest for the disk (PCR 5); PCR 4's events must be the ones our RTMR1
//! prediction puts around them. (The edition on the network: tests/guest_uefi.rs.)
//!
//! Needs OVMF, swtpm and the `x86_64-unknown-uefi` target: without them the boot test prints
//! `SKIPPED: ...`, unless `FCC_REQUIRE_OVMF=1` (CI), which makes it fail instead.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fcc_cvm_abi::eventlog::{Log, event_type as ev, uefi_boot};
use fcc_image::efi;
use fcc_layout::interface::{EXCEPTION_PREFIX, FW_CFG_TEST_FAULT};
use fcc_qemu::uefi::{Swtpm, Uefi};
use fcc_qemu::{Accel, BootOptions, Guest};
use sha2::{Digest, Sha384};

/// TCG boots OVMF in seconds; a minute and a half is room for a loaded machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
/// The chain id the boot is given in fw_cfg: the edition must run with it, not the default.
const CHAIN_ID: u64 = 31337;

/// Whether the UEFI target is here to build the application; without it prints `SKIPPED: ...`
/// (a failure under `FCC_REQUIRE_OVMF`).
fn target_or_skip() -> bool {
    if efi::target_installed() {
        return true;
    }
    assert!(std::env::var_os("FCC_REQUIRE_OVMF").is_none(), "FCC_REQUIRE_OVMF is set but {} is missing", efi::TARGET);
    println!("SKIPPED: the {} target is not installed", efi::TARGET);
    false
}

/// Whether OVMF, swtpm and the UEFI target are here to boot the application; without them prints
/// `SKIPPED: ...` (a failure under `FCC_REQUIRE_OVMF`).
fn boot_or_skip() -> bool {
    let Some(m) = efi::missing_for_boot() else { return true };
    assert!(std::env::var_os("FCC_REQUIRE_OVMF").is_none(), "FCC_REQUIRE_OVMF is set but missing: {m}");
    println!("SKIPPED: the UEFI boot needs {m}");
    false
}

/// Boots `disk` under OVMF with a fresh swtpm and chain id [`CHAIN_ID`] in fw_cfg, without a
/// NIC; returns the serial output up to the edition's last line (it halts: nothing to serve).
fn boot(disk: &Path, dir: &Path) -> Vec<String> {
    let tpm = Swtpm::start(dir).unwrap();
    let options = BootOptions::uefi(Uefi::new(disk, dir, Some(&tpm)).unwrap(), Accel::Tcg)
        .fw_cfg("opt/fcc/chain-id", &CHAIN_ID.to_string());
    let started = Instant::now();
    let mut guest = Guest::boot(&options).unwrap();
    guest.wait_for("fcc-guest-uefi: halting", BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("booted in {:.1} s", started.elapsed().as_secs_f64());
    guest.console().lines().map(str::to_string).collect()
}

fn sha(d: &[u8]) -> [u8; 48] {
    Sha384::digest(d).into()
}

#[test]
fn ovmf_measures_exactly_the_application_and_disk_we_predict() {
    if !boot_or_skip() {
        return;
    }
    let workspace = fcc_image::build::workspace_root();
    let path = efi::build_application(&workspace).unwrap();
    let application = std::fs::read(path).unwrap();
    let disk = efi::disk_image(&application).unwrap();
    assert_eq!(efi::disk_image(&application).unwrap(), disk, "the disk image is a function of the application");
    let m = efi::measure(&application, &disk).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let disk_path: PathBuf = dir.path().join("disk.img");
    std::fs::write(&disk_path, &disk).unwrap();

    let lines = boot(&disk_path, dir.path());
    let shown = || lines.iter().filter(|l| !l.starts_with("EVENTLOG ")).cloned().collect::<Vec<_>>().join("\n");
    assert!(
        lines.iter().any(|l| l.starts_with("fcc-guest-uefi: boot services exited")),
        "the application did not exit boot services:\n{}",
        shown()
    );
    // After ExitBootServices the core runs as on the ROM: the settings from fw_cfg, a fresh
    // identity, one READY line.
    let after: Vec<&String> =
        lines.iter().skip_while(|l| !l.starts_with("fcc-guest-uefi: boot services exited")).collect();
    assert!(
        after.iter().any(|l| l.starts_with(&format!("chain {CHAIN_ID}, policy hash ChainBound"))),
        "the edition did not run with fw_cfg's chain id:\n{}",
        shown()
    );
    let ready: Vec<&&String> = after.iter().filter(|l| l.starts_with("READY ")).collect();
    assert_eq!(ready.len(), 1, "one READY line after ExitBootServices:\n{}", shown());
    let address = ready[0]
        .strip_prefix("READY tee=0x")
        .and_then(|r| r.strip_suffix(" platform=plain"))
        .unwrap_or_else(|| panic!("READY line {:?}", ready[0]));
    assert!(address.len() == 40 && hex::decode(address).is_ok_and(|a| a != [0; 20]), "TEE address {address}");
    assert!(!lines.iter().any(|l| l.starts_with("FATAL") || l.starts_with("PANIC")), "{}", shown());

    let bytes = efi::console_event_log(&lines.join("\n")).unwrap().expect("no event log in the output");
    let log = Log::parse(&bytes).unwrap();
    assert!(log.algorithms().iter().any(|&(a, l)| a == fcc_cvm_abi::eventlog::alg::SHA384 && l == 48));
    let events: Vec<_> = log.events().collect::<Result<_, _>>().expect("OVMF's log reads to its end");

    // PCR 4: the boot-option action, the separator, our application — each as our RTMR1
    // prediction has it.
    let pcr4: Vec<(u32, [u8; 48])> = events
        .iter()
        .filter(|e| e.index == 4 && e.event_type != ev::EV_NO_ACTION)
        .map(|e| (e.event_type, *e.sha384().unwrap()))
        .collect();
    assert_eq!(
        pcr4,
        [
            (ev::EV_EFI_ACTION, sha(uefi_boot::CALLING_EFI_APPLICATION)),
            (ev::EV_SEPARATOR, sha(&uefi_boot::SEPARATOR)),
            (ev::EV_EFI_BOOT_SERVICES_APPLICATION, m.authenticode_sha384),
        ],
        "PCR 4 events (Authenticode we computed: {})",
        hex::encode(m.authenticode_sha384)
    );
    // PCR 5: the separator, then the disk's GPT event — the digest of the data logged, and ours.
    let gpt: Vec<_> = events.iter().filter(|e| e.index == 5 && e.event_type == ev::EV_EFI_GPT_EVENT).collect();
    assert_eq!(gpt.len(), 1, "one GPT event");
    assert_eq!(*gpt[0].sha384().unwrap(), sha(gpt[0].data), "the firmware hashed the table it logged");
    assert_eq!(*gpt[0].sha384().unwrap(), m.gpt_event_sha384, "the GPT event we predict");
    // After ExitBootServices the edition wrote the firmware's final events table: its two
    // ExitBootServices actions (PCR 5), the last events of the log, as the prediction has them.
    assert!(lines.iter().any(|l| l.starts_with("FINALEVENTS BEGIN ")), "no final events:\n{}", shown());
    let actions: Vec<[u8; 48]> = events
        .iter()
        .filter(|e| e.index == 5 && e.event_type == ev::EV_EFI_ACTION)
        .map(|e| *e.sha384().unwrap())
        .collect();
    let exit = [sha(uefi_boot::EXIT_BOOT_SERVICES_INVOCATION), sha(uefi_boot::EXIT_BOOT_SERVICES_SUCCESS)];
    assert_eq!(actions, exit, "PCR 5's ExitBootServices actions");
    assert_eq!(events.last().map(|e| (e.index, *e.sha384().unwrap())), Some((5, exit[1])), "the log ends with them");
    eprintln!(
        "OVMF logged Authenticode {} and GPT {}; RTMR1 of this disk on EDK2 TDX firmware: {}",
        hex::encode(m.authenticode_sha384),
        hex::encode(m.gpt_event_sha384),
        hex::encode(m.rtmr1)
    );
}

/// A cloud has no fw_cfg: the settings come from `\EFI\fcc\settings` on the disk, which
/// changes the disk's bytes but not what firmware measures; a file the guest would refuse is
/// refused when the disk is built.
#[test]
fn a_settings_file_on_the_disk_configures_the_edition_without_fw_cfg() {
    if !boot_or_skip() {
        return;
    }
    let workspace = fcc_image::build::workspace_root();
    let application = std::fs::read(efi::build_application(&workspace).unwrap()).unwrap();
    let settings =
        format!("# chain and proxy of this machine\nopt/fcc/chain-id={CHAIN_ID}\nopt/fcc/proxy=10.0.2.2:7700\n");
    let disk = efi::disk_image_with_settings(&application, Some(settings.as_bytes())).unwrap();
    let plain = efi::disk_image(&application).unwrap();
    assert_ne!(disk, plain);
    assert_eq!(efi::measure(&application, &disk).unwrap(), efi::measure(&application, &plain).unwrap());
    for bad in ["opt/fcc/chainid=14\n", "opt/fcc/chain-id=0\n", "opt/fcc/chain-id=14\nopt/fcc/chain-id=15\n"] {
        let e = efi::disk_image_with_settings(&application, Some(bad.as_bytes())).unwrap_err();
        assert!(e.to_string().starts_with("settings file"), "{bad:?}: {e}");
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    std::fs::write(&path, &disk).unwrap();
    // No fw_cfg setting at all: the file is the only source.
    let options = BootOptions::uefi(Uefi::new(&path, dir.path(), None).unwrap(), Accel::Tcg);
    let mut guest = Guest::boot(&options).unwrap();
    let (ready, _) = guest.wait_for("READY ", BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    let console = guest.console();
    assert!(console.contains("settings: \\EFI\\fcc\\settings on the boot disk"), "{console}");
    assert!(console.contains(&format!("chain {CHAIN_ID}, policy hash ChainBound")), "{console}");
    eprintln!("{ready}");
}

/// Boots the disk with `opt/fcc/test-fault=<fault>` (no TPM); returns the `EXCEPTION` line and
/// the next (registers).
fn fault(fault: &str) -> Option<(String, String)> {
    if !boot_or_skip() {
        return None;
    }
    let workspace = fcc_image::build::workspace_root();
    let application = std::fs::read(efi::build_application(&workspace).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    std::fs::write(&disk, efi::disk_image(&application).unwrap()).unwrap();
    let options =
        BootOptions::uefi(Uefi::new(&disk, dir.path(), None).unwrap(), Accel::Tcg).fw_cfg(FW_CFG_TEST_FAULT, fault);
    let mut guest = Guest::boot(&options).unwrap();
    guest.wait_for("READY ", BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    let (line, _) = guest.wait_for(EXCEPTION_PREFIX, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    let (registers, _) = guest.wait_for("  rax=", BOOT_TIMEOUT).unwrap();
    eprintln!("{line}\n{registers}");
    Some((line, registers))
}

/// After ExitBootServices an exception is the edition's, not the firmware's: one diagnostic
/// line on COM1 from its own IDT (the ROM's exception path), then it halts.
#[test]
fn an_exception_after_exit_boot_services_is_reported_on_the_console() {
    let Some((line, _)) = fault("ud2") else { return };
    assert!(line.starts_with("EXCEPTION vector=6 rip=0x") && line.contains("name=\"#UD invalid opcode\""), "{line}");
}

/// The stack the edition runs on has a guard page (unmapped in the firmware's page tables after
/// ExitBootServices): running into it is a page fault the CPU cannot push on that stack, so a
/// double fault, reported from its own interrupt stack — not a silent walk into the memory below.
#[test]
fn a_stack_overflow_hits_the_guard_page() {
    let Some((line, _)) = fault("stack-overflow") else { return };
    assert!(line.starts_with("EXCEPTION vector=8 ") && line.contains("name=\"#DF double fault\""), "{line}");
}

#[test]
fn the_disk_image_is_a_gpt_with_the_application_at_the_default_boot_path() {
    // The layout does not depend on what the file holds; a blob that is not a PE image also
    // shows that measuring refuses it.
    let blob = vec![0x5a; 10_000];
    let disk = efi::disk_image(&blob).unwrap();
    assert_eq!(disk.len() as u64, efi::DISK_SECTORS * efi::SECTOR);
    assert_eq!(&disk[510..512], &[0x55, 0xaa], "protective MBR");
    assert_eq!(disk[446 + 4], 0xee, "protective MBR partition type");
    assert_eq!(&disk[512..520], b"EFI PART");
    assert_eq!(&disk[512 + 56..512 + 72], &efi::DISK_GUID.to_bytes_le(), "disk GUID");
    let entry = &disk[1024..1024 + 128];
    assert_eq!(&entry[16..32], &efi::ESP_GUID.to_bytes_le(), "ESP GUID");
    assert_eq!(u64::from_le_bytes(entry[32..40].try_into().unwrap()), efi::ESP_FIRST_LBA);
    // The file is on the FAT volume at the default path, whole.
    let start = (efi::ESP_FIRST_LBA * efi::SECTOR) as usize;
    let esp = std::io::Cursor::new(disk[start..start + (efi::ESP_SECTORS * efi::SECTOR) as usize].to_vec());
    let fs = fatfs::FileSystem::new(esp, fatfs::FsOptions::new()).unwrap();
    let mut file = fs.root_dir().open_file("EFI/BOOT/BOOTX64.EFI").unwrap();
    let mut read = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut read).unwrap();
    assert_eq!(read, blob);
    assert!(efi::measure(&blob, &disk).is_err(), "not a PE image: no Authenticode hash");
    assert_eq!(efi::disk_image(&blob).unwrap(), disk, "reproducible");
}

#[test]
fn the_published_manifest_carries_this_sources_uefi_edition() {
    if !target_or_skip() {
        return;
    }
    let workspace = fcc_image::build::workspace_root();
    let application = std::fs::read(efi::build_application(&workspace).unwrap()).unwrap();
    let published: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workspace.join("reproducible/MEASUREMENTS.json")).unwrap()).unwrap();
    let uefi = &published["uefi"];
    let m = efi::measure(&application, &efi::disk_image(&application).unwrap()).unwrap();
    assert_eq!(uefi["application"]["authenticode_sha384"], hex::encode(m.authenticode_sha384));
    assert_eq!(uefi["disk"]["gpt_event_sha384"], hex::encode(m.gpt_event_sha384));
    assert_eq!(uefi["tdx_rtmr1"], hex::encode(m.rtmr1));
    // `verify` holds the section against an application: this one matches; another (one byte of
    // its code changed) is named field by field; none at all is a mismatch, not a skip.
    let (_, rom) = common::guest_rom();
    let v = fcc_image::verify::manifest(&rom, Some(&application), &published).unwrap();
    assert!(v.is_match(), "{}", v.render());
    let mut other = application.clone();
    let text = object::read::pe::PeFile64::parse(&application[..]).unwrap();
    let section = object::Object::section_by_name(&text, ".text").unwrap();
    let (offset, _) = object::ObjectSection::file_range(&section).unwrap();
    other[offset as usize + 16] ^= 1;
    let fields: Vec<String> = fcc_image::verify::manifest(&rom, Some(&other), &published)
        .unwrap()
        .mismatches
        .into_iter()
        .map(|m| m.field)
        .collect();
    assert_eq!(fields, ["uefi.application.authenticode_sha384", "uefi.disk.sha384", "uefi.tdx_rtmr1"]);
    let none = fcc_image::verify::manifest(&rom, None, &published).unwrap();
    assert_eq!(none.mismatches.iter().map(|m| m.field.as_str()).collect::<Vec<_>>(), ["uefi"]);
}

/// The real GCP TDX quote and event log (`../shared/testdata/tdx/gcp-cos-ccel`), if present.
fn gcp() -> Option<(Vec<u8>, Vec<u8>)> {
    let d = match std::env::var_os("FCC_TESTDATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
    }
    .join("tdx/gcp-cos-ccel");
    Some((std::fs::read(d.join("cos-113-tdx-quote.dat")).ok()?, std::fs::read(d.join("ccel_data.dat")).ok()?))
}

#[test]
fn a_cloud_quote_of_the_uefi_edition_is_held_against_the_firmware_and_our_rtmr1() {
    if !target_or_skip() {
        return;
    }
    let Some((quote, log)) = gcp() else {
        println!("SKIPPED: no GCP TDX quote (set FCC_TESTDATA or provide ../shared/testdata)");
        return;
    };
    let application = std::fs::read(efi::build_application(&fcc_image::build::workspace_root()).unwrap()).unwrap();
    let m = efi::measure(&application, &efi::disk_image(&application).unwrap()).unwrap();
    let q = fcc_cvm_abi::tdx::quote::Quote::new_checked(&quote[..]).unwrap();
    let google_mrtd = *q.mrtd();
    let rtmr = |i: usize| 48 + 328 + 48 * i;
    let fields = |v: &fcc_image::verify::Verdict| v.mismatches.iter().map(|m| m.field.clone()).collect::<Vec<_>>();

    // Google's quote as our edition's would read (its body edited: this tool checks what was
    // launched, the signature is the attestation verifier's): RTMR1 ours, RTMR2 one extend with
    // the configuration record of the settings file below, laid out as docs/PLATFORMS.md says
    // (hashed here by sha2 from bytes written by hand, not by the tool's own function).
    let file = b"opt/fcc/chain-id=114\nopt/fcc/proxy=192.168.7.9:7001\n";
    let settings = fcc_image::tdx::uefi_settings(Some(file)).unwrap();
    let mut record = [0u8; 48];
    record[..8].copy_from_slice(b"FCC-CFG1");
    record[8..16].copy_from_slice(&114u64.to_le_bytes());
    record[16..22].copy_from_slice(&[192, 168, 7, 9, 0x59, 0x1b]);
    record[22] = 1;
    let rtmr2: [u8; 48] = Sha384::new().chain_update([0u8; 48]).chain_update(record).finalize().into();
    let mut ours = quote.clone();
    ours[rtmr(1)..rtmr(1) + 48].copy_from_slice(&m.rtmr1);
    ours[rtmr(2)..rtmr(2) + 48].copy_from_slice(&rtmr2);
    let verify = |mrtds: &[[u8; 48]], quote: &[u8], log: Option<&[u8]>, settings: &_| {
        fcc_image::verify::tdx_quote_uefi(&application, mrtds, quote, log, settings)
    };
    let v = verify(&[google_mrtd], &ours, None, &settings).unwrap();
    assert!(v.is_match(), "{}", v.render());
    // Another firmware: MRTD named.
    let v = verify(&[[1; 48]], &ours, None, &settings).unwrap();
    assert_eq!(fields(&v), ["quote.MRTD"]);
    assert!(verify(&[], &ours, None, &settings).is_err(), "no firmware accepted");
    // Another configuration (the defaults: chain 14, 10.0.2.2:6661), or none measured: RTMR2.
    let defaults = fcc_image::tdx::uefi_settings(None).unwrap();
    assert_eq!(fields(&verify(&[google_mrtd], &ours, None, &defaults).unwrap()), ["quote.RTMR2"]);
    let mut unmeasured = ours.clone();
    unmeasured[rtmr(2)..rtmr(2) + 48].fill(0);
    assert_eq!(fields(&verify(&[google_mrtd], &unmeasured, None, &settings).unwrap()), ["quote.RTMR2"]);
    // Anything in RTMR3.
    let mut rtmr3 = ours.clone();
    rtmr3[rtmr(3)] ^= 1;
    assert_eq!(fields(&verify(&[google_mrtd], &rtmr3, None, &settings).unwrap()), ["quote.RTMR3"]);

    // The real boot (Container-Optimized OS, not us): RTMR1 differs — with the log, at the GPT
    // event, the first event where that boot went another way — and RTMR2 holds GRUB's and the
    // kernel's events, not our configuration.
    let v = verify(&[google_mrtd], &quote, Some(&log), &settings).unwrap();
    assert_eq!(fields(&v), ["quote.RTMR1", "quote.RTMR2"]);
    let why = &v.mismatches[0].expected;
    assert!(why.contains("RTMR1 event 2: the log has EV_EFI_GPT_EVENT"), "{why}");
    assert!(why.contains(&format!("we expect EV_EFI_GPT_EVENT {}", hex::encode(m.gpt_event_sha384))), "{why}");
    // A log of another boot is refused, not used to explain.
    let mut other = log.clone();
    let at = fcc_cvm_abi::eventlog::Log::parse(&log)
        .unwrap()
        .events()
        .map(Result::unwrap)
        .find(|e| e.index == 2)
        .unwrap()
        .offset;
    other[at + 14] ^= 1;
    let e = verify(&[google_mrtd], &quote, Some(&other), &settings).unwrap_err().to_string();
    assert!(e.starts_with("the event log given is not this quote's boot: it replays to RTMR1 "), "{e}");
}
