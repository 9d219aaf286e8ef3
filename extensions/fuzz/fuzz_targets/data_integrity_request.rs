//! Fuzz target `data_integrity_request`: the data-integrity request decoder (strict: whatever
//! decodes is the canonical encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::data_integrity_request(data));
