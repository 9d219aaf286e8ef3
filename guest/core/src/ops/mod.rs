//! Operations: a registry of handlers keyed by (opType, opCommand): the system operations and
//! the compute extensions' (`extension`) side by side. An unknown operation yields an error
//! result, never a panic.

use alloc::vec::Vec;

use crate::action::{Action, ActionKind};
use crate::attester::Attester;
use crate::error::Error;
use crate::extension::{Extension, Operation};
use crate::instruction::InstructionData;
use crate::op::{self, OpName};
use crate::result::SubmissionTag;
use crate::state::TeeState;

pub mod fdc2;
pub mod info;
pub mod payments;
pub mod policy;
pub mod wallet;

/// Runs a system operation whose authorisation has been checked.
pub type Execute = fn(&mut TeeState, &Action, &mut dyn Attester) -> Result<crate::result::Output, Error>;

/// The data-provider threshold an instruction must pass, in basis points of the policy's total
/// weight (weight must be strictly greater than `ceil(total · bips / 10000)`; `admission`).
pub type Threshold = fn(&InstructionData) -> Result<u16, Error>;

pub use crate::op::DEFAULT_THRESHOLD_BIPS;

fn default_threshold(_: &InstructionData) -> Result<u16, Error> {
    Ok(DEFAULT_THRESHOLD_BIPS)
}

/// Who does an operation's work.
#[derive(Clone, Copy)]
pub enum Work {
    /// A system operation of the core.
    System(Execute),
    /// An extension's operation (`extension`).
    Extension {
        /// The extension.
        extension: &'static dyn Extension,
        /// The operation as it declared it.
        operation: &'static Operation,
    },
}

/// One operation.
#[derive(Clone, Copy)]
pub struct Handler {
    /// Operation type.
    pub op_type: OpName,
    /// Operation command.
    pub op_command: OpName,
    /// How it must be authorised.
    pub kind: ActionKind,
    /// The threshold rule of a system instruction (an extension's is its declared admission).
    pub threshold: Threshold,
    /// The submission tag its actions carry, and so its result: `threshold` for instructions,
    /// `submit` for direct actions unless the result is for one contract only.
    pub tag: SubmissionTag,
    /// The work.
    pub work: Work,
}

impl Handler {
    /// An instruction handler with Flare's default threshold.
    pub const fn instruction(op_type: OpName, op_command: OpName, execute: Execute) -> Self {
        Self {
            op_type,
            op_command,
            kind: ActionKind::Instruction,
            threshold: default_threshold,
            tag: SubmissionTag::Threshold,
            work: Work::System(execute),
        }
    }

    /// A direct-action handler.
    pub const fn direct(op_type: OpName, op_command: OpName, execute: Execute) -> Self {
        Self {
            op_type,
            op_command,
            kind: ActionKind::Direct,
            threshold: default_threshold,
            tag: SubmissionTag::Submit,
            work: Work::System(execute),
        }
    }

    /// The extension operation this handler runs, if it is one.
    pub fn extension(&self) -> Option<(&'static dyn Extension, &'static Operation)> {
        match self.work {
            Work::Extension { extension, operation } => Some((extension, operation)),
            Work::System(_) => None,
        }
    }
}

/// The operations a TEE serves.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: Vec<Handler>,
}

impl Registry {
    /// No operations.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The system operations: policy management, FDC2 proofs, TEE info and attestation, wallet
    /// keys, XRPL and Bitcoin payments.
    pub fn system() -> Self {
        let mut r = Self::empty();
        for h in [
            Handler::direct(op::F_POLICY, op::INITIALIZE_POLICY, policy::initialize),
            Handler::direct(op::F_POLICY, op::UPDATE_POLICY, policy::update),
            Handler::direct(op::F_GET, op::TEE_INFO, info::tee_info),
            Handler::instruction(op::F_REG, op::TEE_ATTESTATION, info::tee_attestation),
            Handler { threshold: fdc2::threshold_bips, ..Handler::instruction(op::F_FDC2, op::PROVE, fdc2::prove) },
            Handler::instruction(op::F_WALLET, op::KEY_GENERATE, wallet::key_generate),
            Handler::instruction(op::F_WALLET, op::KEY_DELETE, wallet::key_delete),
            Handler {
                threshold: wallet::restore_threshold,
                ..Handler::instruction(op::F_WALLET, op::KEY_DATA_PROVIDER_RESTORE, wallet::key_restore)
            },
            Handler::direct(op::F_GET, op::KEY_INFO, wallet::key_info),
            Handler::direct(op::F_GET, op::KEY_PROOF, wallet::key_proof),
            Handler::direct(op::F_GET, op::TEE_BACKUP, wallet::tee_backup),
            Handler {
                tag: SubmissionTag::KeyBackup,
                ..Handler::direct(op::F_GET, op::KEY_BACKUP_HEARTBEAT, wallet::key_backup_heartbeat)
            },
            Handler::direct(op::F_GOVERNANCE, op::SET_MACHINE_PATH_LIST, wallet::set_machine_path_list),
            Handler::instruction(op::F_WALLET, op::KEY_DIRECT_BACKUP, wallet::key_direct_backup),
            Handler::instruction(op::F_WALLET, op::KEY_DIRECT_RESTORE, wallet::key_direct_restore),
            Handler::instruction(op::F_XRP, op::PAY, payments::xrp_pay),
            Handler::instruction(op::F_XRP, op::REISSUE, payments::xrp_pay),
            Handler::instruction(op::F_BTC, op::PAY, payments::btc_pay),
            Handler::instruction(op::F_BTC, op::REISSUE, payments::btc_pay),
        ] {
            r.register(h).expect("system operations are distinct");
        }
        r
    }

    /// Adds every operation of `extensions` (instructions, tagged `threshold`), each checked
    /// against what the core allows (`extension::check_operation`); fails on the first one refused
    /// or already taken — an image with such an extension does not boot.
    pub fn with_extensions(mut self, extensions: &[&'static dyn Extension]) -> Result<Self, Error> {
        for &extension in extensions {
            for operation in extension.operations() {
                crate::extension::check_operation(operation)?;
                self.register(Handler {
                    op_type: operation.op_type,
                    op_command: operation.op_command,
                    kind: ActionKind::Instruction,
                    threshold: default_threshold,
                    tag: SubmissionTag::Threshold,
                    work: Work::Extension { extension, operation },
                })?;
            }
        }
        Ok(self)
    }

    /// Adds an operation; fails if (type, command) is taken.
    pub fn register(&mut self, h: Handler) -> Result<(), Error> {
        if self.find(&h.op_type, &h.op_command).is_some() {
            return Err(Error::OperationFailed { reason: "operation registered twice" });
        }
        self.handlers.push(h);
        Ok(())
    }

    /// The handler of (type, command).
    pub fn find(&self, op_type: &OpName, op_command: &OpName) -> Option<&Handler> {
        self.handlers.iter().find(|h| &h.op_type == op_type && &h.op_command == op_command)
    }

    /// Every registered (type, command).
    pub fn operations(&self) -> impl Iterator<Item = (&OpName, &OpName)> {
        self.handlers.iter().map(|h| (&h.op_type, &h.op_command))
    }
}
