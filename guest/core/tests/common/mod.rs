//! Shared fixtures of the host test suites: a deterministic RNG, a pool of provider keys held by
//! libsecp256k1 (the `secp256k1` crate), the Solidity structs of the Flare formats as alloy `sol!`
//! types, and reference computations of every hash done with alloy only.
//!
//! Nothing here calls into fcc-core's hashing or ABI code: expected values come from independent
//! implementations (alloy-primitives' keccak/EIP-191, alloy-sol-types' ABI coder, libsecp256k1).
#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::OnceLock;

use alloy_primitives::{Address, B256, FixedBytes, U256, eip191_hash_message, keccak256};
use alloy_sol_types::{SolValue, sol};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey as SecpPublicKey, SecretKey};

use fcc_core::instruction::InstructionData;

sol! {
    /// `TeeStructs.Instruction` (Flare's TEE contracts; go-flare-common `instruction.DataFixed`).
    #[derive(Debug, PartialEq, Eq)]
    struct Instruction {
        bytes32 instructionId;
        address teeId;
        uint64 timestamp;
        uint32 rewardEpochId;
        bytes32 opType;
        bytes32 opCommand;
        address[] cosigners;
        uint64 cosignersThreshold;
        bytes originalMessage;
        bytes additionalFixedMessage;
    }

    /// go-flare-common `signing.Payload`.
    #[derive(Debug, PartialEq, Eq)]
    struct Payload {
        bytes32 prefix;
        uint256 chainId;
        bytes32 dataHash;
    }

    /// flare-specs FDC2 types.
    #[derive(Debug, PartialEq, Eq)]
    struct Fdc2RequestHeader {
        bytes32 attestationType;
        bytes32 sourceId;
        uint16 thresholdBIPS;
        address proofOwner;
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Fdc2AttestationRequest {
        Fdc2RequestHeader header;
        bytes requestBody;
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Fdc2ResponseHeader {
        bytes32 attestationType;
        bytes32 sourceId;
        uint16 thresholdBIPS;
        address proofOwner;
        address[] cosigners;
        uint64 cosignersThreshold;
        uint64 timestamp;
    }

    /// The result data of `F_FDC2`/`PROVE`.
    #[derive(Debug, PartialEq, Eq)]
    struct ProveResponse {
        bytes responseHeader;
        bytes requestBody;
        bytes responseBody;
        bytes teeSignature;
    }

    /// Flare's `TeeState` inside `Attestation`.
    #[derive(Debug, PartialEq, Eq)]
    struct AbiTeeState {
        bytes systemState;
        bytes32 systemStateVersion;
        bytes state;
        bytes32 stateVersion;
    }

    /// `x ‖ y`.
    #[derive(Debug, PartialEq, Eq)]
    struct AbiPublicKey {
        bytes32 x;
        bytes32 y;
    }

    /// Flare's `Attestation` (go-flare-common `pkg/tee/structs/tee`, tee-node `TeeInfo.Hash`).
    #[derive(Debug, PartialEq, Eq)]
    struct Attestation {
        uint256 chainId;
        bytes32 challenge;
        AbiPublicKey publicKey;
        uint32 initialSigningPolicyId;
        bytes32 initialSigningPolicyHash;
        uint32 lastSigningPolicyId;
        bytes32 lastSigningPolicyHash;
        AbiTeeState state;
        uint64 teeTimestamp;
        uint256 machinePathListNonce;
        bytes32 machinePathListHash;
    }

    /// Flare's `IMachineManager.TeeMachineData`.
    #[derive(Debug, PartialEq, Eq)]
    struct TeeMachineData {
        uint256 extensionId;
        address initialOwner;
        bytes32 codeHash;
        bytes32 platform;
        AbiPublicKey publicKey;
        bytes32 governanceHash;
    }

    /// The result data of `F_GET`/`TEE_INFO` and `F_REG`/`TEE_ATTESTATION` (Flare's
    /// `TeeInfoResponse`).
    #[derive(Debug, PartialEq, Eq)]
    struct TeeInfo {
        Attestation teeInfo;
        TeeMachineData machineData;
        bytes dataSignature;
        bytes evidence;
    }

    /// Our `state` in the statement.
    #[derive(Debug, PartialEq, Eq)]
    struct FccStateAbi {
        bytes32 platform;
        bytes32 policyHashScheme;
        uint256 policyHashChainId;
        bytes version;
    }

    /// Flare's `TeeAttestation` request (the machine registry's `TEE_ATTESTATION` message).
    #[derive(Debug, PartialEq, Eq)]
    struct TeeMachineAbi {
        address teeId;
        address initialTeeId;
        string url;
        bytes32 codeHash;
        bytes32 platform;
    }

    /// `IVerification.TeeAttestation`.
    #[derive(Debug, PartialEq, Eq)]
    struct TeeAttestationRequest {
        TeeMachineAbi teeMachine;
        bytes32 challenge;
    }

    /// The result data of `F_POLICY` operations.
    #[derive(Debug, PartialEq, Eq)]
    struct PolicySummary {
        uint32 rewardEpochId;
        bytes32 policyHash;
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness.

/// splitmix64: a tiny deterministic generator for test data (and, wrapped, the TEE's entropy).
#[derive(Debug, Clone)]
pub struct TestRng(pub u64);

impl TestRng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }

    pub fn vec(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.fill(&mut out);
        out
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl rand_core::TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.next() as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for TestRng {}

// ---------------------------------------------------------------------------------------------
// Provider keys, held by libsecp256k1.

/// A simulated data provider or cosigner.
pub struct Signer {
    pub secret: SecretKey,
    /// Uncompressed public key without the 0x04 tag: `x ‖ y`.
    pub public: [u8; 64],
    pub address: [u8; 20],
}

impl Signer {
    pub fn from_secret(bytes: [u8; 32]) -> Self {
        let secret = SecretKey::from_secret_bytes(bytes).expect("valid secret");
        let public: [u8; 64] =
            SecpPublicKey::from_secret_key(&secret).serialize_uncompressed()[1..].try_into().unwrap();
        let address = Address::from_raw_public_key(&public).into_array();
        Self { secret, public, address }
    }

    /// The `i`-th key of the test pool: secret `keccak("fcc-core test key" ‖ u32 i)`.
    pub fn derive(i: u32) -> Self {
        let mut seed = b"fcc-core test key".to_vec();
        seed.extend_from_slice(&i.to_be_bytes());
        Self::from_secret(keccak256(&seed).0)
    }

    /// `r ‖ s ‖ v` over a 32-byte digest with v ∈ {0, 1} (libsecp256k1, RFC 6979, low S).
    pub fn sign(&self, digest: &[u8; 32]) -> [u8; 65] {
        let sig = RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(*digest), &self.secret);
        let (recid, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = recid.to_u8();
        assert!(out[64] <= 1, "recovery ids 2/3 do not occur in practice");
        out
    }

    /// The same with v ∈ {27, 28}, as `eth_sign` and Solidity's `ecrecover` use.
    pub fn sign27(&self, digest: &[u8; 32]) -> [u8; 65] {
        let mut s = self.sign(digest);
        s[64] += 27;
        s
    }
}

/// A pool of provider keys, derived once per test binary.
pub fn pool() -> &'static [Signer] {
    static POOL: OnceLock<Vec<Signer>> = OnceLock::new();
    POOL.get_or_init(|| (0..40).map(Signer::derive).collect())
}

/// libsecp256k1's `ecrecover`: the address that signed `digest`, or `None`.
pub fn secp_recover(sig: &[u8; 65], digest: &[u8; 32]) -> Option<[u8; 20]> {
    let v = match sig[64] {
        0 | 27 => 0,
        1 | 28 => 1,
        _ => return None,
    };
    let recid = RecoveryId::try_from(v).ok()?;
    let rs = RecoverableSignature::from_compact(&sig[..64], recid).ok()?;
    let key = rs.recover_ecdsa(Message::from_digest(*digest)).ok()?;
    Some(Address::from_raw_public_key(&key.serialize_uncompressed()[1..]).into_array())
}

/// alloy's `ecrecover` (alloy-primitives, backed by k256 0.13).
pub fn alloy_recover(sig: &[u8; 65], digest: &[u8; 32]) -> Option<[u8; 20]> {
    let s = alloy_primitives::Signature::from_raw(sig).ok()?;
    s.recover_address_from_prehash(&B256::from(*digest)).ok().map(Address::into_array)
}

/// The y coordinate of a signature's `R` (x = r, parity from v), via libsecp256k1's point
/// decompression: the proxy's `r_y` hint.
pub fn r_y(sig: &[u8; 65]) -> [u8; 32] {
    let mut compressed = [0u8; 33];
    compressed[0] = 2 + ((sig[64] % 27) & 1);
    compressed[1..].copy_from_slice(&sig[..32]);
    let p = SecpPublicKey::from_slice(&compressed).expect("r is the x of a curve point");
    p.serialize_uncompressed()[33..].try_into().unwrap()
}

/// The secp256k1 group order n.
pub fn group_order() -> U256 {
    U256::from_be_bytes(hex32("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"))
}

/// The high-S twin of a low-S signature: `(r, n − s, v ^ 1)`, which `ecrecover` accepts for the
/// same signer but Flare (go-ethereum's `ValidateSignatureValues(.., homestead=true)`) and fcc refuse.
pub fn high_s_twin(sig: &[u8; 65]) -> [u8; 65] {
    let s = U256::from_be_slice(&sig[32..64]);
    let twin = group_order() - s;
    let mut out = *sig;
    out[32..64].copy_from_slice(&twin.to_be_bytes::<32>());
    out[64] ^= 1;
    out
}

// ---------------------------------------------------------------------------------------------
// Reference computations with alloy.

pub fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s.trim_start_matches("0x")).unwrap().try_into().unwrap()
}

/// `bytes32("NAME")`: ASCII right-padded with zeros.
pub fn name32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..s.len()].copy_from_slice(s.as_bytes());
    out
}

pub fn to_alloy(d: &InstructionData) -> Instruction {
    Instruction {
        instructionId: d.instruction_id.into(),
        teeId: d.tee_id.into(),
        timestamp: d.timestamp,
        rewardEpochId: d.reward_epoch_id,
        opType: d.op_type.into(),
        opCommand: d.op_command.into(),
        cosigners: d.cosigners.iter().map(|c| Address::from(*c)).collect(),
        cosignersThreshold: d.cosigners_threshold,
        originalMessage: d.original_message.clone().into(),
        additionalFixedMessage: d.additional_fixed_message.clone().into(),
    }
}

/// `keccak(abi.encode(Payload{prefix, chainId, dataHash}))`.
pub fn alloy_payload_hash(prefix: &str, chain_id: u64, data_hash: [u8; 32]) -> [u8; 32] {
    let p = Payload { prefix: FixedBytes(name32(prefix)), chainId: U256::from(chain_id), dataHash: data_hash.into() };
    let enc = p.abi_encode();
    assert_eq!(enc.len(), 96, "a static struct has no offset word");
    keccak256(enc).0
}

/// `hashFixed = keccak(abi.encode(Instruction))`.
pub fn alloy_hash_fixed(d: &InstructionData) -> [u8; 32] {
    keccak256(to_alloy(d).abi_encode()).0
}

/// `dataHash = keccak(hashFixed ‖ keccak(additionalVariableMessage))`.
pub fn alloy_data_hash(d: &InstructionData, avm: &[u8]) -> [u8; 32] {
    keccak256((B256::from(alloy_hash_fixed(d)), keccak256(avm)).abi_encode_packed()).0
}

/// The digest a provider signs: EIP-191 over `keccak(abi.encode("TEE_INSTRUCTION", chainId, dataHash))`.
pub fn alloy_signing_digest(d: &InstructionData, chain_id: u64, avm: &[u8]) -> [u8; 32] {
    let h = alloy_payload_hash("TEE_INSTRUCTION", chain_id, alloy_data_hash(d, avm));
    eip191_hash_message(h).0
}

/// The chain-bound policy hash, `keccak(uint256 chainId ‖ policyBytes)`.
pub fn alloy_chain_bound_hash(policy: &[u8], chain_id: u64) -> [u8; 32] {
    let mut buf = U256::from(chain_id).to_be_bytes::<32>().to_vec();
    buf.extend_from_slice(policy);
    keccak256(&buf).0
}

/// The legacy chunked policy hash, re-implemented from Relay.sol's description: zero-pad to 32-byte
/// chunks, `h = keccak(c0 ‖ c1)`, then `h = keccak(h ‖ ci)`.
pub fn alloy_legacy_hash(policy: &[u8]) -> [u8; 32] {
    assert!(policy.len() > 64);
    let mut padded = policy.to_vec();
    padded.resize(policy.len().div_ceil(32) * 32, 0);
    let mut h = keccak256(&padded[..64]);
    for c in padded[64..].chunks(32) {
        h = keccak256([h.as_slice(), c].concat());
    }
    h.0
}

/// Policy bytes built by hand from the published layout (big-endian, packed).
pub fn policy_bytes(
    epoch: u32,
    start_round: u32,
    threshold: u16,
    seed: [u8; 32],
    voters: &[([u8; 20], u16)],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(voters.len() as u16).to_be_bytes());
    out.extend_from_slice(&epoch.to_be_bytes()[1..]);
    out.extend_from_slice(&start_round.to_be_bytes());
    out.extend_from_slice(&threshold.to_be_bytes());
    out.extend_from_slice(&seed);
    for (a, w) in voters {
        out.extend_from_slice(a);
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
}

/// `abi.encode(Fdc2AttestationRequest)`.
pub fn fdc2_request(attestation_type: &str, source_id: &str, bips: u16, proof_owner: [u8; 20], body: &[u8]) -> Vec<u8> {
    Fdc2AttestationRequest {
        header: Fdc2RequestHeader {
            attestationType: FixedBytes(name32(attestation_type)),
            sourceId: FixedBytes(name32(source_id)),
            thresholdBIPS: bips,
            proofOwner: proof_owner.into(),
        },
        requestBody: body.to_vec().into(),
    }
    .abi_encode()
}

/// `messageHash` of an FDC2 proof, and the ABI of its response header, with alloy.
pub fn alloy_fdc2_message_hash(chain_id: u64, request: &[u8], d: &InstructionData) -> ([u8; 32], Vec<u8>) {
    use alloy_sol_types::SolType;
    let req = <Fdc2AttestationRequest as SolType>::abi_decode_validate(request).expect("valid request");
    let header = Fdc2ResponseHeader {
        attestationType: req.header.attestationType,
        sourceId: req.header.sourceId,
        thresholdBIPS: req.header.thresholdBIPS,
        proofOwner: req.header.proofOwner,
        cosigners: d.cosigners.iter().map(|c| Address::from(*c)).collect(),
        cosignersThreshold: d.cosigners_threshold,
        timestamp: d.timestamp,
    }
    .abi_encode();
    let data_hash = keccak256(
        (keccak256(&header), keccak256(&req.requestBody), keccak256(&d.additional_fixed_message)).abi_encode_packed(),
    );
    (alloy_payload_hash("FDC2", chain_id, data_hash.0), header)
}

/// `keccak(keccak(data) ‖ id ‖ keccak(tag) ‖ uint8 status)` (tee-node `ActionResult.Hash`).
pub fn alloy_result_hash(data: &[u8], id: [u8; 32], tag: &str, status: u8) -> [u8; 32] {
    keccak256([keccak256(data).as_slice(), &id, keccak256(tag.as_bytes()).as_slice(), &[status]].concat()).0
}

/// The digest the TEE signs for a result.
/// A refusal (tag `refused`) is signed under `TEE_ACTION_REFUSAL` instead (PROTOCOL §6).
pub fn alloy_result_digest(data: &[u8], id: [u8; 32], tag: &str, status: u8, chain_id: u64) -> [u8; 32] {
    let prefix = if tag == "refused" { "TEE_ACTION_REFUSAL" } else { "TEE_ACTION_RESULT" };
    eip191_hash_message(alloy_payload_hash(prefix, chain_id, alloy_result_hash(data, id, tag, status))).0
}

/// `keccak(abi.encode(Attestation)) ‖ bytes32("FCC_ATTESTATION_V1")`, by alloy.
pub fn alloy_report_data(statement: &Attestation) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(keccak256(statement.abi_encode()).as_slice());
    out[32..].copy_from_slice(&name32("FCC_ATTESTATION_V1"));
    out
}

/// The statement alloy reads from fcc-core's `TEE_INFO` / `TEE_ATTESTATION` result data.
pub fn alloy_tee_info(data: &[u8]) -> TeeInfo {
    <TeeInfo as alloy_sol_types::SolType>::abi_decode_validate(data).expect("alloy decodes TeeInfo")
}
