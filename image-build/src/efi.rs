//! The UEFI edition (cloud CVMs): `guest/uefi` built as `x86_64-unknown-uefi`, put on a GPT disk
//! as the removable-media default path `\EFI\BOOT\BOOTX64.EFI`, and what firmware measures of
//! it: the application's Authenticode SHA-384 and the disk's GPT event, which with the
//! firmware's fixed events give TDX RTMR1 (`fcc_cvm_abi::eventlog::uefi_boot`).
//!
//! Reproducible like the ROM: paths remapped, one codegen unit, no debug information, and the
//! linker (lld-link) told `/Brepro` so the PE header's timestamp is a hash of the contents, not
//! the time, and `/DEBUG:NONE` so no PDB is written (its build paths would reach the image
//! through the CodeView record's GUID, which `/Brepro` derives from the PDB). The disk's bytes are a function of the application's: fixed disk and partition
//! GUIDs, a FAT volume with a fixed serial and label, every file time at FAT's epoch
//! (1980-01-01: `fatfs` without a clock).

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use fcc_cvm_abi::eventlog::{SHA384_LEN, uefi_boot};
use sha2::{Digest, Sha384};

use crate::build::build_guest_with;

/// The UEFI edition's target.
pub const TARGET: &str = "x86_64-unknown-uefi";

/// Whether rustup has [`TARGET`] installed (the application cannot be built without it).
pub fn target_installed() -> bool {
    let targets = std::process::Command::new("rustup").args(["target", "list", "--installed"]).output();
    targets.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == TARGET))
}

/// What this machine lacks to build the application and boot it under OVMF (`fcc_qemu::uefi`),
/// if anything: for the tests' `SKIPPED` lines.
pub fn missing_for_boot() -> Option<String> {
    let mut missing: Vec<String> = fcc_qemu::uefi::missing().into_iter().collect();
    if !target_installed() {
        missing.push(format!("the {TARGET} target (rustup target add {TARGET})"));
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}
/// Its package.
pub const PACKAGE: &str = "fcc-guest-uefi";
/// Where `efi` writes the application and its disk image by default, relative to the workspace.
pub const OUT_DIR: &str = "target";

/// Flags for the UEFI build besides the path remapping. UEFI images are relocatable PE files,
/// so no static relocation model; the target has no SSE, like the ROM's (the AES-GCM crates of
/// fcc-cvm-abi must use their software back ends).
pub const RUSTFLAGS: &[&str] = &[
    "-Ccodegen-units=1",
    "-Cdebuginfo=0",
    "-Clink-arg=/Brepro",
    "-Clink-arg=/DEBUG:NONE",
    "--cfg",
    "aes_force_soft",
    "--cfg",
    "polyval_force_soft",
];

/// The disk's GUID: fixed, so the GPT event (which holds it) is the same for every build.
pub const DISK_GUID: uuid::Uuid = uuid::uuid!("fcc0e5f1-0000-4000-8000-000000000001");
/// The EFI system partition's unique GUID (also in the GPT event).
pub const ESP_GUID: uuid::Uuid = uuid::uuid!("fcc0e5f1-0000-4000-8000-000000000002");
/// Bytes per sector of the disk image.
pub const SECTOR: u64 = 512;
/// Where the ESP starts (1 MiB, the usual alignment).
pub const ESP_FIRST_LBA: u64 = 2048;
/// The ESP's sectors (32 MiB: FAT16, room for the application many times over).
pub const ESP_SECTORS: u64 = 32 * 2048;
/// The disk's sectors: the primary GPT and the alignment gap, the ESP, the backup GPT (33).
pub const DISK_SECTORS: u64 = ESP_FIRST_LBA + ESP_SECTORS + 33;
/// The FAT volume's serial number.
pub const VOLUME_ID: u32 = 0x0fcc_0e5f;
/// The FAT volume's label.
pub const VOLUME_LABEL: [u8; 11] = *b"FCC-GUEST  ";
/// Where firmware looks for the application on removable media (UEFI 2.10 §3.5.1.1).
pub const BOOT_PATH: [&str; 3] = ["EFI", "BOOT", "BOOTX64.EFI"];

/// Builds the UEFI application and returns its path.
pub fn build_application(workspace: &Path) -> Result<PathBuf> {
    build_application_with(workspace, &[])
}

/// Builds the UEFI application with the compute extensions `extensions` compiled in (its own
/// Authenticode hash and RTMR1) and returns its path.
pub fn build_application_with(workspace: &Path, extensions: &[String]) -> Result<PathBuf> {
    let hint = format!("; is the target installed? `rustup target add {TARGET}`");
    let release = build_guest_with(workspace, PACKAGE, TARGET, RUSTFLAGS, extensions, "the UEFI application", &hint)?;
    Ok(release.join(format!("{PACKAGE}.efi")))
}

/// The Authenticode SHA-384 of a PE image: what UEFI firmware logs (and extends its register
/// with) as the EV_EFI_BOOT_SERVICES_APPLICATION of an application it starts.
pub fn authenticode_sha384(pe: &[u8]) -> Result<[u8; SHA384_LEN]> {
    let file = object::read::pe::PeFile64::parse(pe).context("the application is not a PE32+ image")?;
    let mut h = Sha384Update(Sha384::new());
    authenticode::authenticode_digest(&file, &mut h).map_err(|e| anyhow::anyhow!("Authenticode: {e:?}"))?;
    Ok(h.0.finalize().into())
}

/// `authenticode` feeds a `digest` 0.10 hasher; ours is `sha2` 0.11.
struct Sha384Update(Sha384);

impl digest010::Update for Sha384Update {
    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }
}

/// The disk image: a protective MBR, a GPT with one EFI system partition holding the
/// application at [`BOOT_PATH`], and the backup GPT.
pub fn disk_image(application: &[u8]) -> Result<Vec<u8>> {
    disk_image_with_settings(application, None)
}

/// Where the edition reads its settings on a disk without fw_cfg (a cloud's): `\EFI\fcc\settings`.
pub const SETTINGS_PATH: [&str; 3] = ["EFI", "fcc", "settings"];

/// [`disk_image`] with a settings file ([`SETTINGS_PATH`]; `opt/fcc/<name>=<value>` lines, read
/// here as the guest reads them, so a file the guest would refuse is refused now). The settings
/// change the disk's bytes, not what firmware measures: the GPT event and the application are
/// the same.
pub fn disk_image_with_settings(application: &[u8], settings: Option<&[u8]>) -> Result<Vec<u8>> {
    use fcc_guest_platform::config::{self, SettingsFile};
    if let Some(text) = settings {
        let mut file = SettingsFile::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        config::read(&mut file).map_err(|e| anyhow::anyhow!("settings file: {e}"))?;
    }
    ensure!(!application.is_empty(), "the application is empty");
    let mut disk = Cursor::new(vec![0u8; (DISK_SECTORS * SECTOR) as usize]);
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(DISK_SECTORS - 1).context("disk size")?);
    mbr.overwrite_lba0(&mut disk).context("writing the protective MBR")?;
    let mut table = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(disk, Some(DISK_GUID))
        .context("creating the GPT")?;
    table.add_partition_at("EFI system", 1, ESP_FIRST_LBA, ESP_SECTORS, gpt::partition_types::EFI, 0)?;
    let mut partitions = table.partitions().clone();
    partitions.get_mut(&1).expect("the partition just added").part_guid = ESP_GUID;
    table.update_partitions(partitions)?;
    let mut disk = table.write().context("writing the GPT")?;

    let start = ESP_FIRST_LBA * SECTOR;
    let mut esp = vec![0u8; (ESP_SECTORS * SECTOR) as usize];
    {
        let mut volume = Cursor::new(&mut esp[..]);
        let options = fatfs::FormatVolumeOptions::new().volume_id(VOLUME_ID).volume_label(VOLUME_LABEL);
        fatfs::format_volume(&mut volume, options).context("formatting the ESP")?;
        volume.seek(SeekFrom::Start(0))?;
        let fs = fatfs::FileSystem::new(volume, fatfs::FsOptions::new()).context("opening the ESP")?;
        {
            let mut dir = fs.root_dir();
            for name in &BOOT_PATH[..BOOT_PATH.len() - 1] {
                dir = dir.create_dir(name).with_context(|| format!("creating {name} on the ESP"))?;
            }
            let mut file =
                dir.create_file(BOOT_PATH[BOOT_PATH.len() - 1]).context("creating the application's file")?;
            file.write_all(application).context("writing the application to the ESP")?;
            file.flush()?;
            if let Some(text) = settings {
                let mut dir = fs.root_dir();
                for name in &SETTINGS_PATH[..SETTINGS_PATH.len() - 1] {
                    dir = match dir.open_dir(name) {
                        Ok(d) => d,
                        Err(_) => dir.create_dir(name).with_context(|| format!("creating {name} on the ESP"))?,
                    };
                }
                let mut file =
                    dir.create_file(SETTINGS_PATH[SETTINGS_PATH.len() - 1]).context("creating the settings file")?;
                file.write_all(text).context("writing the settings file")?;
                file.flush()?;
            }
        }
        fs.unmount().context("closing the ESP")?;
    }
    disk.get_mut()[start as usize..start as usize + esp.len()].copy_from_slice(&esp);
    Ok(disk.into_inner())
}

/// What firmware will measure of the application booted from its disk image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurements {
    /// The application's Authenticode SHA-384.
    pub authenticode_sha384: [u8; SHA384_LEN],
    /// The disk's GPT event digest.
    pub gpt_event_sha384: [u8; SHA384_LEN],
    /// TDX RTMR1 of a boot of this disk by EDK2-based firmware (GCP's among them).
    pub rtmr1: [u8; SHA384_LEN],
}

/// The firmware's event log as the application writes it to its console — a TPM's log under
/// OVMF, the CC event log in a TD: the log as GetEventLog gave it before ExitBootServices
/// (`EVENTLOG BEGIN <len>`, lines of `EVENTLOG <hex>`, `EVENTLOG END`), then the events the
/// firmware logged after it, ExitBootServices' among them (the final events table, a
/// `FINALEVENTS` block after ExitBootServices), appended. `Ok(None)`: the console has none.
pub fn console_event_log(console: &str) -> Result<Option<Vec<u8>>> {
    let Some(mut log) = console_block(console, "EVENTLOG")? else { return Ok(None) };
    if let Some(later) = console_block(console, "FINALEVENTS")? {
        log.extend_from_slice(&later);
    }
    Ok(Some(log))
}

/// The application's evidence in a TD, from its console: the boot statement
/// (`abi.encode(Attestation)`, the `STATEMENT <hex>` line) and the TDX quote over it (`QUOTE`
/// lines, as the event log's). `Ok(None)`: the console has no quote (not a TD, or the host had
/// no quoting service).
pub fn console_quote(console: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let Some(quote) = console_block(console, "QUOTE")? else { return Ok(None) };
    // The statement printed just before the (first) quote: a console may hold several boots.
    let statement = console
        .lines()
        .take_while(|l| !l.starts_with("QUOTE BEGIN "))
        .filter_map(|l| l.strip_prefix("STATEMENT "))
        .last()
        .context("a quote without its STATEMENT before it")?;
    Ok(Some((hex::decode(statement.trim_end()).context("the STATEMENT line is not hex")?, quote)))
}

/// The bytes of a `<TAG> BEGIN <len>` … `<TAG> <hex>` … `<TAG> END` block.
fn console_block(console: &str, tag: &str) -> Result<Option<Vec<u8>>> {
    let begin_prefix = format!("{tag} BEGIN ");
    let mut lines = console.lines().skip_while(|l| !l.starts_with(&begin_prefix));
    let Some(begin) = lines.next() else { return Ok(None) };
    let len: usize =
        begin[begin_prefix.len()..].trim().parse().with_context(|| format!("{tag} BEGIN: not a length"))?;
    let mut bytes = Vec::with_capacity(len.min(1 << 20));
    let (end, line_prefix) = (format!("{tag} END"), format!("{tag} "));
    for line in lines {
        if line == end {
            ensure!(bytes.len() == len, "the {tag} block holds {} bytes, its first line says {len}", bytes.len());
            return Ok(Some(bytes));
        }
        let hex = line.strip_prefix(&line_prefix).with_context(|| format!("not a {tag} line: {line:?}"))?;
        bytes.extend(hex::decode(hex.trim_end()).with_context(|| format!("a {tag} line is not hex"))?);
    }
    anyhow::bail!("the {tag} block has no {tag} END")
}

/// The measurements of `application` on `disk`.
pub fn measure(application: &[u8], disk: &[u8]) -> Result<Measurements> {
    let authenticode_sha384 = authenticode_sha384(application)?;
    let gpt_event_sha384 = uefi_boot::gpt_event_digest(disk).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Measurements {
        authenticode_sha384,
        gpt_event_sha384,
        rtmr1: uefi_boot::rtmr1(&gpt_event_sha384, &[authenticode_sha384]),
    })
}

/// File names of the application and the disk image in an output directory.
pub const EFI_FILE: &str = "fcc-guest.efi";
/// See [`EFI_FILE`].
pub const DISK_FILE: &str = "fcc-guest-efi.img";

/// Builds the application with `extensions` and its disk image (with `settings`, if given),
/// writes both into `out_dir`, and returns them with their measurements.
pub fn build(
    workspace: &Path,
    out_dir: &Path,
    settings: Option<&[u8]>,
    extensions: &[String],
) -> Result<(Vec<u8>, Vec<u8>, Measurements)> {
    let path = build_application_with(workspace, extensions)?;
    let application = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let disk = disk_image_with_settings(&application, settings)?;
    let m = measure(&application, &disk)?;
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(out_dir.join(EFI_FILE), &application)?;
    std::fs::write(out_dir.join(DISK_FILE), &disk)?;
    Ok((application, disk, m))
}

#[cfg(test)]
mod tests {
    use super::{console_event_log, console_quote};

    #[test]
    fn the_console_event_log_is_read_whole_or_refused() {
        let console = "boot\nEVENTLOG BEGIN 5\nEVENTLOG 0102\nEVENTLOG 030405\nEVENTLOG END\nREADY";
        assert_eq!(console_event_log(console).unwrap(), Some(vec![1, 2, 3, 4, 5]));
        let later = format!("{console}\nFINALEVENTS BEGIN 1\nFINALEVENTS 06\nFINALEVENTS END");
        assert_eq!(console_event_log(&later).unwrap(), Some(vec![1, 2, 3, 4, 5, 6]), "the final events appended");
        assert!(console_event_log(&format!("{console}\nFINALEVENTS BEGIN 2\nFINALEVENTS 06")).is_err());
        assert_eq!(console_event_log("boot\nREADY").unwrap(), None);
        for bad in [
            "EVENTLOG BEGIN 6\nEVENTLOG 0102030405\nEVENTLOG END",
            "EVENTLOG BEGIN 4\nEVENTLOG 0102030405\nEVENTLOG END",
            "EVENTLOG BEGIN 2\nEVENTLOG 0102",
            "EVENTLOG BEGIN 2\nEVENTLOG 01zz\nEVENTLOG END",
            "EVENTLOG BEGIN 2\nREADY\nEVENTLOG END",
            "EVENTLOG BEGIN x\nEVENTLOG END",
        ] {
            assert!(console_event_log(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_console_quote_comes_with_its_statement() {
        let console = "READY\nSTATEMENT 00ff\nQUOTE BEGIN 3\nQUOTE 0a0b0c\nQUOTE END\nNET none";
        assert_eq!(console_quote(console).unwrap(), Some((vec![0, 0xff], vec![10, 11, 12])));
        assert_eq!(console_quote("READY\nSTATEMENT 00").unwrap(), None);
        assert!(console_quote("QUOTE BEGIN 1\nQUOTE 01\nQUOTE END").is_err(), "no statement");
        assert!(console_quote("QUOTE BEGIN 1\nQUOTE 01\nQUOTE END\nSTATEMENT 00").is_err(), "only after it");
        let two = "STATEMENT 01\nREADY\nSTATEMENT 02\nQUOTE BEGIN 1\nQUOTE 03\nQUOTE END";
        assert_eq!(console_quote(two).unwrap(), Some((vec![2], vec![3])), "the statement just before");
        assert!(console_quote("STATEMENT x\nQUOTE BEGIN 1\nQUOTE 01\nQUOTE END").is_err(), "not hex");
        // The two blocks do not read each other's lines.
        let both = "EVENTLOG BEGIN 1\nEVENTLOG 01\nEVENTLOG END\nSTATEMENT 02\nQUOTE BEGIN 1\nQUOTE 03\nQUOTE END";
        assert_eq!(console_event_log(both).unwrap(), Some(vec![1]));
        assert_eq!(console_quote(both).unwrap(), Some((vec![2], vec![3])));
    }
}
