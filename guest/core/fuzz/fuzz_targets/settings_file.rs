//! Fuzz target `settings_file`: the UEFI edition's settings file (`fcc-guest-platform`'s
//! `config::SettingsFile`) and the values it gives, read as the guest reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../../platform/tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::settings_file(data));
