//! Replays the committed fuzz corpus of `fcc-cvm-abi`'s decoders
//! (`guest/core/fuzz/corpus/<target>/`) through the harness the cargo-fuzz targets call, on the
//! stable toolchain: every input a fuzzer kept stays a regression test.

#[path = "../../core/tests/corpus_replay/mod.rs"]
mod corpus_replay;
mod fuzz_harness;

use corpus_replay::replay;

#[test]
fn corpus_event_log() {
    replay("event_log", fuzz_harness::event_log);
}
