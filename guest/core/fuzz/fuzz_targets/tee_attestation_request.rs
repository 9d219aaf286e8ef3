//! Fuzz target `tee_attestation_request`: ops::info::decode_attestation_request (strict: whatever decodes is the canonical encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::tee_attestation_request(data));
