//! Intel TDX: what the guest asks the TDX module (TDCALL leaves, Intel TDX Module ABI) and the
//! host (TDVMCALL sub-functions, Intel GHCI), and the structures it gets back.
//!
//! TDCALL takes the leaf in RAX and returns a completion status in RAX (0 = success; bits 63:32
//! the class). TDG.VP.VMCALL passes a register bitmap in RCX, the sub-function in R11, and the
//! host's status in R10.

/// TDCALL leaves.
pub mod leaf {
    /// TDG.VP.VMCALL: call the host.
    pub const VP_VMCALL: u64 = 0;
    /// TDG.VP.INFO: the TD's execution environment.
    pub const VP_INFO: u64 = 1;
    /// TDG.MR.RTMR.EXTEND: extend a runtime measurement register.
    pub const MR_RTMR_EXTEND: u64 = 2;
    /// TDG.VP.VEINFO.GET: the current #VE's information.
    pub const VP_VEINFO_GET: u64 = 3;
    /// TDG.MR.REPORT: a TDREPORT with the given REPORTDATA.
    pub const MR_REPORT: u64 = 4;
    /// TDG.MEM.PAGE.ACCEPT: accept a pending private page.
    pub const MEM_PAGE_ACCEPT: u64 = 6;
}

/// TDG.VP.VMCALL sub-functions (R11), GHCI.
pub mod vmcall {
    /// MapGPA: convert a range between private and shared.
    pub const MAP_GPA: u64 = 0x10001;
    /// GetQuote: ask the host's quoting service to turn a TDREPORT into a quote.
    pub const GET_QUOTE: u64 = 0x10002;
    /// SetupEventNotifyInterrupt.
    pub const SETUP_EVENT_NOTIFY: u64 = 0x10004;
    /// TDVMCALL status: success.
    pub const SUCCESS: u64 = 0;
    /// TDVMCALL status: retry (MapGPA partially done; R11 holds where to resume).
    pub const RETRY: u64 = 1;
}

/// TDCALL completion status classes worth telling apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TdcallError {
    /// The operand is busy: try again.
    Busy(u64),
    /// The page was already accepted (harmless for PAGE.ACCEPT when re-run).
    AlreadyAccepted,
    /// Anything else: the class and details.
    Other(u64),
}

/// TDX_OPERAND_BUSY (class 0x8000_0200).
const OPERAND_BUSY: u64 = 0x8000_0200;
/// TDX_PAGE_ALREADY_ACCEPTED (class 0x0000_0B0A).
const PAGE_ALREADY_ACCEPTED: u64 = 0x0000_0B0A;

/// Interprets a TDCALL's RAX.
pub fn status(rax: u64) -> Result<(), TdcallError> {
    match rax >> 32 {
        0 if rax == 0 => Ok(()),
        OPERAND_BUSY => Err(TdcallError::Busy(rax)),
        PAGE_ALREADY_ACCEPTED => Err(TdcallError::AlreadyAccepted),
        _ => Err(TdcallError::Other(rax)),
    }
}

/// TDG.MEM.PAGE.ACCEPT's RCX: the GPA with the page level in bits 2:0 (0 = 4 KiB, 1 = 2 MiB).
pub const fn accept_operand(gpa: u64, level_2m: bool) -> u64 {
    (gpa & !0xfff) | level_2m as u64
}

/// What TDG.VP.INFO returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpInfo {
    /// GPA width (RCX[5:0]): the shared bit is bit `gpaw - 1`.
    pub gpaw: u8,
    /// TD attributes (RDX).
    pub attributes: u64,
    /// Number of vCPUs (R8[31:0]).
    pub num_vcpus: u32,
    /// Maximum vCPUs (R8[63:32]).
    pub max_vcpus: u32,
}

impl VpInfo {
    /// From the registers RCX, RDX, R8.
    pub fn from_regs(rcx: u64, rdx: u64, r8: u64) -> Self {
        Self { gpaw: (rcx & 0x3f) as u8, attributes: rdx, num_vcpus: r8 as u32, max_vcpus: (r8 >> 32) as u32 }
    }

    /// The shared-GPA bit (GPAW 48 → bit 47, GPAW 52 → bit 51), or `None` for a width the
    /// module does not use.
    pub fn shared_bit(&self) -> Option<u64> {
        matches!(self.gpaw, 48 | 52).then(|| 1u64 << (self.gpaw - 1))
    }

    /// TD attribute bit 0: DEBUG — the host can read the TD's state.
    pub fn debug(&self) -> bool {
        self.attributes & 1 != 0
    }
}

/// TDREPORT_STRUCT: `REPORTMACSTRUCT (256) ‖ TEE_TCB_INFO (239) ‖ reserved (17) ‖ TDINFO (512)`.
pub const TDREPORT_LEN: usize = 1024;
/// REPORTDATA in REPORTMACSTRUCT.
pub const TDREPORT_REPORTDATA: usize = 128;
/// TDINFO's offset in TDREPORT.
pub const TDREPORT_TDINFO: usize = 512;
/// MRTD within TDINFO (after ATTRIBUTES and XFAM).
pub const TDINFO_MRTD: usize = 16;
/// RTMR0 within TDINFO (after MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG).
pub const TDINFO_RTMR0: usize = 16 + 4 * 48;

/// The fields the guest and its verifier read from a TDREPORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TdReport<'a> {
    bytes: &'a [u8],
}

impl<'a> TdReport<'a> {
    /// A view of a 1024-byte TDREPORT.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() == TDREPORT_LEN).then_some(Self { bytes })
    }
    /// REPORTDATA.
    pub fn report_data(&self) -> &'a [u8] {
        &self.bytes[TDREPORT_REPORTDATA..TDREPORT_REPORTDATA + 64]
    }
    /// TD attributes.
    pub fn attributes(&self) -> u64 {
        u64::from_le_bytes(self.bytes[TDREPORT_TDINFO..TDREPORT_TDINFO + 8].try_into().expect("8 bytes"))
    }
    /// MRTD.
    pub fn mrtd(&self) -> &'a [u8] {
        &self.bytes[TDREPORT_TDINFO + TDINFO_MRTD..TDREPORT_TDINFO + TDINFO_MRTD + 48]
    }
    /// RTMR `i` (0..4).
    pub fn rtmr(&self, i: usize) -> &'a [u8] {
        let at = TDREPORT_TDINFO + TDINFO_RTMR0 + 48 * i;
        &self.bytes[at..at + 48]
    }
}

/// The GetQuote shared buffer (GHCI): `u64 version (1) ‖ u64 status ‖ u32 in_len ‖ u32 out_len ‖
/// data`. The guest writes the TDREPORT as data with status 0; the host writes the quote back
/// and sets status.
pub mod quote_buffer {
    /// Header bytes.
    pub const HEADER_LEN: usize = 24;
    /// Status: success.
    pub const SUCCESS: u64 = 0;
    /// Status: still in flight.
    pub const IN_FLIGHT: u64 = 0xffff_ffff_ffff_ffff;

    /// Writes a request for `report` into `buf`; returns its length.
    pub fn request(report: &[u8], buf: &mut [u8]) -> Option<usize> {
        let len = HEADER_LEN + report.len();
        if buf.len() < len {
            return None;
        }
        buf[..HEADER_LEN].fill(0);
        buf[0..8].copy_from_slice(&1u64.to_le_bytes());
        buf[16..20].copy_from_slice(&(report.len() as u32).to_le_bytes());
        buf[HEADER_LEN..len].copy_from_slice(report);
        Some(len)
    }

    /// The host's answer: `Ok(None)` while in flight, the quote when done, `Err(status)` on a
    /// failure or an answer that does not fit the buffer.
    pub fn response(buf: &[u8]) -> Result<Option<&[u8]>, u64> {
        if buf.len() < HEADER_LEN {
            return Err(u64::MAX - 1);
        }
        let status = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
        let out_len = u32::from_le_bytes(buf[20..24].try_into().expect("4 bytes")) as usize;
        match status {
            IN_FLIGHT => Ok(None),
            SUCCESS if HEADER_LEN + out_len <= buf.len() && out_len > 0 => {
                Ok(Some(&buf[HEADER_LEN..HEADER_LEN + out_len]))
            }
            SUCCESS => Err(SUCCESS),
            other => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status(0), Ok(()));
        assert_eq!(status(0x8000_0200_0000_0000), Err(TdcallError::Busy(0x8000_0200_0000_0000)));
        assert_eq!(status(0x0000_0B0A_0000_0000), Err(TdcallError::AlreadyAccepted));
        assert_eq!(status(0xC000_0100_0000_0000), Err(TdcallError::Other(0xC000_0100_0000_0000)));
        assert_eq!(accept_operand(0x1234_5678, false), 0x1234_5000);
        assert_eq!(accept_operand(0x20_0000, true), 0x20_0001);
    }

    #[test]
    fn vp_info() {
        let i = VpInfo::from_regs(52, 0x1000_0000, 4 | 8 << 32);
        assert_eq!(i.shared_bit(), Some(1 << 51));
        assert_eq!((i.num_vcpus, i.max_vcpus), (4, 8));
        assert!(!i.debug());
        assert_eq!(VpInfo::from_regs(48, 1, 0).shared_bit(), Some(1 << 47));
        assert!(VpInfo::from_regs(48, 1, 0).debug());
        assert_eq!(VpInfo::from_regs(40, 0, 0).shared_bit(), None);
    }

    #[test]
    fn report_fields() {
        let mut r = [0u8; TDREPORT_LEN];
        r[TDREPORT_REPORTDATA] = 0xaa;
        r[TDREPORT_TDINFO] = 1;
        r[TDREPORT_TDINFO + TDINFO_MRTD] = 0xbb;
        r[TDREPORT_TDINFO + TDINFO_RTMR0 + 48 * 2] = 0xcc;
        let t = TdReport::new(&r).unwrap();
        assert_eq!((t.report_data()[0], t.attributes(), t.mrtd()[0], t.rtmr(2)[0]), (0xaa, 1, 0xbb, 0xcc));
        assert!(TdReport::new(&r[..1000]).is_none());
    }

    #[test]
    fn quote_buffer_round_trip() {
        let mut buf = [0u8; 4096];
        let n = quote_buffer::request(&[7u8; TDREPORT_LEN], &mut buf).unwrap();
        assert_eq!(n, 24 + 1024);
        assert_eq!(&buf[..24], &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0]);
        assert_eq!(quote_buffer::response(&buf), Err(0), "success without a quote");
        buf[8..16].copy_from_slice(&quote_buffer::IN_FLIGHT.to_le_bytes());
        assert_eq!(quote_buffer::response(&buf), Ok(None));
        buf[8..16].fill(0);
        buf[20..24].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(quote_buffer::response(&buf).unwrap().unwrap().len(), 100);
        buf[20..24].copy_from_slice(&5000u32.to_le_bytes());
        assert!(quote_buffer::response(&buf).is_err(), "longer than the buffer");
        buf[8..16].copy_from_slice(&0x8000_0000_0000_0000u64.to_le_bytes());
        assert_eq!(quote_buffer::response(&buf), Err(0x8000_0000_0000_0000));
        assert!(quote_buffer::request(&[0; 100], &mut [0; 50]).is_none());
    }
}
