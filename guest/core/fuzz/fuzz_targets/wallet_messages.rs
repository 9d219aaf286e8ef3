//! Fuzz target `wallet_messages`: the wallet decoders (ABI messages, backup JSON, key splits,
//! ECIES, path lists, key-backup heartbeat requests, XRPL addresses and payment messages) and
//! the restore of a fixed backup from hostile messages.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::wallet_messages(data));
