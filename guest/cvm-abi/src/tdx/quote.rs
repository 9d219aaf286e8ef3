//! The TDX quote as the quoting service returns it (Intel TDX DCAP Quote Generation Library and
//! Quote Verification Library, quote format v4 and v5): the one definition of the header and TD
//! report body offsets, for `fcc-attest` (before `dcap-qvl` verifies the whole quote) and
//! `fcc-image verify` (which matches MRTD with a ROM). A zero-copy view in smoltcp's style:
//! [`Quote::new_checked`] checks the header, version, TEE type and length once; the accessors
//! cannot fail afterwards. The signature data after the body is `dcap-qvl`'s business.
//!
//! ```text
//! header (48) = u16 version ‖ u16 attestation key type ‖ u32 TEE type (0x81: TDX) ‖ …
//! v4: header ‖ TD report body (584)
//! v5: header ‖ u16 body type (2: TD 1.0, 3: TD 1.5) ‖ u32 body size ‖ body
//! body: TEE_TCB_SVN 16 ‖ MRSEAM 48 ‖ MRSIGNERSEAM 48 ‖ SEAMATTRIBUTES 8 ‖ TDATTRIBUTES 8 ‖
//!       XFAM 8 ‖ MRTD 48 ‖ MRCONFIGID 48 ‖ MROWNER 48 ‖ MROWNERCONFIG 48 ‖ RTMR0..3 4×48 ‖
//!       REPORTDATA 64 [‖ TEE_TCB_SVN2 16 ‖ MRSERVICETD 48 for TD 1.5]
//! ```

/// Bytes of the quote header.
pub const HEADER_LEN: usize = 48;
/// The header's TEE type for TDX.
pub const TEE_TYPE_TDX: u32 = 0x81;
/// Bytes of a TD 1.0 report body (the fields read here all lie in it).
pub const BODY_LEN: usize = 584;
/// v5: the body type and size between header and body.
pub const V5_BODY_DESCRIPTOR_LEN: usize = 6;
/// TD attribute bit 0: DEBUG (the host may read and change TD memory).
pub const TD_ATTRIBUTES_DEBUG: u64 = 1;

/// Offsets in the TD report body.
pub mod body {
    use core::ops::Range;

    /// TEE_TCB_SVN.
    pub const TEE_TCB_SVN: Range<usize> = 0..16;
    /// TDATTRIBUTES (u64).
    pub const TD_ATTRIBUTES: Range<usize> = 120..128;
    /// MRTD.
    pub const MRTD: Range<usize> = 136..184;
    /// RTMR0; RTMR `i` is 48 · `i` further.
    pub const RTMR0: Range<usize> = 328..376;
    /// REPORTDATA.
    pub const REPORT_DATA: Range<usize> = 520..584;
}

/// Why bytes are not a TDX quote this view reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteError {
    /// Shorter than its header and body.
    Truncated(usize),
    /// The header's TEE type is not TDX.
    NotTdx(u32),
    /// A version other than 4 or 5.
    Version(u16),
    /// A v5 body type other than a TD report (2 or 3).
    BodyType(u16),
}

/// A view of a TDX quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote<T: AsRef<[u8]>> {
    buffer: T,
    body: usize,
}

impl<T: AsRef<[u8]>> Quote<T> {
    /// `buffer` as a TDX quote: header, version 4 or 5, TEE type TDX, a TD report body.
    pub fn new_checked(buffer: T) -> Result<Self, QuoteError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN + V5_BODY_DESCRIPTOR_LEN {
            return Err(QuoteError::Truncated(b.len()));
        }
        let version = u16::from_le_bytes([b[0], b[1]]);
        let tee_type = u32::from_le_bytes(b[4..8].try_into().expect("4 bytes"));
        if tee_type != TEE_TYPE_TDX {
            return Err(QuoteError::NotTdx(tee_type));
        }
        let body = match version {
            4 => HEADER_LEN,
            5 => {
                let body_type = u16::from_le_bytes([b[HEADER_LEN], b[HEADER_LEN + 1]]);
                if !matches!(body_type, 2 | 3) {
                    return Err(QuoteError::BodyType(body_type));
                }
                HEADER_LEN + V5_BODY_DESCRIPTOR_LEN
            }
            other => return Err(QuoteError::Version(other)),
        };
        if b.len() < body + BODY_LEN {
            return Err(QuoteError::Truncated(b.len()));
        }
        Ok(Self { buffer, body })
    }

    fn field(&self, r: core::ops::Range<usize>) -> &[u8] {
        &self.buffer.as_ref()[self.body + r.start..self.body + r.end]
    }

    /// Quote format version (4 or 5).
    pub fn version(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_le_bytes([b[0], b[1]])
    }

    /// TEE_TCB_SVN.
    pub fn tee_tcb_svn(&self) -> &[u8; 16] {
        self.field(body::TEE_TCB_SVN).try_into().expect("16 bytes")
    }

    /// TDATTRIBUTES.
    pub fn td_attributes(&self) -> u64 {
        u64::from_le_bytes(self.field(body::TD_ATTRIBUTES).try_into().expect("8 bytes"))
    }

    /// Whether the TD is debuggable.
    pub fn debug(&self) -> bool {
        self.td_attributes() & TD_ATTRIBUTES_DEBUG != 0
    }

    /// MRTD.
    pub fn mrtd(&self) -> &[u8; 48] {
        self.field(body::MRTD).try_into().expect("48 bytes")
    }

    /// RTMR `i` (0..4).
    pub fn rtmr(&self, i: usize) -> &[u8; 48] {
        assert!(i < 4, "TDX has four RTMRs");
        let start = body::RTMR0.start + 48 * i;
        self.field(start..start + 48).try_into().expect("48 bytes")
    }

    /// REPORTDATA.
    pub fn report_data(&self) -> &[u8; 64] {
        self.field(body::REPORT_DATA).try_into().expect("64 bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(version: u16) -> [u8; 700] {
        let mut q = [0xa5u8; 700];
        q[0..2].copy_from_slice(&version.to_le_bytes());
        q[4..8].copy_from_slice(&TEE_TYPE_TDX.to_le_bytes());
        let body = if version == 5 {
            q[48..50].copy_from_slice(&2u16.to_le_bytes());
            54
        } else {
            48
        };
        q[body + 120..body + 128].copy_from_slice(&1u64.to_le_bytes());
        q[body + 136..body + 184].fill(0x11);
        q[body + 328 + 2 * 48..body + 328 + 3 * 48].fill(0x22);
        q[body + 520..body + 584].fill(0x33);
        q
    }

    #[test]
    fn v4_and_v5_bodies_are_found_and_read() {
        for v in [4, 5] {
            let q = quote(v);
            let view = Quote::new_checked(&q[..]).unwrap();
            assert_eq!(view.version(), v);
            assert!(view.debug());
            assert_eq!((view.mrtd()[0], view.rtmr(2)[47], view.report_data()[63]), (0x11, 0x22, 0x33));
            assert_eq!(view.rtmr(1)[0], 0xa5);
        }
    }

    #[test]
    fn other_tees_versions_bodies_and_short_quotes_are_refused() {
        let mut q = quote(4);
        assert_eq!(Quote::new_checked(&q[..48 + 583]), Err(QuoteError::Truncated(631)));
        assert_eq!(Quote::new_checked(&q[..10]), Err(QuoteError::Truncated(10)));
        q[0] = 3;
        assert_eq!(Quote::new_checked(&q[..]), Err(QuoteError::Version(3)));
        q[4] = 0;
        assert_eq!(Quote::new_checked(&q[..]), Err(QuoteError::NotTdx(0)));
        let mut q = quote(5);
        q[48] = 1;
        assert_eq!(Quote::new_checked(&q[..]), Err(QuoteError::BodyType(1)));
    }
}
