// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IKeyBackupRegistry} from "./interfaces/IKeyBackupRegistry.sol";
import {ITeeExtensionRegistry} from "./interfaces/ITeeExtensionRegistry.sol";
import {ITeeResultVerifier} from "./interfaces/ITeeResultVerifier.sol";
import {ActionResults} from "./libraries/ActionResults.sol";
import {ActionResult} from "./types/ActionResult.sol";

/// @title KeyBackupRegistry
/// @notice Encrypted key backups as a heartbeat, and recovery after silence (seed 001). The TEE
/// signs backups as ordinary ActionResults, so no signing format beyond docs/PROTOCOL.md §6 exists.
contract KeyBackupRegistry is IKeyBackupRegistry {
    /// @notice First word of a backup result's `data`.
    bytes32 public constant BACKUP_DOMAIN = "FCC_KEY_BACKUP_V1";
    /// @notice Shortest silence period a wallet may configure.
    uint64 public constant MIN_SILENCE = 1 hours;

    ITeeExtensionRegistry public immutable extensions;
    ITeeResultVerifier public immutable verifier;

    mapping(bytes32 walletId => Wallet) private _wallets;

    constructor(ITeeExtensionRegistry extensions_, ITeeResultVerifier verifier_) {
        extensions = extensions_;
        verifier = verifier_;
    }

    /// @inheritdoc IKeyBackupRegistry
    function registerWallet(bytes32 walletId, uint256 extensionId, address recovery, uint64 maxSilence)
        external
    {
        if (_wallets[walletId].admin != address(0)) revert WalletExists(walletId);
        // the extension (the wallet service whose TEEs hold the key) names its wallets: nobody
        // else can claim a wallet id and point its recovery elsewhere
        if (extensions.extensionOwner(extensionId) != msg.sender) revert NotAuthorised(msg.sender);
        _checkRecovery(recovery, maxSilence);
        Wallet storage w = _wallets[walletId];
        w.admin = msg.sender;
        w.extensionId = extensionId;
        w.recovery = recovery;
        w.maxSilence = maxSilence;
        emit WalletRegistered(walletId, extensionId, msg.sender, recovery, maxSilence);
    }

    /// @inheritdoc IKeyBackupRegistry
    function configureRecovery(bytes32 walletId, address recovery, uint64 maxSilence) external {
        Wallet storage w = _existing(walletId);
        if (msg.sender != w.admin) revert NotAuthorised(msg.sender);
        if (w.custody == Custody.Recovery) revert InRecovery(walletId);
        _checkRecovery(recovery, maxSilence);
        w.recovery = recovery;
        w.maxSilence = maxSilence;
        emit RecoveryConfigured(walletId, recovery, maxSilence);
    }

    /// @inheritdoc IKeyBackupRegistry
    function submitBackup(ActionResult calldata result, bytes calldata signature) external {
        if (result.status != ActionResults.STATUS_SUCCESS) revert BackupResultInvalid();
        (bytes32 domain, address registry, bytes32 walletId, uint64 sequence, bytes memory backup) =
            abi.decode(result.data, (bytes32, address, bytes32, uint64, bytes));
        if (domain != BACKUP_DOMAIN || registry != address(this)) revert BackupResultInvalid();
        Wallet storage w = _existing(walletId);
        if (w.custody == Custody.Recovery) revert InRecovery(walletId);
        if (sequence <= w.sequence) revert StaleBackup(sequence, w.sequence);
        address teeId = verifier.verifyResult(w.extensionId, result, signature);
        if (w.custodian != teeId) {
            emit KeyHandover(walletId, w.custodian, teeId, Custody.Tee);
            w.custodian = teeId;
        }
        w.custody = Custody.Tee;
        w.sequence = sequence;
        w.lastHeartbeat = uint64(block.timestamp);
        w.backupHash = keccak256(backup);
        emit BackupSubmitted(walletId, teeId, sequence, backup);
    }

    /// @inheritdoc IKeyBackupRegistry
    function openRecovery(bytes32 walletId) external {
        Wallet storage w = _existing(walletId);
        if (msg.sender != w.recovery) revert NotAuthorised(msg.sender);
        if (w.custody != Custody.Tee) revert NotAuthorised(msg.sender);
        // silences are hours or more: a validator's few seconds of drift do not matter
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp <= uint256(w.lastHeartbeat) + w.maxSilence) {
            revert HeartbeatNotStale(w.lastHeartbeat, w.maxSilence);
        }
        emit KeyHandover(walletId, w.custodian, msg.sender, Custody.Recovery);
        w.custody = Custody.Recovery;
        w.custodian = msg.sender;
    }

    /// @inheritdoc IKeyBackupRegistry
    function closeRecovery(bytes32 walletId) external {
        Wallet storage w = _existing(walletId);
        if (msg.sender != w.recovery) revert NotAuthorised(msg.sender);
        if (w.custody != Custody.Recovery) revert NotInRecovery(walletId);
        w.custody = Custody.None;
    }

    /// @inheritdoc IKeyBackupRegistry
    function wallet(bytes32 walletId) external view returns (Wallet memory) {
        return _wallets[walletId];
    }

    function _existing(bytes32 walletId) private view returns (Wallet storage w) {
        w = _wallets[walletId];
        if (w.admin == address(0)) revert UnknownWallet(walletId);
    }

    function _checkRecovery(address recovery, uint64 maxSilence) private pure {
        if (recovery == address(0)) revert ZeroAddress();
        if (maxSilence < MIN_SILENCE) revert MaxSilenceTooShort(maxSilence, MIN_SILENCE);
    }
}
