// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ActionResult} from "../types/ActionResult.sol";

/// @title IKeyBackupRegistry
/// @notice A dead-man's switch for TEE-held wallet keys (seed 001): a production TEE of the
/// wallet's extension submits an encrypted backup of the key periodically, as a heartbeat; after
/// `maxSilence` seconds without one, the wallet's recovery address may open recovery. Every
/// change of who holds the key (TEE to TEE, TEE to recovery, recovery back to a TEE) emits
/// `KeyHandover`, so the custody history is on chain.
interface IKeyBackupRegistry {
    /// @notice Where a wallet's key is held.
    enum Custody {
        None,
        Tee,
        Recovery
    }

    /// @notice A wallet's record.
    struct Wallet {
        address admin;
        uint256 extensionId;
        address recovery;
        uint64 maxSilence;
        uint64 lastHeartbeat;
        uint64 sequence;
        Custody custody;
        address custodian;
        bytes32 backupHash;
    }

    /// @notice Emitted when a wallet is registered.
    event WalletRegistered(
        bytes32 indexed walletId,
        uint256 indexed extensionId,
        address indexed admin,
        address recovery,
        uint64 maxSilence
    );
    /// @notice Emitted when the admin changes the recovery address or the silence period.
    event RecoveryConfigured(bytes32 indexed walletId, address recovery, uint64 maxSilence);
    /// @notice Emitted for every accepted backup (the heartbeat); `encryptedBackup` lives in the log only.
    event BackupSubmitted(
        bytes32 indexed walletId, address indexed teeId, uint64 indexed sequence, bytes encryptedBackup
    );
    /// @notice Emitted whenever custody of the key changes hands.
    event KeyHandover(bytes32 indexed walletId, address indexed from, address indexed to, Custody custody);

    /// @notice The wallet id is taken.
    error WalletExists(bytes32 walletId);
    /// @notice No wallet has this id.
    error UnknownWallet(bytes32 walletId);
    /// @notice The caller may not do this for the wallet.
    error NotAuthorised(address caller);
    /// @notice The silence period is below the minimum.
    error MaxSilenceTooShort(uint64 maxSilence, uint64 minimum);
    /// @notice The result is not a successful key-backup result for this registry and wallet.
    error BackupResultInvalid();
    /// @notice The backup's sequence number is not above the last one (a replayed or stale backup).
    error StaleBackup(uint64 sequence, uint64 lastSequence);
    /// @notice The TEE has sent a heartbeat within `maxSilence`: recovery may not open yet.
    error HeartbeatNotStale(uint64 lastHeartbeat, uint64 maxSilence);
    /// @notice The wallet is in recovery; backups wait for `closeRecovery`.
    error InRecovery(bytes32 walletId);
    /// @notice The wallet is not in recovery.
    error NotInRecovery(bytes32 walletId);
    /// @notice The zero address is not allowed here.
    error ZeroAddress();

    /// @notice Registers a wallet whose key TEEs of `extensionId` hold (the extension owner only;
    /// it becomes the wallet's admin).
    function registerWallet(bytes32 walletId, uint256 extensionId, address recovery, uint64 maxSilence)
        external;

    /// @notice Changes the recovery address and silence period (admin only).
    function configureRecovery(bytes32 walletId, address recovery, uint64 maxSilence) external;

    /// @notice Records a backup: `result` must be a successful ActionResult signed by a production
    /// TEE of the wallet's extension, with `data = abi.encode(bytes32("FCC_KEY_BACKUP_V1"),
    /// address(this), walletId, uint64 sequence, bytes encryptedBackup)`; anyone may relay it.
    function submitBackup(ActionResult calldata result, bytes calldata signature) external;

    /// @notice Opens recovery after `maxSilence` seconds without a backup (recovery address only).
    function openRecovery(bytes32 walletId) external;

    /// @notice Ends recovery (recovery address only): the next valid backup hands the key back to a TEE.
    function closeRecovery(bytes32 walletId) external;

    /// @notice The wallet's record.
    function wallet(bytes32 walletId) external view returns (Wallet memory);
}
