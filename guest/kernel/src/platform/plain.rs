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
