//! Fuzz target `session_stream`: a proxy byte stream through session::Session, as the guest kernel
//! feeds it; every frame the guest queues must be well-formed and every result signed by the TEE.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    harness::session_stream(data);
});
