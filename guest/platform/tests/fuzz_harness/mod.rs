//! The harness of fuzz target `settings_file` (guest/core/fuzz), shared with the corpus replay
//! in `cargo test` (`tests/fuzz_corpus.rs`): the UEFI edition's settings file — what an operator,
//! or whoever controls the disk, puts on the boot disk — read as the guest reads it.

use fcc_guest_platform::config::{self, FILE_NAMES, SETTINGS_FILE_MAX, SettingsFile, Source};

/// Never panics; a refusal names a line the input has (or the whole file, for its size or
/// encoding); every value a file gives is the text after `name=` on one of its lines, given
/// whole or refused for a buffer too small, never cut; the values then parse or are refused.
pub fn settings_file(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).collect();
    match SettingsFile::parse(data) {
        Err(e) => {
            assert!(e.line <= lines.len(), "line {} of {}", e.line, lines.len());
            if e.line == 0 {
                assert!(data.len() > SETTINGS_FILE_MAX || std::str::from_utf8(data).is_err());
            }
        }
        Ok(mut file) => {
            assert!(data.len() <= SETTINGS_FILE_MAX && std::str::from_utf8(data).is_ok());
            for name in FILE_NAMES {
                let mut buf = [0u8; SETTINGS_FILE_MAX];
                if let Some(got) = file.get(name, &mut buf) {
                    let len = got.expect("a value fits a buffer as large as the file");
                    let line = [name.as_bytes(), b"=", &buf[..len]].concat();
                    assert!(lines.contains(&line.as_slice()), "{name} = {:?} is on no line", &buf[..len]);
                    let mut short = vec![0u8; len.saturating_sub(1)];
                    if len > 0 {
                        assert_eq!(file.get(name, &mut short), Some(Err(())), "a value cut short");
                    }
                }
            }
            let _ = config::read(&mut file);
        }
    }
}
