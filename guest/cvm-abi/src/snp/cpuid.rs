//! The SNP CPUID page (SEV-SNP Firmware ABI, "CPUID Reporting"): at launch the VMM fills it with
//! the CPUID values it will present and the PSP checks them against what the hardware allows
//! (failing the launch otherwise), so the guest takes CPUID from here instead of asking the
//! hypervisor. Layout: `u32 count ‖ u32 reserved ‖ u64 reserved ‖ 64 × entry`, each entry
//! `u32 eax_in ‖ u32 ecx_in ‖ u64 xcr0_in ‖ u64 xss_in ‖ u32 eax ‖ u32 ebx ‖ u32 ecx ‖ u32 edx ‖
//! u64 reserved` (48 bytes).

use super::SnpError;

/// Entries a CPUID page holds.
pub const MAX_ENTRIES: usize = 64;
/// Bytes of one entry.
pub const ENTRY_LEN: usize = 48;
/// Bytes of the header.
pub const HEADER_LEN: usize = 16;
/// Bytes of the table.
pub const TABLE_LEN: usize = HEADER_LEN + MAX_ENTRIES * ENTRY_LEN;

/// One CPUID answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cpuid {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Leaves whose answer depends on ECX (the sub-leaf); for all others ECX is ignored.
const SUBLEAF_LEAVES: [u32; 7] = [0x4, 0x7, 0xb, 0xd, 0xf, 0x10, 0x8000_001d];

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A checked view of the page.
#[derive(Debug, Clone, Copy)]
pub struct CpuidPage<'a> {
    entries: &'a [u8],
}

impl<'a> CpuidPage<'a> {
    /// Reads the table at the start of `page`.
    pub fn new(page: &'a [u8]) -> Result<Self, SnpError> {
        if page.len() < TABLE_LEN {
            return Err(SnpError::CpuidPage);
        }
        let count = u32_at(page, 0) as usize;
        if count == 0 || count > MAX_ENTRIES {
            return Err(SnpError::CpuidPage);
        }
        Ok(Self { entries: &page[HEADER_LEN..HEADER_LEN + count * ENTRY_LEN] })
    }

    /// The answer for `leaf` / `subleaf`, if the page has it.
    pub fn get(&self, leaf: u32, subleaf: u32) -> Option<Cpuid> {
        let by_subleaf = SUBLEAF_LEAVES.contains(&leaf);
        self.entries.chunks_exact(ENTRY_LEN).find_map(|e| {
            let matches = u32_at(e, 0) == leaf && (!by_subleaf || u32_at(e, 4) == subleaf);
            matches.then(|| Cpuid { eax: u32_at(e, 24), ebx: u32_at(e, 28), ecx: u32_at(e, 32), edx: u32_at(e, 36) })
        })
    }

    /// Like [`Self::get`], an error naming the leaf when it is missing.
    pub fn require(&self, leaf: u32, subleaf: u32) -> Result<Cpuid, SnpError> {
        self.get(leaf, subleaf).ok_or(SnpError::CpuidLeafMissing(leaf))
    }

    /// The C-bit position (Fn8000_001F EBX[5:0]), checked to be plausible.
    pub fn cbit(&self) -> Result<u8, SnpError> {
        let leaf = self.require(super::CPUID_SEV_LEAF, 0)?;
        super::check_cbit(super::cbit_from_ebx(leaf.ebx), None)
    }
    /// What the guest's CPUID instruction returns under SNP: the page's answer, or all zeros for
    /// a leaf it does not hold (never the hypervisor's word). Bits that mirror guest control
    /// registers this kernel never sets are cleared: OSXSAVE (Fn1 ECX[27], CR4.OSXSAVE) and
    /// OSPKE (Fn7 ECX[4], CR4.PKE).
    pub fn emulate(&self, leaf: u32, subleaf: u32) -> Cpuid {
        let mut c = self.get(leaf, subleaf).unwrap_or_default();
        match leaf {
            0x1 => c.ecx &= !(1 << 27),
            0x7 => c.ecx &= !(1 << 4),
            _ => {}
        }
        c
    }
}

/// Writes a page holding `entries` (for tests and the host's tools): `(leaf, subleaf, answer)`.
pub fn encode(entries: &[(u32, u32, Cpuid)], page: &mut [u8]) {
    assert!(entries.len() <= MAX_ENTRIES && page.len() >= TABLE_LEN);
    page[..TABLE_LEN].fill(0);
    page[..4].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    for (i, (leaf, sub, c)) in entries.iter().enumerate() {
        let e = &mut page[HEADER_LEN + i * ENTRY_LEN..HEADER_LEN + (i + 1) * ENTRY_LEN];
        e[0..4].copy_from_slice(&leaf.to_le_bytes());
        e[4..8].copy_from_slice(&sub.to_le_bytes());
        for (at, v) in [(24, c.eax), (28, c.ebx), (32, c.ecx), (36, c.edx)] {
            e[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_cbit() {
        let mut page = [0u8; 4096];
        let sev = Cpuid { eax: 0x1_007f, ebx: 0x4173, ecx: 0, edx: 0 };
        let ext0 = Cpuid { eax: 0x7, ebx: 1, ecx: 2, edx: 3 };
        let ext1 = Cpuid { eax: 0x8, ..ext0 };
        encode(&[(0x8000_001f, 0, sev), (0x7, 0, ext0), (0x7, 1, ext1), (0x1, 5, ext0)], &mut page);
        let p = CpuidPage::new(&page).unwrap();
        assert_eq!(p.get(0x8000_001f, 9), Some(sev), "ECX is ignored for leaves without sub-leaves");
        assert_eq!(p.get(0x7, 1), Some(ext1));
        assert_eq!(p.get(0x7, 2), None);
        assert_eq!(p.get(0x1, 0), Some(ext0));
        assert_eq!(p.require(0xd, 0), Err(SnpError::CpuidLeafMissing(0xd)));
        assert_eq!(p.cbit(), Ok(51));

        encode(&[(0x8000_001f, 0, Cpuid { ebx: 0x4100 | 20, ..sev })], &mut page);
        assert_eq!(CpuidPage::new(&page).unwrap().cbit(), Err(SnpError::ImplausibleCbit(20)));
        encode(&[(0x1, 0, ext0)], &mut page);
        assert_eq!(CpuidPage::new(&page).unwrap().cbit(), Err(SnpError::CpuidLeafMissing(0x8000_001f)));
    }

    #[test]
    fn emulation() {
        let mut page = [0u8; 4096];
        let f1 = Cpuid { eax: 0xa00f11, ebx: 0x0800, ecx: 0xf6f8_3203 | 1 << 27, edx: 0x178b_fbff };
        let f7 = Cpuid { eax: 0, ebx: 0x219c_97a9, ecx: 0x0040_068c | 1 << 4, edx: 0x10 };
        encode(&[(0x1, 0, f1), (0x7, 0, f7)], &mut page);
        let p = CpuidPage::new(&page).unwrap();
        assert_eq!(p.emulate(0x1, 0), Cpuid { ecx: 0xf6f8_3203, ..f1 });
        assert_eq!(p.emulate(0x7, 0), Cpuid { ecx: 0x0040_068c, ..f7 });
        assert_eq!(p.emulate(0x4000_0000, 0), Cpuid::default(), "absent leaves are zeros");
        assert_eq!(p.emulate(0x7, 1), Cpuid::default());
    }

    #[test]
    fn malformed_pages() {
        let mut page = [0u8; 4096];
        assert_eq!(CpuidPage::new(&page).unwrap_err(), SnpError::CpuidPage, "count 0");
        page[0] = 65;
        assert_eq!(CpuidPage::new(&page).unwrap_err(), SnpError::CpuidPage, "count 65");
        page[0] = 1;
        assert_eq!(CpuidPage::new(&page[..100]).unwrap_err(), SnpError::CpuidPage, "short");
    }
}
