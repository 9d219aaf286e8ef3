//! Fuzz target `event_log`: the firmware event log reader and RTMR replay of `fcc-cvm-abi`
//! (`eventlog`), and the GPT event reader; whatever reads is accounted for byte by byte.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../../cvm-abi/tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::event_log(data));
