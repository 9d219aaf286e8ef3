//! Fuzz target `engine_action`: A ProxyMessage frame body whose every action runs through a Tee (attester::Simulated, fixed RNG,
//! trust root set first): the engine must never panic and must sign every result.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    harness::engine_action(data);
});
