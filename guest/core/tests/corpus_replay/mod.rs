//! The corpus replay of the fuzz targets, shared by `fcc-core`'s `tests/fuzz_corpus.rs`,
//! `fcc-cvm-abi`'s and `fcc-extensions`' (included with `#[path]`): the corpus of every core
//! target is `guest/core/fuzz/corpus/<target>/`, the extensions' `extensions/fuzz/corpus/`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// `guest/core/fuzz/corpus/<target>`.
pub fn corpus_dir(target: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", "core", "fuzz", "corpus", target].iter().collect()
}

/// Runs every corpus file of `target` through `run`; fails listing every file that panicked.
pub fn replay(target: &str, run: impl Fn(&[u8])) {
    replay_dir(&corpus_dir(target), target, run)
}

/// [`replay`] over the corpus in `dir` (another package's fuzz targets).
pub fn replay_dir(dir: &std::path::Path, target: &str, run: impl Fn(&[u8])) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "corpus {} is empty", dir.display());
    let mut failures = Vec::new();
    for path in &entries {
        let data = std::fs::read(path).expect("read corpus file");
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs panicked:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
    eprintln!("{target}: replayed {} inputs", entries.len());
}
