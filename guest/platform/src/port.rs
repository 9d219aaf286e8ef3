//! Port I/O as a capability: the console, the exit device and fw_cfg's callers reach a port
//! through a [`PortIo`] the platform layer hands out — direct `IN`/`OUT` on plain QEMU/KVM
//! ([`Native`]), the GHCB under SEV-SNP, TDG.VP.VMCALL under TDX — so the #VC/#VE handlers' own
//! diagnostics never raise a nested #VC/#VE, and no console code knows the platform.

use x86_64::instructions::port::Port;

/// A way to reach I/O ports. `size` is 1, 2 or 4 bytes.
pub trait PortIo: Sync {
    /// `IN`: the value read, or `None` if the route refused it.
    fn read(&self, port: u16, size: u8) -> Option<u32>;
    /// `OUT`: whether the route accepted it.
    fn write(&self, port: u16, size: u8, value: u32) -> bool;
}

/// Direct `IN`/`OUT` instructions (plain QEMU/KVM, where the hypervisor emulates the port).
#[derive(Debug, Clone, Copy)]
pub struct Native;

impl PortIo for Native {
    fn read(&self, port: u16, size: u8) -> Option<u32> {
        // SAFETY: reading an I/O port touches no memory. The callers' ports are QEMU's COM1,
        // isa-debug-exit, fw_cfg and the PIT, whose reads have no effect on guest memory.
        unsafe {
            match size {
                1 => Some(u32::from(Port::<u8>::new(port).read())),
                2 => Some(u32::from(Port::<u16>::new(port).read())),
                4 => Some(Port::<u32>::new(port).read()),
                _ => None,
            }
        }
    }

    fn write(&self, port: u16, size: u8, value: u32) -> bool {
        // SAFETY: as in `read`: writing these devices' ports changes no guest memory (the exit
        // device ends the VM, which is the point).
        unsafe {
            match size {
                1 => Port::<u8>::new(port).write(value as u8),
                2 => Port::<u16>::new(port).write(value as u16),
                4 => Port::<u32>::new(port).write(value),
                _ => return false,
            }
        }
        true
    }
}
