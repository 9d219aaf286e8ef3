// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ActionResult} from "../types/ActionResult.sol";

/// @title IKeyBackupRegistry
/// @notice A dead-man's switch for TEE-held wallet keys (seed 001): a production TEE of the
/// wallet's extension periodically submits a record of its latest backup of the key, as a
/// heartbeat: which key, and the backup's hash (the backup itself is held off chain by the TEE's
/// proxy and the data providers). After `maxSilence` seconds without one, the wallet's recovery
/// address may open recovery. The first backup fixes the key, so custody only ever passes to a TEE
/// holding it. Every change of who holds the key (TEE to TEE, TEE to recovery, recovery back to a
/// TEE) emits `KeyHandover`, so the custody history is on chain. Wallets are named per extension
/// (`extensionId`, `walletId`) and managed by the extension's current owner.
interface IKeyBackupRegistry {
    /// @notice Where a wallet's key is held.
    enum Custody {
        None,
        Tee,
        Recovery
    }

    /// @notice A wallet's record (as `wallet` returns it: pending settings whose time has come
    /// already applied).
    struct Wallet {
        /// Who may open recovery after `maxSilence` (zero: no such wallet).
        address recovery;
        uint64 maxSilence;
        /// When the last backup was accepted (unix seconds).
        uint64 lastHeartbeat;
        uint64 sequence;
        /// The reference block of the last backup (a block the TEE saw before signing it).
        uint64 referenceBlock;
        Custody custody;
        address custodian;
        /// The Flare wallet key the wallet tracks, named (walletId, keyId), and the address of its
        /// secp256k1 public key: set by the first accepted backup, never changed after, so a TEE
        /// holding another key never takes custody (`KeyMismatch`). Zero `keyAddress`: no backup yet.
        uint64 keyId;
        address keyAddress;
        /// keccak256 of the TEE's latest backup of the key (its content hash, the one the backup's
        /// own signatures cover), as the last accepted backup's record gave it.
        bytes32 backupHash;
        /// Settings configured but not in force yet (`pendingFrom` zero: none).
        address pendingRecovery;
        uint64 pendingMaxSilence;
        /// When the pending settings take effect.
        uint64 pendingFrom;
    }

    /// @notice Emitted when a wallet is registered.
    event WalletRegistered(
        uint256 indexed extensionId, bytes32 indexed walletId, address recovery, uint64 maxSilence
    );
    /// @notice Emitted when the extension owner configures new recovery settings, in force from
    /// `effectiveFrom`.
    event RecoveryConfigured(
        uint256 indexed extensionId,
        bytes32 indexed walletId,
        address recovery,
        uint64 maxSilence,
        uint64 effectiveFrom
    );
    /// @notice Emitted for every accepted backup (the heartbeat), with its record: the key and the
    /// hash of the TEE's latest backup of it.
    event BackupSubmitted(
        uint256 indexed extensionId,
        bytes32 indexed walletId,
        address indexed teeId,
        uint64 sequence,
        uint64 referenceBlock,
        uint64 keyId,
        address keyAddress,
        bytes32 backupHash
    );
    /// @notice Emitted once per wallet, by its first accepted backup: the key it holds from then on.
    event KeyRecorded(
        uint256 indexed extensionId, bytes32 indexed walletId, uint64 keyId, address keyAddress
    );
    /// @notice Emitted whenever custody of the key changes hands.
    event KeyHandover(
        uint256 indexed extensionId,
        bytes32 indexed walletId,
        address indexed to,
        address from,
        Custody custody
    );

    /// @notice The wallet id is taken in this extension.
    error WalletExists(uint256 extensionId, bytes32 walletId);
    /// @notice The extension has no wallet with this id.
    error UnknownWallet(uint256 extensionId, bytes32 walletId);
    /// @notice The caller may not do this for the wallet.
    error NotAuthorised(address caller);
    /// @notice The silence period is below the minimum.
    error MaxSilenceTooShort(uint64 maxSilence, uint64 minimum);
    /// @notice The silence period is above the maximum.
    error MaxSilenceTooLong(uint64 maxSilence, uint64 maximum);
    /// @notice The result is not a successful key-backup result for this registry and wallet:
    /// status, submission tag, id (`backupId`) or the data's domain and registry are wrong, or its
    /// record has a zero `keyAddress` or `backupHash`.
    error BackupResultInvalid();
    /// @notice The backup is of another key than the one the wallet's first backup recorded.
    error KeyMismatch(uint64 keyId, address keyAddress, uint64 recordedKeyId, address recordedKeyAddress);
    /// @notice The backup's sequence number is not above the last one (a replayed or stale backup).
    error StaleBackup(uint64 sequence, uint64 lastSequence);
    /// @notice The backup's reference block is not one of the last 256 blocks with that hash
    /// (too old, in the future, or not on this chain).
    error BackupReferenceInvalid(uint64 referenceBlock, bytes32 referenceHash);
    /// @notice The backup's reference block is not after the last accepted backup's.
    error BackupReferenceNotNewer(uint64 referenceBlock, uint64 lastReferenceBlock);
    /// @notice The TEE has sent a heartbeat within `maxSilence`: recovery may not open yet.
    error HeartbeatNotStale(uint64 lastHeartbeat, uint64 maxSilence);
    /// @notice The wallet is in recovery; backups wait for `closeRecovery`.
    error InRecovery(uint256 extensionId, bytes32 walletId);
    /// @notice The wallet is not in recovery.
    error NotInRecovery(uint256 extensionId, bytes32 walletId);
    /// @notice The zero address is not allowed here.
    error ZeroAddress();

    /// @notice Registers a wallet whose key TEEs of `extensionId` hold (the extension owner only;
    /// whoever owns the extension manages its wallets). Its settings are in force at once.
    function registerWallet(uint256 extensionId, bytes32 walletId, address recovery, uint64 maxSilence)
        external;

    /// @notice Schedules new recovery settings (the extension's current owner only). They take
    /// effect `maxSilence` (the current one) seconds from now, so a change cannot shorten a silence
    /// already under way or hand recovery to someone else sooner than the old settings allow;
    /// a later call replaces a pending change.
    function configureRecovery(uint256 extensionId, bytes32 walletId, address recovery, uint64 maxSilence)
        external;

    /// @notice Records a backup: `result` must be a successful ActionResult signed by a production
    /// TEE of the wallet's extension, with submission tag `BACKUP_SUBMISSION_TAG`, id
    /// `backupId(extensionId, walletId, sequence)` and `data = abi.encode(bytes32("FCC_KEY_BACKUP_V2"),
    /// address(this), uint256 extensionId, bytes32 walletId, uint64 sequence, uint64 referenceBlock,
    /// bytes32 referenceHash, bytes record)`, where `referenceBlock` is one of the last 256 blocks,
    /// after the last backup's, and `referenceHash` its hash; anyone may relay it. `record =
    /// abi.encode(uint64 keyId, address keyAddress, bytes32 backupHash)`: the wallet's key (walletId,
    /// keyId), the address of its secp256k1 public key (keccak of x ‖ y, last 20 bytes, whatever the
    /// key is used for) and keccak256 of the TEE's latest backup of it (non-zero). The first accepted
    /// backup records the key; later ones must be of the same key, a new TEE's after recovery too.
    function submitBackup(ActionResult calldata result, bytes calldata signature) external;

    /// @notice The id a backup result must carry: `keccak256(abi.encode(bytes32("FCC_KEY_BACKUP_V2"),
    /// chainId, address(this), extensionId, walletId, sequence))`.
    function backupId(uint256 extensionId, bytes32 walletId, uint64 sequence) external view returns (bytes32);

    /// @notice Opens recovery after `maxSilence` seconds without a backup (recovery address only).
    function openRecovery(uint256 extensionId, bytes32 walletId) external;

    /// @notice Ends recovery (the recovery custodian, who opened it): the next valid backup of the
    /// recorded key hands the key back to a TEE.
    function closeRecovery(uint256 extensionId, bytes32 walletId) external;

    /// @notice The wallet's record, pending settings applied once in force.
    function wallet(uint256 extensionId, bytes32 walletId) external view returns (Wallet memory);
}
