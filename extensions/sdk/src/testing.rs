//! A TEE on the host to run an extension's instructions through the real engine: a three-voter
//! signing policy (weights 40, 30, 30), instructions signed by the voters you pick, data streamed
//! in the link's chunks, and the result's signature and envelope checked before you see the
//! output. For unit tests of extensions; the end-to-end tests use the ROM in QEMU.

use alloc::string::String;
use alloc::vec::Vec;

use fcc_core::action::{Action, ActionKind};
use fcc_core::attester::SimulatedRom;
use fcc_core::config::{Config, Governance, Registration};
use fcc_core::identity::TeeIdentity;
use fcc_core::light_client::{InitializePolicy, PublicKey};
use fcc_core::ops::Registry;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy, Voter};
use fcc_core::result::{SignedResult, SubmissionTag, status};
use fcc_core::tee::{Step, Tee};
use fcc_core::verify::Vote;

use crate::{Address, Extension, H256, InstructionData, MAX_DATA_CHUNK, Operation, keccak256};

/// The chain the test TEE serves.
pub const CHAIN_ID: u64 = 14;
/// The extension id the test TEE was booted for (1).
pub const EXTENSION_ID: H256 = {
    let mut id = [0; 32];
    id[31] = 1;
    id
};
/// The launch measurement the test TEE reports (its code hash is `keccak256` of it).
pub const MEASUREMENT: [u8; 48] = [0xec; 48];
/// The reward epoch of the test policy.
pub const EPOCH: u32 = 1;

/// What an instruction came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Executed: the extension's output (the envelope checked and taken off).
    Output(Vec<u8>),
    /// Executed, and failed: the error code (406: the extension's own error) and the log.
    Failed(u16, String),
    /// Not executed: the code and the log.
    Refused(u16, String),
}

/// A TEE with `extensions`, its trust root set.
pub struct TestTee {
    tee: Tee,
    voters: Vec<TeeIdentity>,
    next: u64,
}

impl TestTee {
    /// A fresh TEE serving `extensions` (which must pass the core's checks).
    pub fn new(extensions: &[&'static dyn Extension]) -> Result<Self, fcc_core::Error> {
        let registry = Registry::system().with_extensions(extensions)?;
        let config = Config {
            chain_id: CHAIN_ID,
            policy_hash: PolicyHashScheme::ChainBound { chain_id: CHAIN_ID },
            registration: Some(Registration {
                extension_id: EXTENSION_ID,
                owner: [0xee; 20],
                governance: Governance::NONE,
            }),
        };
        let mut tee = Tee::new(config, &mut rand::rng(), registry)?;
        let voters: Vec<TeeIdentity> =
            (1..=3u8).map(|i| TeeIdentity::from_secret_for_tests(&[i; 32]).expect("a valid test key")).collect();
        let list = voters.iter().zip([40, 30, 30]).map(|(v, weight)| Voter { address: v.address(), weight }).collect();
        let policy = SigningPolicy::new(EPOCH, 100, 50, [7; 32], list)?;
        let keys = voters.iter().map(|v| PublicKey(*v.public_key())).collect();
        let init = Action::initialize_policy(&InitializePolicy { policy: policy.encode(), public_keys: keys });
        let r = tee.handle(&init, &mut SimulatedRom(MEASUREMENT));
        assert_eq!(r.result.status, status::SUCCESS, "trust root: {}", r.result.log);
        Ok(Self { tee, voters, next: 0 })
    }

    /// The TEE's id (who signs the results and the extension's signatures).
    pub fn tee_id(&self) -> Address {
        self.tee.state().identity.address()
    }

    /// The code hash results name: `keccak256(MEASUREMENT)`.
    pub fn code_hash(&self) -> H256 {
        keccak256(&MEASUREMENT)
    }

    /// An instruction of `operation` carrying `original_message`, signed by the voters at
    /// `voters` (0: weight 40, 1 and 2: weight 30 each; more than 50 passes Flare's default).
    pub fn instruction(&mut self, operation: &Operation, original_message: &[u8], voters: &[usize]) -> Action {
        self.next += 1;
        let d = InstructionData {
            instruction_id: keccak256(&self.next.to_be_bytes()),
            tee_id: self.tee_id(),
            timestamp: 1_800_000_000 + self.next,
            reward_epoch_id: EPOCH,
            op_type: operation.op_type,
            op_command: operation.op_command,
            original_message: original_message.to_vec(),
            ..Default::default()
        };
        let digest = d.signing_digest(CHAIN_ID, &[]);
        let votes = voters
            .iter()
            .map(|&i| Vote {
                signature: self.voters[i].sign_digest(&digest),
                additional_variable_message: Vec::new(),
                hint: None,
            })
            .collect();
        Action { kind: ActionKind::Instruction, submission_tag: SubmissionTag::Threshold, instruction: d, votes }
    }

    /// Runs `action`, streaming `data` (when its extension asks for data) in chunks of at most
    /// `chunk` bytes, as the guest link does. Panics if the result is not signed by the TEE, its
    /// envelope does not name this extension, code and operation, or the data asked for is not
    /// `data`'s length.
    pub fn run_chunked(&mut self, action: &Action, data: &[u8], chunk: usize) -> Outcome {
        assert!((1..=MAX_DATA_CHUNK).contains(&chunk), "chunks are 1..=MAX_DATA_CHUNK bytes");
        let attester = &mut SimulatedRom(MEASUREMENT);
        let mut step = self.tee.begin(action, attester);
        let mut offset = 0;
        let result = loop {
            match step {
                Step::Done(result) => break result,
                Step::Stream(pending) => {
                    assert_eq!(pending.request().len, data.len() as u64, "the extension asked for another length");
                    let end = (offset + chunk).min(data.len());
                    step = self.tee.feed(pending, &data[offset..end], attester).expect("chunks within the request");
                    offset = end;
                }
            }
        };
        self.outcome(action, &result)
    }

    /// [`TestTee::run_chunked`] in chunks of `MAX_DATA_CHUNK`.
    pub fn run(&mut self, action: &Action, data: &[u8]) -> Outcome {
        self.run_chunked(action, data, MAX_DATA_CHUNK)
    }

    /// Checks an extension signature (`Services::sign`): the address that signed `data_hash`
    /// under `domain` for this TEE's chain and extension.
    pub fn signer_of(&self, domain: &crate::OpName, data_hash: &H256, signature: &[u8; 65]) -> Option<Address> {
        let digest = crate::signing_digest(CHAIN_ID, &EXTENSION_ID, domain, data_hash);
        fcc_core::ecdsa::recover_address(signature, &digest).ok()
    }

    fn outcome(&self, action: &Action, r: &SignedResult) -> Outcome {
        assert_eq!(r.signer(CHAIN_ID), Ok(self.tee_id()), "the result is signed by the TEE");
        assert_eq!(r.result.id, action.instruction.instruction_id);
        let code = r.result.additional_result_status.as_slice().try_into().map_or(0, u16::from_be_bytes);
        if r.result.status != status::SUCCESS {
            let log = r.result.log.clone();
            return if r.result.is_refusal() { Outcome::Refused(code, log) } else { Outcome::Failed(code, log) };
        }
        let d = &action.instruction;
        // The envelope: five head words, then the output's length and bytes.
        let data = &r.result.data;
        let word = |i: usize| &data[32 * i..32 * i + 32];
        assert_eq!(word(0), EXTENSION_ID, "the envelope names the extension");
        assert_eq!(word(1), self.code_hash(), "the envelope names the code");
        assert_eq!((word(2), word(3)), (&d.op_type[..], &d.op_command[..]), "the envelope names the operation");
        let len = usize::from_be_bytes(word(5)[24..].try_into().expect("8 bytes"));
        let output = data[192..192 + len].to_vec();
        assert_eq!(crate::envelope(&EXTENSION_ID, &self.code_hash(), &d.op_type, &d.op_command, &output), *data);
        Outcome::Output(output)
    }
}
