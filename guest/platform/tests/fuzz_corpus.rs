//! Replays the committed fuzz corpus of `fcc-guest-platform`'s decoder (the settings file,
//! `guest/core/fuzz/corpus/settings_file/`) through the harness the cargo-fuzz target calls, on
//! the stable toolchain: every input a fuzzer kept stays a regression test.

#[path = "../../core/tests/corpus_replay/mod.rs"]
mod corpus_replay;
mod fuzz_harness;

#[test]
fn corpus_settings_file() {
    corpus_replay::replay("settings_file", fuzz_harness::settings_file);
}
