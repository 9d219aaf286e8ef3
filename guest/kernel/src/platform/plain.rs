//! Plain QEMU/KVM: no memory encryption and no hardware attestation. Ports are reached with
//! `IN`/`OUT`, the heap and the DMA region need no conversion, the PIT gives the TSC rate, and
//! evidence and sealing are the labelled simulations of `fcc_core` (anyone can read or forge
//! them; no production verifier accepts them).

/// Halts the boot CPU with interrupts disabled, for ever (also SEV-SNP's way: HLT is not
/// intercepted there).
pub fn halt() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// The ROM's SHA-384 as this guest reads it at [`fcc_layout::ROM_VIRT_BASE`]: the measurement a
/// plain guest reports (self-reported, like all of its evidence; reproducible/MEASUREMENTS.json
/// `rom.sha384` is the same hash of the image file).
pub fn rom_sha384() -> [u8; 48] {
    use sha2::Digest;
    // SAFETY: the ROM is mapped readable at ROM_VIRT_BASE for its whole ROM_SIZE (the kernel
    // runs from it, fcc-layout's high alias) and nothing writes it (QEMU maps it read-only).
    let rom = unsafe {
        core::slice::from_raw_parts(
            core::ptr::with_exposed_provenance::<u8>(fcc_layout::ROM_VIRT_BASE as usize),
            fcc_layout::ROM_SIZE as usize,
        )
    };
    sha2::Sha384::digest(rom).into()
}
