//! SEV-SNP guest messages against known-answer vectors computed by an independent AES-GCM
//! implementation (Python `cryptography`, `data/gen_guest_msg.py`): the exact request bytes the
//! guest sends, the responses it accepts, and every way a response is refused — each of which
//! wipes the key, so no IV is ever reused.

use fcc_cvm_abi::snp::msg::{self, Channel, MsgError, MsgType};

fn vectors() -> Vec<(String, Vec<u8>)> {
    include_str!("data/guest_msg_vectors.txt")
        .lines()
        .map(|l| {
            let (name, hex) = l.split_once(' ').unwrap();
            (name.to_string(), decode(hex))
        })
        .collect()
}

fn decode(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn get(name: &str) -> Vec<u8> {
    vectors().into_iter().find(|(n, _)| n == name).unwrap().1
}

fn channel() -> Channel {
    Channel::new(get("key").try_into().unwrap(), 0, 0)
}

fn report_data() -> [u8; 64] {
    core::array::from_fn(|i| i as u8)
}

#[test]
fn report_and_key_exchange_match_the_vectors() {
    let mut ch = channel();
    let mut out = [0u8; 4096];
    let (n, seqno) = ch.seal(MsgType::ReportReq, &msg::report_request(&report_data(), 0), &mut out).unwrap();
    assert_eq!(seqno, 1);
    assert_eq!(out[..n], get("report_request_seqno1")[..]);
    // A busy host gets the same bytes again; no second plaintext under sequence number 1.
    assert_eq!(ch.seal(MsgType::KeyReq, &msg::key_request(0, 0, 0, 0), &mut [0u8; 4096]), Err(MsgError::InFlight));

    let mut rsp = get("report_response_seqno2");
    let payload = ch.open(MsgType::ReportReq, 1, &mut rsp).unwrap();
    let report = msg::report_response(payload).unwrap();
    assert_eq!(report.len(), fcc_cvm_abi::snp::report::REPORT_LEN);
    assert!(report.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));

    let (n, seqno) = ch.seal(MsgType::KeyReq, &msg::key_request(0b1001, 0, 0, 0), &mut out).unwrap();
    assert_eq!(seqno, 3);
    assert_eq!(out[..n], get("key_request_seqno3")[..]);
    let mut rsp = get("key_response_seqno4");
    let key = msg::key_response(ch.open(MsgType::KeyReq, 3, &mut rsp).unwrap()).unwrap();
    assert_eq!(key, core::array::from_fn::<u8, 32, _>(|i| 0xA0 + i as u8));
    assert_eq!(ch.next_seqno(), Ok(5));
}

/// Opens `rsp` (after the first request was sealed) and returns the error; the key must be gone.
fn refused(rsp: &mut [u8], request: MsgType, seqno: u64) -> MsgError {
    let mut ch = channel();
    ch.seal(MsgType::ReportReq, &msg::report_request(&report_data(), 0), &mut [0u8; 4096]).unwrap();
    let err = ch.open(request, seqno, rsp).unwrap_err();
    assert!(ch.is_wiped(), "{err:?} must wipe the key");
    assert_eq!(ch.seal(MsgType::ReportReq, &[0; 96], &mut [0u8; 4096]), Err(MsgError::KeyWiped));
    err
}

#[test]
fn every_tampering_is_refused_and_wipes_the_key() {
    let good = get("report_response_seqno2");
    let cases: [(usize, MsgError); 5] = [
        (0x00, MsgError::Authentication), // tag
        (0x70, MsgError::Authentication), // ciphertext
        (0x3d, MsgError::Authentication), // reserved header byte inside the AAD
        (0x34, MsgError::Header(0x34)),   // message type
        (0x3c, MsgError::Header(0x3c)),   // VMPCK id
    ];
    for (at, want) in cases {
        let mut rsp = good.clone();
        rsp[at] ^= 1;
        assert_eq!(refused(&mut rsp, MsgType::ReportReq, 1), want, "byte {at:#x}");
    }
    // A replayed or reordered answer: sequence number other than request + 1.
    let mut rsp = get("key_response_seqno4");
    assert_eq!(refused(&mut rsp, MsgType::ReportReq, 1), MsgError::Header(0x20));
    // The answer to another request type.
    let mut rsp = good.clone();
    assert_eq!(refused(&mut rsp, MsgType::KeyReq, 1), MsgError::Header(0x34));
    // A length beyond the page.
    let mut rsp = good.clone();
    rsp[0x36..0x38].copy_from_slice(&4001u16.to_le_bytes());
    assert_eq!(refused(&mut rsp, MsgType::ReportReq, 1), MsgError::Truncated);
    let mut rsp = good[..0x50].to_vec();
    assert_eq!(refused(&mut rsp, MsgType::ReportReq, 1), MsgError::Truncated);
    // A response to a request that was never sent.
    let mut rsp = good.clone();
    assert_eq!(refused(&mut rsp, MsgType::ReportReq, 7), MsgError::Header(0x20));
}

#[test]
fn sequence_numbers_never_wrap() {
    let mut ch = Channel::new([1; 32], 0, u64::MAX - 2);
    assert_eq!(ch.next_seqno(), Ok(u64::MAX - 1));
    let mut abandoned = Channel::new([1; 32], 0, 0);
    abandoned.seal(MsgType::ReportReq, &[0; 96], &mut [0u8; 4096]).unwrap();
    abandoned.abandon();
    assert!(abandoned.is_wiped());
    let mut ch2 = Channel::new([1; 32], 0, u64::MAX - 1);
    assert_eq!(ch2.seal(MsgType::ReportReq, &[0; 96], &mut [0u8; 4096]), Err(MsgError::SeqnoExhausted));
    assert!(ch2.is_wiped());
    assert_eq!(ch.seal(MsgType::ReportReq, &[0; msg::MAX_PAYLOAD + 1], &mut [0u8; 8192]), Err(MsgError::TooLarge));
    assert!(ch.seal(MsgType::ReportReq, &[0; 96], &mut [0u8; 4096]).is_ok());
    assert!(format!("{ch:?}").contains("last_seqno") && !format!("{ch:?}").contains("key"));
}

#[test]
fn payload_parsers() {
    let mut rsp = [0u8; 0x20 + fcc_cvm_abi::snp::report::REPORT_LEN];
    rsp[4..8].copy_from_slice(&(fcc_cvm_abi::snp::report::REPORT_LEN as u32).to_le_bytes());
    assert_eq!(msg::report_response(&rsp).unwrap().len(), fcc_cvm_abi::snp::report::REPORT_LEN);
    rsp[0] = 0x16; // INVALID_PARAM
    assert_eq!(msg::report_response(&rsp), Err(MsgError::Status(0x16)));
    rsp[0] = 0;
    rsp[4..8].copy_from_slice(&100u32.to_le_bytes());
    assert_eq!(msg::report_response(&rsp), Err(MsgError::Truncated));
    assert_eq!(msg::report_response(&rsp[..10]), Err(MsgError::Truncated));
    assert_eq!(msg::key_response(&[0; 0x3f]), Err(MsgError::Truncated));
    let mut k = [0u8; 0x40];
    k[0] = 1;
    assert_eq!(msg::key_response(&k), Err(MsgError::Status(1)));
    let req = msg::key_request(msg::field::MEASUREMENT | msg::field::POLICY, 0, 3, 0x1234);
    assert_eq!(&req[8..16], &9u64.to_le_bytes());
    assert_eq!(&req[20..24], &3u32.to_le_bytes());
}
