//! Fuzz target `attested_query`: a request and records through the attested-query extension.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::attested_query(data));
