//! Replays the committed fuzz corpus of `fcc-cvm-abi`'s decoders
//! (`guest/core/fuzz/corpus/<target>/`) through the harness the cargo-fuzz targets call, on the
//! stable toolchain: every input a fuzzer kept stays a regression test.

mod fuzz_harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

fn replay(target: &str, run: impl Fn(&[u8])) {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "core", "fuzz", "corpus", target].iter().collect();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "corpus {} is empty", dir.display());
    let failures: Vec<String> = entries
        .iter()
        .filter(|p| {
            let data = std::fs::read(p).expect("read corpus file");
            catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs panicked:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
    eprintln!("{target}: replayed {} inputs", entries.len());
}

#[test]
fn corpus_event_log() {
    replay("event_log", fuzz_harness::event_log);
}
