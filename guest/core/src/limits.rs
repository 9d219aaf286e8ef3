//! Every size bound the core enforces, in one place.
//!
//! Everything the guest receives is hostile until verified, so each variable-length field has a
//! hard upper bound checked before any work proportional to it is done. The numbers are part of
//! the protocol and documented in `docs/PROTOCOL.md`.

/// Most voters a Flare signing policy may hold (Flare's `Relay` enforces the same).
pub const MAX_VOTERS: usize = 300;
/// Signing-policy weights are normalised so their sum fits in 16 bits.
pub const MAX_TOTAL_WEIGHT: u32 = u16::MAX as u32;
/// Fixed part of an encoded signing policy: count, epoch, round, threshold, seed.
pub const POLICY_HEADER_LEN: usize = 2 + 3 + 4 + 2 + 32;
/// Bytes per voter in an encoded signing policy: address and weight.
pub const POLICY_VOTER_LEN: usize = 20 + 2;
/// Largest encoded signing policy.
pub const MAX_POLICY_LEN: usize = POLICY_HEADER_LEN + MAX_VOTERS * POLICY_VOTER_LEN;

/// Most cosigners an instruction may list.
pub const MAX_COSIGNERS: usize = 64;
/// Most signatures one action may carry: every voter and every cosigner once.
pub const MAX_SIGNATURES: usize = MAX_VOTERS + MAX_COSIGNERS;
/// Largest `originalMessage`, `additionalFixedMessage` or `additionalVariableMessage`.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Largest result `data` a handler may produce.
pub const MAX_RESULT_DATA_LEN: usize = 64 * 1024;
/// Largest result `data` of `F_GET/TEE_BACKUP`: a wallet backup for 300 providers and 16 admins
/// (its 1,000 provider shares and 316 encrypted key splits, 388,113 bytes; a test makes one at
/// the bounds). A direct action's result, never kept among the recent results.
pub const MAX_BACKUP_DATA_LEN: usize = 448 * 1024;
/// Largest attestation evidence (SNP report + certificates, or a TDX quote) carried in a frame.
pub const MAX_ATTESTATION_LEN: usize = 16 * 1024;
/// Longest human-readable rejection reason carried in a result or frame.
pub const MAX_REASON_LEN: usize = 256;
/// Largest `state` or `systemState` of an attestation statement (ours: 4 words and a version
/// string under `MAX_REASON_LEN`).
pub const MAX_STATE_LEN: usize = 512;
/// Longest machine URL in a `TEE_ATTESTATION` request.
pub const MAX_URL_LEN: usize = 2048;

/// Largest frame body on the guest <-> proxy link (everything after the 4-byte length prefix).
pub const MAX_FRAME_LEN: usize = 512 * 1024;
/// Largest `Result` frame, prefix included: the data and the three bounded strings, three
/// 32-byte words (id, op type, op command), the signature, and 64 bytes for the frame header,
/// enum tags and postcard's length varints (≤ 3 bytes each below 2^21). A test encodes a
/// result at every bound and checks it.
pub const MAX_RESULT_FRAME_LEN: usize = MAX_RESULT_DATA_LEN + 3 * MAX_REASON_LEN + 3 * 32 + 65 + 64;
/// Largest `Result` frame of a backup (as `MAX_RESULT_FRAME_LEN`, with `MAX_BACKUP_DATA_LEN`).
pub const MAX_BACKUP_FRAME_LEN: usize = MAX_BACKUP_DATA_LEN + 3 * MAX_REASON_LEN + 3 * 32 + 65 + 64;
/// Largest `Sealed` frame, prefix included (the blob, its length varint and the frame header).
pub const MAX_SEALED_FRAME_LEN: usize = MAX_SEALED_LEN + 16;
/// Most bytes of host data one extension instruction may stream in (`extension`): 1 TiB, which
/// the guest reads in constant memory.
pub const MAX_EXTENSION_DATA_LEN: u64 = 1 << 40;
/// Largest chunk of host data in one `Data` frame.
pub const MAX_DATA_CHUNK: usize = 64 * 1024;
/// Most actions the proxy may hand over in one reply to a pull.
pub const MAX_ACTIONS_PER_PULL: usize = 4;

/// Most wallet keys a TEE holds at once.
pub const MAX_WALLET_KEYS: usize = 128;
/// Most (walletId, keyId) records a TEE keeps: every pair that ever existed, with its nonce, so
/// deleted keys stay deleted.
pub const MAX_WALLET_RECORDS: usize = 1024;
/// Most admins of one wallet key.
pub const MAX_WALLET_ADMINS: usize = 16;
/// Most cosigners of one wallet key (an XRPL signer list holds at most 32).
pub const MAX_WALLET_COSIGNERS: usize = 32;
/// Most governance signers (`config::Governance`).
pub const MAX_GOVERNANCE_SIGNERS: usize = 16;
/// Most paths in a machine path list.
pub const MAX_MACHINE_PATHS: usize = 16;
/// Most TEEs on either side of one machine path.
pub const MAX_PATH_TEES: usize = 16;
/// Largest sealed-state blob: the identity, the light client and the wallet store at its bounds
/// (`MAX_WALLET_KEYS` keys with `MAX_WALLET_ADMINS` admins, `MAX_WALLET_COSIGNERS` cosigners
/// and a full payment ledger each, `MAX_WALLET_RECORDS` records: 453,274 bytes; a test seals
/// one).
pub const MAX_SEALED_LEN: usize = 464 * 1024;
/// Most (walletId, keyId) pairs one `KEY_PROOF` asks for: six proofs of keys at their bounds
/// (16 admins, 32 cosigners: 5 KB of JSON each) fit one result.
pub const MAX_KEY_PROOFS: usize = 6;

/// How many executed instruction ids the replay guard remembers (see `replay`).
pub const REPLAY_CAPACITY: usize = 65_536;

/// The most heap the core may hold at once, every structure at its bound (measured by
/// `tests/memory_budget.rs`; the table is in docs/PROTOCOL.md §12). The kernel's heap must exceed
/// it, with the kernel's own buffers, by a fifth (a compile-time check in the kernel).
pub const HEAP_BUDGET: usize = 32 * 1024 * 1024;

const _: () = assert!(MAX_POLICY_LEN == 6643);
const _: () = assert!(MAX_SIGNATURES <= u16::MAX as usize);
const _: () = assert!(MAX_RESULT_FRAME_LEN <= MAX_FRAME_LEN);
const _: () = assert!(MAX_BACKUP_FRAME_LEN <= MAX_FRAME_LEN);
const _: () = assert!(MAX_SEALED_FRAME_LEN <= MAX_FRAME_LEN);

/// The largest result `data` the operation (`op_type`, `op_command`) may produce: one rule for
/// the engine that makes results and the proxy that checks them.
pub fn max_result_data_len(op_type: &[u8; 32], op_command: &[u8; 32]) -> usize {
    if *op_type == crate::op::F_GET && *op_command == crate::op::TEE_BACKUP {
        MAX_BACKUP_DATA_LEN
    } else {
        MAX_RESULT_DATA_LEN
    }
}
