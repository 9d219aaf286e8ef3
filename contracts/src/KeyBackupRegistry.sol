// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IKeyBackupRegistry} from "./interfaces/IKeyBackupRegistry.sol";
import {ITeeExtensionRegistry} from "./interfaces/ITeeExtensionRegistry.sol";
import {ITeeResultVerifier} from "./interfaces/ITeeResultVerifier.sol";
import {ActionResults} from "./libraries/ActionResults.sol";
import {ActionResult} from "./types/ActionResult.sol";

/// @title KeyBackupRegistry
/// @notice Key backups as a heartbeat, and recovery after silence (seed 001). The TEE signs
/// backups as ordinary ActionResults, so no signing format beyond docs/PROTOCOL.md §6 exists.
/// The backup itself stays off chain (the TEE's proxy and the data providers hold it); the chain
/// records its hash and which key it is of. Wallets are keyed by (extension, wallet id) and
/// managed by the extension's current owner.
contract KeyBackupRegistry is IKeyBackupRegistry {
    /// @notice First word of a backup result's `data`, and the domain of `backupId`.
    bytes32 public constant BACKUP_DOMAIN = "FCC_KEY_BACKUP_V2";
    /// @notice `submissionTag` of a backup result (signed, like `id`: binds the operation).
    string public constant BACKUP_SUBMISSION_TAG = "key-backup";
    /// @notice Shortest silence period a wallet may configure.
    uint64 public constant MIN_SILENCE = 1 hours;
    /// @notice Longest silence period (also bounds the delay of a settings change).
    uint64 public constant MAX_SILENCE = 365 days;

    ITeeExtensionRegistry public immutable extensions;
    ITeeResultVerifier public immutable verifier;

    mapping(uint256 extensionId => mapping(bytes32 walletId => Wallet)) private _wallets;

    constructor(ITeeExtensionRegistry extensions_, ITeeResultVerifier verifier_) {
        extensions = extensions_;
        verifier = verifier_;
    }

    /// @dev The extension's owner, read live: wallet management follows an ownership transfer.
    modifier onlyExtensionOwner(uint256 extensionId) {
        if (extensions.extensionOwner(extensionId) != msg.sender) revert NotAuthorised(msg.sender);
        _;
    }

    /// @inheritdoc IKeyBackupRegistry
    function registerWallet(uint256 extensionId, bytes32 walletId, address recovery, uint64 maxSilence)
        external
        onlyExtensionOwner(extensionId)
    {
        Wallet storage w = _wallets[extensionId][walletId];
        if (w.recovery != address(0)) revert WalletExists(extensionId, walletId);
        _checkRecovery(recovery, maxSilence);
        w.recovery = recovery;
        w.maxSilence = maxSilence;
        emit WalletRegistered(extensionId, walletId, recovery, maxSilence);
    }

    /// @inheritdoc IKeyBackupRegistry
    function configureRecovery(uint256 extensionId, bytes32 walletId, address recovery, uint64 maxSilence)
        external
        onlyExtensionOwner(extensionId)
    {
        Wallet storage w = _settled(extensionId, walletId);
        if (w.custody == Custody.Recovery) revert InRecovery(extensionId, walletId);
        _checkRecovery(recovery, maxSilence);
        // Delayed by the silence in force: whoever relies on the old settings (the recovery
        // address, the TEE's operator) keeps them for at least as long as they promised.
        uint64 from = uint64(block.timestamp) + w.maxSilence;
        w.pendingRecovery = recovery;
        w.pendingMaxSilence = maxSilence;
        w.pendingFrom = from;
        emit RecoveryConfigured(extensionId, walletId, recovery, maxSilence, from);
    }

    /// @inheritdoc IKeyBackupRegistry
    function submitBackup(ActionResult calldata result, bytes calldata signature) external {
        (
            bytes32 domain,
            address registry,
            uint256 extensionId,
            bytes32 walletId,
            uint64 sequence,
            uint64 referenceBlock,
            bytes32 referenceHash,
            bytes memory record
        ) = abi.decode(result.data, (bytes32, address, uint256, bytes32, uint64, uint64, bytes32, bytes));
        (uint64 keyId, address keyAddress, bytes32 backupHash) =
            abi.decode(record, (uint64, address, bytes32));
        // Only the signed fields bind: status, tag and id say the TEE signed a backup of this
        // wallet, not another operation's result whose data happens to decode as one.
        if (
            result.status != ActionResults.STATUS_SUCCESS || domain != BACKUP_DOMAIN
                || registry != address(this)
                || keccak256(bytes(result.submissionTag)) != keccak256(bytes(BACKUP_SUBMISSION_TAG))
                || result.id != backupId(extensionId, walletId, sequence) || keyAddress == address(0)
                || backupHash == bytes32(0)
        ) revert BackupResultInvalid();
        Wallet storage w = _existing(extensionId, walletId);
        if (w.custody == Custody.Recovery) revert InRecovery(extensionId, walletId);
        if (sequence <= w.sequence) revert StaleBackup(sequence, w.sequence);
        // The TEE signed after `referenceBlock` was made (it knew its hash) and the backup is
        // relayed within 256 blocks of it (blockhash is zero beyond): a hoarded backup keeps a
        // dead TEE alive for at most that long.
        if (referenceHash == bytes32(0) || blockhash(referenceBlock) != referenceHash) {
            revert BackupReferenceInvalid(referenceBlock, referenceHash);
        }
        if (referenceBlock <= w.referenceBlock) {
            revert BackupReferenceNotNewer(referenceBlock, w.referenceBlock);
        }
        address teeId = verifier.verifyResult(extensionId, result, signature);
        // The wallet's key is fixed by its first backup, so custody (after a recovery too) only
        // ever passes to a TEE holding that same key, never to one that made up another.
        if (w.keyAddress == address(0)) {
            (w.keyId, w.keyAddress) = (keyId, keyAddress);
            emit KeyRecorded(extensionId, walletId, keyId, keyAddress);
        } else if (keyId != w.keyId || keyAddress != w.keyAddress) {
            revert KeyMismatch(keyId, keyAddress, w.keyId, w.keyAddress);
        }
        if (w.custodian != teeId) {
            emit KeyHandover(extensionId, walletId, teeId, w.custodian, Custody.Tee);
            w.custodian = teeId;
        }
        w.custody = Custody.Tee;
        w.sequence = sequence;
        w.referenceBlock = referenceBlock;
        w.lastHeartbeat = uint64(block.timestamp);
        w.backupHash = backupHash;
        emit BackupSubmitted(
            extensionId, walletId, teeId, sequence, referenceBlock, keyId, keyAddress, backupHash
        );
    }

    /// @inheritdoc IKeyBackupRegistry
    function backupId(uint256 extensionId, bytes32 walletId, uint64 sequence) public view returns (bytes32) {
        return
            keccak256(
                abi.encode(BACKUP_DOMAIN, block.chainid, address(this), extensionId, walletId, sequence)
            );
    }

    /// @inheritdoc IKeyBackupRegistry
    function openRecovery(uint256 extensionId, bytes32 walletId) external {
        Wallet storage w = _settled(extensionId, walletId);
        if (msg.sender != w.recovery) revert NotAuthorised(msg.sender);
        if (w.custody != Custody.Tee) revert NotAuthorised(msg.sender);
        // silences are hours or more: a validator's few seconds of drift do not matter
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp <= uint256(w.lastHeartbeat) + w.maxSilence) {
            revert HeartbeatNotStale(w.lastHeartbeat, w.maxSilence);
        }
        emit KeyHandover(extensionId, walletId, msg.sender, w.custodian, Custody.Recovery);
        w.custody = Custody.Recovery;
        w.custodian = msg.sender;
    }

    /// @inheritdoc IKeyBackupRegistry
    function closeRecovery(uint256 extensionId, bytes32 walletId) external {
        Wallet storage w = _settled(extensionId, walletId);
        if (w.custody != Custody.Recovery) revert NotInRecovery(extensionId, walletId);
        // the custodian who opened it: a recovery address changed meanwhile does not take over
        if (msg.sender != w.custodian) revert NotAuthorised(msg.sender);
        w.custody = Custody.None;
    }

    /// @inheritdoc IKeyBackupRegistry
    function wallet(uint256 extensionId, bytes32 walletId) external view returns (Wallet memory w) {
        w = _wallets[extensionId][walletId];
        if (_due(w.pendingFrom)) {
            (w.recovery, w.maxSilence) = (w.pendingRecovery, w.pendingMaxSilence);
            (w.pendingRecovery, w.pendingMaxSilence, w.pendingFrom) = (address(0), 0, 0);
        }
    }

    function _existing(uint256 extensionId, bytes32 walletId) private view returns (Wallet storage w) {
        w = _wallets[extensionId][walletId];
        if (w.recovery == address(0)) revert UnknownWallet(extensionId, walletId);
    }

    /// @dev The existing wallet with its pending settings applied once their time has come.
    function _settled(uint256 extensionId, bytes32 walletId) private returns (Wallet storage w) {
        w = _existing(extensionId, walletId);
        if (_due(w.pendingFrom)) {
            (w.recovery, w.maxSilence) = (w.pendingRecovery, w.pendingMaxSilence);
            (w.pendingRecovery, w.pendingMaxSilence, w.pendingFrom) = (address(0), 0, 0);
        }
    }

    /// @dev Whether pending settings (from `from`, zero: none) are in force.
    function _due(uint64 from) private view returns (bool) {
        // Delays are hours or more: a validator's few seconds of drift do not matter.
        // forge-lint: disable-next-line(block-timestamp)
        return from != 0 && block.timestamp >= from;
    }

    function _checkRecovery(address recovery, uint64 maxSilence) private pure {
        if (recovery == address(0)) revert ZeroAddress();
        if (maxSilence < MIN_SILENCE) revert MaxSilenceTooShort(maxSilence, MIN_SILENCE);
        if (maxSilence > MAX_SILENCE) revert MaxSilenceTooLong(maxSilence, MAX_SILENCE);
    }
}
