//! Fuzz target `abi_reader`: abi::Reader over hostile data, and encode_tuple read back by Reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::abi_reader(data));
