//! Page-state-change requests through the GHCB page (GHCB specification, "SNP Page State
//! Change"): a header `u16 cur_entry ‖ u16 end_entry ‖ u32 reserved` and up to
//! [`MAX_ENTRIES`] entries, each a u64: bits 11:0 current page (the hypervisor's progress),
//! 51:12 GFN, 55:52 operation, 56 page size (0 = 4 KiB, 1 = 2 MiB).

pub use super::msr::PageState;

/// Entries one request holds (the GHCB shared buffer is 2032 bytes).
pub const MAX_ENTRIES: usize = 253;
/// Bytes of a request with `n` entries.
pub const fn len(n: usize) -> usize {
    8 + 8 * n
}

/// A page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    /// 4 KiB.
    Small,
    /// 2 MiB.
    Large,
}

/// One entry.
pub const fn entry(gfn: u64, state: PageState, size: PageSize) -> u64 {
    let large = match size {
        PageSize::Small => 0,
        PageSize::Large => 1,
    };
    (large << 56) | ((state as u64) << 52) | ((gfn & ((1 << 40) - 1)) << 12)
}

/// Writes a request covering `pages` 4 KiB pages from `first_gfn` into `buf`; returns the bytes
/// used. At most [`MAX_ENTRIES`] pages per request.
pub fn encode(first_gfn: u64, pages: usize, state: PageState, buf: &mut [u8]) -> Option<usize> {
    encode_sized(first_gfn, pages, state, PageSize::Small, buf)
}

/// Like [`encode`] for `pages` consecutive pages of `size` (a 2 MiB page's GFN must be 2 MiB
/// aligned, i.e. a multiple of 512).
pub fn encode_sized(first_gfn: u64, pages: usize, state: PageState, size: PageSize, buf: &mut [u8]) -> Option<usize> {
    let step = match size {
        PageSize::Small => 1,
        PageSize::Large => 512,
    };
    if pages == 0 || pages > MAX_ENTRIES || buf.len() < len(pages) || !first_gfn.is_multiple_of(step) {
        return None;
    }
    buf[0..2].copy_from_slice(&0u16.to_le_bytes());
    buf[2..4].copy_from_slice(&((pages - 1) as u16).to_le_bytes());
    buf[4..8].fill(0);
    for i in 0..pages {
        let e = entry(first_gfn + i as u64 * step, state, size);
        buf[8 + 8 * i..16 + 8 * i].copy_from_slice(&e.to_le_bytes());
    }
    Some(len(pages))
}

/// The header's `cur_entry`: the first entry the hypervisor has not processed yet.
pub fn cur_entry(buf: &[u8]) -> u16 {
    u16::from_le_bytes([buf[0], buf[1]])
}

/// Sets `cur_entry` (to resend a request from where the hypervisor stopped).
pub fn set_cur_entry(buf: &mut [u8], cur: u16) {
    buf[0..2].copy_from_slice(&cur.to_le_bytes());
}

/// After the hypervisor's answer: whether every entry was processed (`cur_entry > end_entry`);
/// the guest repeats the request otherwise, and must not trust a header that went backwards.
pub fn done(buf: &[u8], sent_end: u16) -> Result<bool, super::SnpError> {
    let cur = u16::from_le_bytes([buf[0], buf[1]]);
    let end = u16::from_le_bytes([buf[2], buf[3]]);
    if end != sent_end || u32::from(cur) > u32::from(end) + 1 {
        return Err(super::SnpError::PageStateChange(u32::from(cur) << 16 | u32::from(end)));
    }
    Ok(cur > end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        assert_eq!(entry(0x12345, PageState::Shared, PageSize::Small), 0x0020_0000_1234_5000);
        assert_eq!(entry(0x12345, PageState::Private, PageSize::Large), 0x0110_0000_1234_5000);
        let mut buf = [0xffu8; 64];
        assert_eq!(encode(0x100, 3, PageState::Shared, &mut buf), Some(32));
        assert_eq!(&buf[..8], &[0, 0, 2, 0, 0, 0, 0, 0]);
        assert_eq!(u64::from_le_bytes(buf[16..24].try_into().unwrap()), 0x0020_0000_0010_1000);
        assert_eq!(encode(0, 0, PageState::Shared, &mut buf), None);
        assert_eq!(encode(0, 254, PageState::Shared, &mut [0; 4096]), None);
        assert_eq!(encode(0, 8, PageState::Shared, &mut buf), None, "buffer too small");
    }

    #[test]
    fn large_pages() {
        let mut buf = [0u8; 64];
        assert_eq!(encode_sized(0x200, 2, PageState::Private, PageSize::Large, &mut buf), Some(24));
        assert_eq!(u64::from_le_bytes(buf[8..16].try_into().unwrap()), 0x0110_0000_0020_0000);
        assert_eq!(u64::from_le_bytes(buf[16..24].try_into().unwrap()), 0x0110_0000_0040_0000);
        assert_eq!(encode_sized(0x201, 1, PageState::Private, PageSize::Large, &mut buf), None, "unaligned");
        set_cur_entry(&mut buf, 1);
        assert_eq!(cur_entry(&buf), 1);
        assert_eq!(done(&buf, 1), Ok(false));
    }

    #[test]
    fn progress() {
        let mut buf = [0u8; 32];
        encode(0x100, 3, PageState::Shared, &mut buf).unwrap();
        assert_eq!(done(&buf, 2), Ok(false));
        buf[0] = 3;
        assert_eq!(done(&buf, 2), Ok(true));
        buf[0] = 9;
        assert!(done(&buf, 2).is_err(), "beyond the end");
        buf[0] = 1;
        buf[2] = 1;
        assert!(done(&buf, 2).is_err(), "end_entry changed");
        // No overflow at the top of the range.
        assert_eq!(done(&[0, 0, 0xff, 0xff], u16::MAX), Ok(false));
    }
}
