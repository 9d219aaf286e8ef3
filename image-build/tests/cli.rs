//! The `fcc-image` binary's `measure`, `verify` and `igvm` on a hand-made image: exit status 0 on
//! a match and 1 on a mismatch, the differing field and the update hint printed.

mod common;

use std::process::Command;

use common::{Snp, gpa, image};

fn fcc_image(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fcc-image")).args(args).output().unwrap()
}

#[test]
fn measure_verify_and_igvm() {
    const PAGES: usize = 4;
    let dir = std::env::temp_dir().join(format!("fcc-image-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snp: Vec<Snp> = vec![(0x10_0000, 0x1000, 1), (0x20_0000, 0x1000, 2), (0x20_1000, 0x1000, 3)];
    let tdvf = vec![(0, (PAGES * 4096) as u32, gpa(PAGES, 0), (PAGES * 4096) as u64, 0, 1)];
    let rom = dir.join("rom");
    std::fs::write(&rom, image(PAGES, Some(0xffff_f000), Some(&snp), Some(&tdvf), &[])).unwrap();
    let rom = rom.to_str().unwrap();
    let manifest = dir.join("m.json");
    let out = fcc_image(&["measure", "--rom", rom, "--vcpus", "1,2", "--out", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = fcc_image(&["verify", "--rom", rom, manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("MATCH\n"));

    let text = std::fs::read_to_string(&manifest).unwrap();
    let mrtd = serde_json::from_str::<serde_json::Value>(&text).unwrap()["tdx"]["page_by_page"]["mrtd"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(&manifest, text.replace(&mrtd, &"0".repeat(96))).unwrap();
    let out = fcc_image(&["verify", "--rom", rom, manifest.to_str().unwrap(), "--on-mismatch", "regenerate it"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("MISMATCH  tdx.page_by_page.mrtd") && stdout.ends_with("MISMATCH\n"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("regenerate it"));

    let out = fcc_image(&["verify", "--rom", rom, "--measurement", &mrtd]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let out = fcc_image(&["verify", "--rom", rom, "--measurement", "abcd"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("48 bytes"));

    let igvm = dir.join("f.igvm");
    let out = fcc_image(&["igvm", "--rom", rom, "--vcpus", "2", "--out", igvm.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(fcc_image::igvm::parse(&std::fs::read(&igvm).unwrap()).is_ok());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&mrtd), "the igvm crate's MRTD is ours: {stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn evidence_reads_a_saved_console() {
    let dir = tempfile::tempdir().unwrap();
    let console = dir.path().join("serial.log");
    // Firmware noise (escape sequences, invalid UTF-8) around the blocks the edition prints.
    let mut text = b"\x1b[2J\xffBdsDxe: starting\r\n".to_vec();
    text.extend_from_slice(b"EVENTLOG BEGIN 2\nEVENTLOG 0102\nEVENTLOG END\nREADY tee=0x00 platform=tdx\n");
    text.extend_from_slice(b"STATEMENT 0a0b\nQUOTE BEGIN 3\nQUOTE 040506\nQUOTE END\nNET none\n");
    std::fs::write(&console, &text).unwrap();
    let out_dir = dir.path().join("evidence");
    let out = fcc_image(&["evidence", console.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(out_dir.join("quote.dat")).unwrap(), [4, 5, 6]);
    assert_eq!(std::fs::read_to_string(out_dir.join("statement.hex")).unwrap(), "0a0b\n");
    assert_eq!(std::fs::read(out_dir.join("eventlog.dat")).unwrap(), [1, 2]);
    // A console without a quote (a plain machine): refused, saying so.
    std::fs::write(&console, b"READY tee=0x00 platform=plain\n").unwrap();
    let out = fcc_image(&["evidence", console.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no QUOTE block"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
