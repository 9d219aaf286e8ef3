//! The ROM (and the UEFI edition under TDVF) as a confidential guest.
//!
//! * Opt-in boots under SEV-SNP (`-object sev-snp-guest`) and TDX (`-object tdx-guest`; the UEFI
//!   edition also needs a TDVF image, `FCC_TDVF`):
//!   `#[ignore]`d; `cargo xtask test` runs them where the host's KVM has the feature enabled and
//!   prints `SKIPPED: …` otherwise (no SNP/TDX hardware on the development machines). Run by
//!   hand on a host without the feature (or a QEMU without the object) they fail, saying why.
//! * Everywhere: the reset path's SEV-SNP detection, which must decide without CPUID. A CPUID
//!   page is planted where the SNP launch would put it (`-device loader`): without the SEV bit
//!   or malformed, the guest must boot as before, silently; with the SEV bit the reset path
//!   must read SEV_STATUS — TCG answers 0 for that MSR, so the guest boots as plain and says it
//!   ignored the page; KVM without SEV raises #GP, which before any IDT is a shutdown
//!   (`-no-reboot`: QEMU exits without READY). Either proves the branch reads the page.
//!
//! The exact command lines are in `docs/PLATFORMS.md`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fcc_e2e::{TIMEOUT, boot, options};
use fcc_layout::interface::{EXIT_SUCCESS, READY_PREFIX, qemu_exit_status};
use fcc_qemu::{BootOptions, QEMU, find_qemu, parse_ready};
use sha2::{Digest, Sha384};

/// A KVM module parameter that reads `Y` or `1`.
fn kvm_param(path: &str) -> Result<(), String> {
    let value = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    match value.trim() {
        "Y" | "y" | "1" => Ok(()),
        other => Err(format!("{path} is {other:?}")),
    }
}

/// Whether QEMU lists the `-object` type `name`.
fn qemu_has_object(name: &str) -> Result<(), String> {
    let qemu = find_qemu().map_err(|e| format!("{e:#}"))?;
    let out = Command::new(qemu).args(["-object", "help"]).output().map_err(|e| format!("{QEMU}: {e}"))?;
    let list = String::from_utf8_lossy(&out.stdout);
    if list.lines().any(|l| l.trim() == name) {
        Ok(())
    } else {
        Err(format!("{QEMU} has no -object {name} (SEV-SNP needs QEMU >= 9.1, TDX >= 10.1)"))
    }
}

/// Runs QEMU with `args` until it exits or `timeout`; returns its console and exit code.
fn run_qemu(args: &[String], timeout: Duration) -> (String, Option<i32>) {
    let qemu = find_qemu().unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("$ {QEMU} {}", args.join(" "));
    let mut child = Command::new(qemu)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting QEMU");
    let (tx, rx) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if tx.send(line.trim_end_matches('\r').to_string()).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let start = Instant::now();
    let mut console = String::new();
    let status = loop {
        while let Ok(line) = rx.try_recv() {
            console.push_str(&line);
            console.push('\n');
        }
        if let Some(status) = child.try_wait().expect("waiting for QEMU") {
            break status.code();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("QEMU did not exit within {timeout:?}; console:\n{console}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The reader threads end with the pipes.
    for line in rx.iter() {
        console.push_str(&line);
        console.push('\n');
    }
    (console, status)
}

fn ready_platform(console: &str) -> Option<String> {
    let line = console.lines().find(|l| l.starts_with(READY_PREFIX))?;
    parse_ready(line).ok().map(|r| r.platform)
}

#[test]
#[ignore = "needs an SEV-SNP host; cargo xtask test runs it where the host has one"]
fn boots_as_sev_snp_guest() {
    let host = cvm_host("/sys/module/kvm_amd/parameters/sev_snp", "sev-snp-guest");
    // Run by hand or by `cargo xtask test` on a host that should have it: fail loudly if not.
    if let Err(why) = host {
        panic!("boots_as_sev_snp_guest needs an SEV-SNP host: {why}");
    }
    // The host's C-bit (CPUID Fn8000_001F EBX[5:0]): QEMU insists the guest's matches it.
    let cbitpos = std::arch::x86_64::__cpuid(0x8000_001f).ebx & 0x3f;
    // The command line of docs/PLATFORMS.md (one vCPU, no NIC), leaving through the exit device.
    let args = BootOptions::sev_snp(fcc_e2e::rom(), cbitpos).test_exit().args();
    let (console, status) = run_qemu(&args, TIMEOUT);
    assert_eq!(ready_platform(&console).as_deref(), Some("sev-snp"), "console:\n{console}");
    assert!(console.contains(&format!("SEV-SNP: C-bit {cbitpos},")), "console:\n{console}");
    assert_eq!(status, Some(qemu_exit_status(EXIT_SUCCESS)), "console:\n{console}");
}

/// A confidential-VM host: the KVM module parameter `param` on, QEMU with the `-object` type
/// `object`, `/dev/kvm` usable.
fn cvm_host(param: &str, object: &str) -> Result<(), String> {
    kvm_param(param).and_then(|()| qemu_has_object(object)).and_then(|()| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .map(drop)
            .map_err(|e| format!("/dev/kvm: {e}"))
    })
}

/// A TDX host ([`cvm_host`]).
fn tdx_host() -> Result<(), String> {
    cvm_host("/sys/module/kvm_intel/parameters/tdx", "tdx-guest")
}

/// What any TD boot of either edition prints: READY as `tdx`, TDG.VP.INFO worked (a shared bit
/// exists only for GPA width 48 or 52), not a debug TD, and the runtime configuration in RTMR2
/// before READY.
fn td_booted(console: &str) {
    assert_eq!(ready_platform(console).as_deref(), Some("tdx"), "console:\n{console}");
    assert!(console.contains("TDX: GPA width 48,") || console.contains("TDX: GPA width 52,"), "console:\n{console}");
    assert!(!console.contains("(DEBUG: not confidential)"), "console:\n{console}");
    let rtmr = console.find("TDX: RTMR2 extended").expect("no RTMR2 line");
    assert!(rtmr < console.find(READY_PREFIX).expect("no READY"), "console:\n{console}");
}

#[test]
#[ignore = "needs a TDX host; cargo xtask test runs it where the host has one"]
fn boots_as_tdx_guest() {
    if let Err(why) = tdx_host() {
        panic!("boots_as_tdx_guest needs a TDX host: {why}");
    }
    // docs/PLATFORMS.md's command line without the NIC and the quote socket: the test stops
    // after READY, before any quote is asked for.
    let args = BootOptions::tdx(fcc_e2e::rom(), None).test_exit().args();
    let (console, status) = run_qemu(&args, TIMEOUT);
    td_booted(&console);
    // The TDX module's MRTD is one this source's ROM gives (fcc-image's two page orders).
    let field = |prefix: &str| console.lines().find_map(|l| l.strip_prefix(prefix)).map(str::to_owned);
    let mrtd = field("TDX: MRTD ").unwrap_or_else(|| panic!("no MRTD line; console:\n{console}"));
    let mrtd: [u8; 48] = hex::decode(mrtd.trim()).ok().and_then(|v| v.try_into().ok()).expect("MRTD: 48 bytes of hex");
    let image = std::fs::read(fcc_e2e::rom()).expect("reading the ROM");
    let tables = fcc_image::ovmf::parse(&image).expect("the ROM's GUID tables");
    let found = fcc_image::verify::find(&image, &tables, &mrtd, &fcc_image::verify::Search::default())
        .expect("recomputing the measurements");
    assert!(found.as_deref().is_some_and(|w| w.starts_with("TDX MRTD")), "MRTD {}: {found:?}", hex::encode(mrtd));
    // RTMR0, 1 and 3 untouched (no firmware, no loader); RTMR2 holds the configuration record.
    let rtmrs = field("TDX: RTMR0 ").unwrap_or_else(|| panic!("no RTMR line; console:\n{console}"));
    let rtmrs: Vec<&str> = rtmrs.split_whitespace().collect();
    let zero = "0".repeat(96);
    assert_eq!((rtmrs.len(), rtmrs[0], rtmrs[2]), (7, zero.as_str(), zero.as_str()), "RTMR0/1: {rtmrs:?}");
    assert_eq!(rtmrs[6], zero, "RTMR3: {rtmrs:?}");
    // RTMR2 = SHA-384(48 zero bytes ‖ record), the record built here from docs/PLATFORMS.md's
    // table for the guest's defaults: chain 14, proxy 10.0.2.2:6661, chain-bound policy hashes.
    let mut record = [0u8; 48];
    record[..8].copy_from_slice(b"FCC-CFG1");
    record[8..16].copy_from_slice(&14u64.to_le_bytes());
    record[16..20].copy_from_slice(&[10, 0, 2, 2]);
    record[20..22].copy_from_slice(&6661u16.to_le_bytes());
    record[22] = 1;
    let expected = Sha384::new().chain_update([0u8; 48]).chain_update(record).finalize();
    assert_eq!(rtmrs[4], hex::encode(expected), "RTMR2: {rtmrs:?}");
    assert_eq!(status, Some(qemu_exit_status(EXIT_SUCCESS)), "console:\n{console}");
}

#[test]
#[ignore = "needs a TDX host and TDVF; cargo xtask test runs it where the host has them"]
fn the_uefi_edition_boots_as_tdx_guest() {
    let tdvf = tdx_host().and_then(|()| fcc_qemu::uefi::tdvf_image());
    let tdvf =
        tdvf.unwrap_or_else(|why| panic!("the_uefi_edition_boots_as_tdx_guest needs a TDX host and TDVF: {why}"));
    let workspace = fcc_image::build::workspace_root();
    let application = std::fs::read(fcc_image::efi::build_application(&workspace).unwrap()).unwrap();
    let disk = fcc_image::efi::disk_image(&application).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let disk_path = dir.path().join("disk.img");
    std::fs::write(&disk_path, &disk).unwrap();
    // No NIC: the test stops at READY, before any quote is asked for.
    let uefi = fcc_qemu::uefi::Uefi::tdvf(&disk_path, tdvf);
    let options = BootOptions { uefi: Some(uefi), ..BootOptions::tdx(std::path::PathBuf::new(), None) };
    let (mut guest, _) = fcc_e2e::boot_ready(&options);
    let console = guest.console();
    // Our #VE handler and TDCALLs after ExitBootServices, as the ROM's at its start.
    td_booted(&console);
    let field = |prefix: &str| console.lines().find_map(|l| l.strip_prefix(prefix)).map(str::to_owned);
    let rtmrs = field("TDX: RTMR0 ").unwrap_or_else(|| panic!("no RTMR line; console:\n{console}"));
    let rtmrs: Vec<&str> = rtmrs.split_whitespace().collect();
    assert_eq!(rtmrs.len(), 7, "{rtmrs:?}");
    // RTMR2: the defaults' record (fw_cfg sets nothing); RTMR3: untouched.
    let defaults = fcc_image::tdx::uefi_settings(None).unwrap();
    assert_eq!(rtmrs[4], hex::encode(fcc_image::tdx::settings_rtmr2(&defaults)), "RTMR2: {rtmrs:?}");
    assert_eq!(rtmrs[6], "0".repeat(96), "RTMR3: {rtmrs:?}");
    // The CC event log the edition wrote replays to the TDX module's RTMR0 and RTMR1, and RTMR1
    // holds this application's Authenticode SHA-384.
    let log = fcc_image::efi::console_event_log(&console).unwrap().expect("no CC event log on the console");
    let replay = fcc_cvm_abi::eventlog::replay_rtmrs(&log).unwrap();
    assert_eq!((hex::encode(replay[0]), hex::encode(replay[1])), (rtmrs[0].to_owned(), rtmrs[2].to_owned()));
    let authenticode = fcc_image::efi::authenticode_sha384(&application).unwrap();
    let logged = fcc_cvm_abi::eventlog::Log::parse(&log).unwrap().events().map(Result::unwrap).any(|e| {
        e.index == 2
            && e.event_type == fcc_cvm_abi::eventlog::event_type::EV_EFI_BOOT_SERVICES_APPLICATION
            && e.sha384() == Some(&authenticode)
    });
    assert!(logged, "no RTMR1 event with our Authenticode digest");
    // After READY: the boot statement and a quote over it where the host has a quoting service
    // (this command line gives none: then the edition says so), then no NIC to serve.
    let quote_wait = Duration::from_secs(70);
    guest.wait_for("NET none", TIMEOUT + quote_wait).unwrap_or_else(|e| panic!("{e:#}"));
    let console = guest.console();
    match fcc_image::efi::console_quote(&console).unwrap() {
        Some((statement, quote)) => {
            let q = fcc_cvm_abi::tdx::quote::Quote::new_checked(&quote[..]).unwrap();
            let statement = fcc_attest::statement::decode_statement(&statement).unwrap();
            assert_eq!(q.report_data(), &statement.report_data()[..], "the quote binds the printed statement");
            assert_eq!(hex::encode(q.rtmr(1)), rtmrs[2], "the quote's RTMR1 is the TDREPORT's");
        }
        None => assert!(console.contains("TDX: no quote of the boot statement"), "console:\n{console}"),
    }
    drop(guest);
}

/// One CPUID answer.
#[derive(Clone, Copy, Default)]
struct Cpuid {
    eax: u32,
    ebx: u32,
    ecx: u32,
    edx: u32,
}

/// Writes a CPUID page (SEV-SNP firmware ABI layout: `u32 count`, 12 reserved bytes, then
/// 48-byte entries `eax_in, ecx_in, xcr0_in (u64), xss_in (u64), eax, ebx, ecx, edx, reserved`)
/// holding `entries` but claiming `count` of them to a temporary file; returns the
/// `-device loader` arguments that plant it at fcc-layout's SNP_CPUID_PAGE.
fn planted_page(name: &str, entries: &[(u32, u32, Cpuid)], count: u32) -> Vec<String> {
    let mut page = vec![0u8; 4096];
    page[..4].copy_from_slice(&count.to_le_bytes());
    for (i, (leaf, subleaf, c)) in entries.iter().enumerate() {
        let e = &mut page[16 + 48 * i..16 + 48 * (i + 1)];
        for (at, v) in [(0, *leaf), (4, *subleaf), (24, c.eax), (28, c.ebx), (32, c.ecx), (36, c.edx)] {
            e[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    let path = std::env::temp_dir().join(format!("fcc-cpuid-page-{}-{name}.bin", std::process::id()));
    std::fs::write(&path, &page).expect("writing the planted CPUID page");
    vec![
        "-device".into(),
        format!("loader,file={},addr={:#x},force-raw=on", path.display(), fcc_layout::SNP_CPUID_PAGE.start),
    ]
}

fn plain_args(extra: Vec<String>) -> Vec<String> {
    let mut args = options().args();
    args.extend(extra);
    args
}

/// Fn8000_001F as an SEV-SNP part reports it: SEV (bit 1), SEV-ES, SNP; C-bit 51.
const SEV_LEAF: Cpuid = Cpuid { eax: 0x1_001f, ebx: 0x4173, ecx: 0, edx: 0 };

#[test]
fn a_cpuid_page_without_sev_boots_as_plain() {
    let no_sev = Cpuid { eax: 0x1_001f & !2, ..SEV_LEAF };
    let args = plain_args(planted_page("no-sev", &[(0x1, 0, Cpuid::default()), (0x8000_001f, 0, no_sev)], 2));
    let (console, status) = run_qemu(&args, TIMEOUT);
    assert_eq!(ready_platform(&console).as_deref(), Some("plain"), "console:\n{console}");
    assert!(!console.contains(STALE_NOTE), "console:\n{console}");
    assert_eq!(status, Some(qemu_exit_status(EXIT_SUCCESS)), "console:\n{console}");
}

/// What the guest prints when it ignores a CPUID page that claims SEV.
const STALE_NOTE: &str = "note: a CPUID page claiming SEV";

#[test]
fn a_malformed_cpuid_page_boots_as_plain() {
    // The SEV leaf is there, but the count is out of range (65) — or it lies beyond the count.
    for (name, count) in [("count-65", 65), ("beyond-count", 1)] {
        let args = plain_args(planted_page(name, &[(0x1, 0, Cpuid::default()), (0x8000_001f, 0, SEV_LEAF)], count));
        let (console, status) = run_qemu(&args, TIMEOUT);
        assert_eq!(ready_platform(&console).as_deref(), Some("plain"), "{name}; console:\n{console}");
        assert!(!console.contains(STALE_NOTE), "{name}; console:\n{console}");
        assert_eq!(status, Some(qemu_exit_status(EXIT_SUCCESS)), "{name}; console:\n{console}");
    }
}

#[test]
fn a_cpuid_page_with_sev_takes_the_snp_branch() {
    if std::fs::read_to_string("/sys/module/kvm_amd/parameters/sev").is_ok_and(|v| matches!(v.trim(), "Y" | "1")) {
        eprintln!("SKIPPED: a_cpuid_page_with_sev_takes_the_snp_branch needs a host without SEV");
        return;
    }
    let args = plain_args(planted_page("sev", &[(0x1, 0, Cpuid::default()), (0x8000_001f, 0, SEV_LEAF)], 2));
    let (console, status) = run_qemu(&args, TIMEOUT);
    if console.contains(READY_PREFIX) {
        // TCG: RDMSR of SEV_STATUS read 0.
        assert_eq!(ready_platform(&console).as_deref(), Some("plain"), "console:\n{console}");
        assert!(console.contains(STALE_NOTE), "the page was not seen; console:\n{console}");
        assert_eq!(status, Some(qemu_exit_status(EXIT_SUCCESS)), "console:\n{console}");
    } else {
        // KVM: #GP on the MSR before any IDT: shutdown, nothing printed.
        assert!(!console.contains("fcc-guest"), "console:\n{console}");
        assert_eq!(status, Some(0), "a shutdown under -no-reboot exits with 0; console:\n{console}");
        // And the same ROM boots without the page (the failure above is the page's doing).
        let mut guest = boot(&options());
        guest.wait_for(READY_PREFIX, TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    }
}
