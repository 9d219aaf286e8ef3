//! Everything these decoders read comes from the host: random input never panics, never reads
//! out of bounds, and never yields an accepted message without the key.

use fcc_cvm_abi::snp::cpuid::{self, CpuidPage};
use fcc_cvm_abi::snp::ghcb::{self, Ghcb};
use fcc_cvm_abi::snp::msg::{self, Channel, MsgType};
use fcc_cvm_abi::snp::{msr, psc, vc};
use fcc_cvm_abi::tdx::{self, TdReport, quote_buffer};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn cpuid_pages(page in proptest::collection::vec(any::<u8>(), 0..cpuid::TABLE_LEN + 64), leaf: u32, sub: u32) {
        if let Ok(p) = CpuidPage::new(&page) {
            let _ = p.get(leaf, sub);
            if let Ok(c) = p.cbit() {
                prop_assert!(fcc_cvm_abi::snp::CBIT_RANGE.contains(&c));
            }
        }
    }

    #[test]
    fn msr_answers(value: u64, gfn in 0u64..1 << 40) {
        let _ = msr::sev_info_response(value);
        let _ = msr::cpuid_response(value);
        let _ = msr::psc_response(value);
        let _ = msr::hv_features_response(value);
        if msr::register_ghcb_response(value, gfn).is_ok() {
            prop_assert_eq!(value, msr::register_ghcb_request(gfn) + 1);
        }
    }

    #[test]
    fn psc_progress(
        mut header in proptest::collection::vec(any::<u8>(), 4..16),
        end: u16,
        sent: u16,
        same_end: bool,
        info in prop_oneof![Just((0u64, 0u64)), any::<(u64, u64)>()],
    ) {
        if same_end {
            header[2..4].copy_from_slice(&end.to_le_bytes());
        }
        let cur = u16::from_le_bytes([header[0], header[1]]);
        match psc::answer(info.0, info.1, &header, sent, end) {
            Ok(psc::Progress::Done) => prop_assert!(info == (0, 0) && cur > end),
            Ok(psc::Progress::Resume(next)) => prop_assert!(info == (0, 0) && next == cur && sent < cur && cur <= end),
            Err(_) => {}
        }
    }

    #[test]
    fn vc_decoding(code in prop_oneof![Just(0x72u64), Just(0x7b), Just(0x7c), any::<u64>()],
                   bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
        if let Ok(d) = vc::decode(code, &bytes) {
            prop_assert!(d.len >= 1 && d.len <= bytes.len());
        }
    }

    #[test]
    fn ghcb_pages(page in proptest::collection::vec(any::<u8>(), 4096)) {
        let g = Ghcb::from_bytes(&page.try_into().unwrap());
        let _ = ghcb::result(&g);
        let _ = g.get(ghcb::offset::RAX);
        let _ = ghcb::guest_request_status(g.exit_info_2());
    }

    /// A host without the key cannot produce an accepted response: random bytes, or the real
    /// header with a random body, are refused and the key is wiped.
    #[test]
    fn guest_messages_without_the_key(body in proptest::collection::vec(any::<u8>(), 0..600), seqno_byte: u8) {
        let mut ch = Channel::new([7; 32], 0, 0);
        let mut out = [0u8; 4096];
        let (_, seqno) = ch.seal(MsgType::ReportReq, &msg::report_request(&[1; 64], 0), &mut out).unwrap();
        let mut rsp = out[..msg::HEADER_LEN].to_vec();
        rsp[0x20] = seqno_byte;
        rsp[0x34] = MsgType::ReportRsp as u8;
        rsp[0x36..0x38].copy_from_slice(&(body.len() as u16).to_le_bytes());
        rsp.extend_from_slice(&body);
        prop_assert!(ch.open(MsgType::ReportReq, seqno, &mut rsp).is_err());
        prop_assert!(ch.is_wiped());
        let _ = msg::report_response(&body);
        let _ = msg::key_response(&body);
    }

    #[test]
    fn tdx_buffers(buf in proptest::collection::vec(any::<u8>(), 0..2048), data_byte: u8) {
        let data = [data_byte; 64];
        if let Ok(Some(q)) = quote_buffer::response(&buf, &data) {
            prop_assert!(q.len() + quote_buffer::HEADER_LEN <= buf.len());
            let view = tdx::quote::Quote::new_checked(q).unwrap();
            prop_assert_eq!(view.report_data(), &data);
        }
        if let Some(r) = TdReport::new(&buf) {
            let _ = (r.mrtd(), r.report_data(), r.rtmr(3), r.attributes());
        }
        let _ = tdx::status(u64::from_le_bytes(buf.get(..8).map_or([0; 8], |b| b.try_into().unwrap())));
    }
}
