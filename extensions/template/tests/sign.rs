//! The template's operation through the real engine (`fcc_extension::testing`).

use fcc_ext_template::{DOMAIN, EXTENSION, SIGN};
use fcc_extension::testing::{Outcome, TestTee};

#[test]
fn the_policy_asks_and_the_tee_signs_under_the_extensions_domain() {
    let mut tee = TestTee::new(&[&EXTENSION]).unwrap();
    let digest = [0x42; 32];
    // Voters 0 and 1: 70 of 100.
    let action = tee.instruction(&SIGN, &digest, &[0, 1]);
    let Outcome::Output(out) = tee.run(&action, &[]) else { panic!("executed") };
    // abi.encode(bytes32 digest, bytes signature): the digest, the offset (64), the length (65),
    // the signature padded to 96 bytes.
    assert_eq!(out.len(), 192);
    assert_eq!(out[..32], digest);
    assert_eq!((out[63], out[95]), (64, 65));
    let signature: [u8; 65] = out[96..161].try_into().unwrap();
    assert_eq!(tee.signer_of(&DOMAIN, &digest, &signature), Some(tee.tee_id()));
}

#[test]
fn less_than_half_the_policy_is_refused_and_bad_input_fails() {
    let mut tee = TestTee::new(&[&EXTENSION]).unwrap();
    // Voter 0 alone: 40 of 100.
    let action = tee.instruction(&SIGN, &[0x42; 32], &[0]);
    assert!(matches!(tee.run(&action, &[]), Outcome::Refused(307, _)));
    let action = tee.instruction(&SIGN, &[0x42; 31], &[0, 1]);
    assert!(matches!(tee.run(&action, &[]), Outcome::Failed(406, log) if log.contains("abi.encode(bytes32 digest)")));
}
