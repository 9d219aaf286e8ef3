//! Fuzz target `frame_proxy`: FrameReader fed arbitrary chunks, then decode_body::<ProxyMessage> / ::<GuestMessage> + validate.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::frame_proxy(data));
