//! Fuzz target `fdc2_request`: ops::fdc2::decode_request (strict: whatever decodes is the canonical encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::fdc2_request(data));
