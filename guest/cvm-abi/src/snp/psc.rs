//! Page-state-change requests through the GHCB page (GHCB specification, "SNP Page State
//! Change"): a header `u16 cur_entry ‖ u16 end_entry ‖ u32 reserved` and up to
//! [`MAX_ENTRIES`] entries, each a u64: bits 11:0 current page (the hypervisor's progress),
//! 51:12 GFN, 55:52 operation, 56 page size (0 = 4 KiB, 1 = 2 MiB).

/// The page state to change to (the same operation codes in the GHCB page's entries and in
/// the GHCB MSR protocol's request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Private (encrypted, guest-owned).
    Private = 1,
    /// Shared (unencrypted, host-visible).
    Shared = 2,
}

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

/// Why a page-state change through the GHCB page failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PscError {
    /// The request does not fit one GHCB (no pages, too many, or not aligned to the page size).
    Request,
    /// SW_EXITINFO1 is not 0: the exit itself failed (both exit infos, all 64 bits).
    Exit {
        /// SW_EXITINFO1.
        info1: u64,
        /// SW_EXITINFO2.
        info2: u64,
    },
    /// SW_EXITINFO2 is not 0: the hypervisor's status, all 64 bits (KVM: `0x100 << 32`
    /// generic failure, `1 << 32 | 1` bad header, `1 << 32 | 2` bad entry).
    Status(u64),
    /// The header came back with another `end_entry`, or `cur_entry` past it.
    Header {
        /// `cur_entry` as returned.
        cur: u16,
        /// `end_entry` as returned.
        end: u16,
    },
    /// `cur_entry` did not advance past where this round started. Every round must finish at
    /// least one entry (KVM answers only once all are done): the guest resends its own copy of
    /// the entries, so a hypervisor that stops inside an entry would start it over for ever.
    Stalled {
        /// `cur_entry` as returned.
        cur: u16,
        /// The request's `end_entry`.
        end: u16,
    },
}

/// What to do after the hypervisor answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Every entry was processed.
    Done,
    /// Send the request again from this `cur_entry`.
    Resume(u16),
}

/// Checks the hypervisor's answer to a page-state change sent with `cur_entry = sent_cur` and
/// `end_entry = sent_end`: both exit infos in full (a status truncated to 32 bits would read
/// KVM's generic failure `0x100 << 32` as success), then the returned header `buf`, which must
/// keep `end_entry` and move `cur_entry` forward without passing `end_entry + 1`.
pub fn answer(info1: u64, info2: u64, buf: &[u8], sent_cur: u16, sent_end: u16) -> Result<Progress, PscError> {
    if info1 != 0 {
        return Err(PscError::Exit { info1, info2 });
    }
    if info2 != 0 {
        return Err(PscError::Status(info2));
    }
    let cur = u16::from_le_bytes([buf[0], buf[1]]);
    let end = u16::from_le_bytes([buf[2], buf[3]]);
    if end != sent_end || u32::from(cur) > u32::from(end) + 1 {
        return Err(PscError::Header { cur, end });
    }
    if cur > end {
        Ok(Progress::Done)
    } else if cur > sent_cur {
        Ok(Progress::Resume(cur))
    } else {
        Err(PscError::Stalled { cur, end })
    }
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
        assert_eq!(answer(0, 0, &buf, 0, 1), Ok(Progress::Resume(1)));
    }

    #[test]
    fn progress() {
        let mut buf = [0u8; 32];
        encode(0x100, 3, PageState::Shared, &mut buf).unwrap();
        assert_eq!(answer(0, 0, &buf, 0, 2), Err(PscError::Stalled { cur: 0, end: 2 }));
        buf[0] = 1;
        assert_eq!(answer(0, 0, &buf, 0, 2), Ok(Progress::Resume(1)));
        assert_eq!(answer(0, 0, &buf, 1, 2), Err(PscError::Stalled { cur: 1, end: 2 }), "no progress");
        buf[0] = 3;
        assert_eq!(answer(0, 0, &buf, 1, 2), Ok(Progress::Done));
        buf[0] = 4;
        assert_eq!(answer(0, 0, &buf, 1, 2), Err(PscError::Header { cur: 4, end: 2 }), "beyond the end");
        buf[0] = 1;
        buf[2] = 1;
        assert_eq!(answer(0, 0, &buf, 0, 2), Err(PscError::Header { cur: 1, end: 1 }), "end_entry changed");
        // No overflow at the top of the range.
        assert_eq!(answer(0, 0, &[0, 0, 0xff, 0xff], 0, u16::MAX), Err(PscError::Stalled { cur: 0, end: u16::MAX }));
        assert_eq!(answer(0, 0, &[0, 0, 0xff, 0xff], 0, 0xfffe), Err(PscError::Header { cur: 0, end: 0xffff }));
    }

    #[test]
    fn every_bit_of_both_exit_infos_counts() {
        let mut buf = [0u8; 32];
        encode(0x100, 1, PageState::Private, &mut buf).unwrap();
        buf[0] = 1;
        assert_eq!(answer(0, 0, &buf, 0, 0), Ok(Progress::Done));
        // KVM's errors live in the high half of SW_EXITINFO2: a 32-bit status reads them as 0.
        for info2 in [0x100 << 32, 1 << 32 | 1, 1 << 32 | 2, 1 << 63, 1] {
            assert_eq!(answer(0, info2, &buf, 0, 0), Err(PscError::Status(info2)), "{info2:#x}");
        }
        for info1 in [1, 2, 1 << 32] {
            assert_eq!(answer(info1, 0, &buf, 0, 0), Err(PscError::Exit { info1, info2: 0 }), "{info1:#x}");
        }
    }
}
