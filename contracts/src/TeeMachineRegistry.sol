// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IFlareRelay} from "./interfaces/IFlareRelay.sol";
import {ITeeExtensionRegistry} from "./interfaces/ITeeExtensionRegistry.sol";
import {ITeeMachineRegistry} from "./interfaces/ITeeMachineRegistry.sol";
import {FccSignatures} from "./libraries/FccSignatures.sol";

/// @title TeeMachineRegistry
/// @notice TEE machines of the extensions: registration by an operator, production by data
/// providers' signatures (a relay message checked by the relay's `verifyCustomSignature`),
/// availability kept by their periodic confirmations and lapsing without them, pause, ban, and
/// random selection.
contract TeeMachineRegistry is ITeeMachineRegistry {
    /// @notice Domain of `registrationHash`.
    bytes32 public constant REGISTRATION_DOMAIN = "FCC_TEE_REGISTRATION_V1";
    /// @notice Domain of `productionHash` (as "TEE_INSTRUCTION" for instructions).
    bytes32 public constant PRODUCTION_PREFIX = "TEE_MACHINE_PRODUCTION";
    /// @notice Domain of `availabilityHash`.
    bytes32 public constant AVAILABILITY_PREFIX = "TEE_MACHINE_AVAILABLE";

    /// @notice The extension and code-version registry.
    ITeeExtensionRegistry public immutable extensions;
    /// @notice The signing-policy source: DevRelay or Flare's Relay.
    IFlareRelay public immutable relay;
    /// @inheritdoc ITeeMachineRegistry
    uint64 public immutable availabilityPeriod;

    mapping(address teeId => Machine) private _machines;
    mapping(uint256 extensionId => address[]) private _production;
    /// @dev position + 1 of a machine in its extension's `_production` list (0: not listed).
    mapping(address teeId => uint256) private _productionIndex;

    constructor(ITeeExtensionRegistry extensions_, IFlareRelay relay_, uint64 availabilityPeriod_) {
        extensions = extensions_;
        relay = relay_;
        availabilityPeriod = availabilityPeriod_;
    }

    /// @inheritdoc ITeeMachineRegistry
    function register(
        uint256 extensionId,
        bytes calldata publicKey,
        bytes32 codeHash,
        bytes32 platform,
        string calldata proxyUrl
    ) external returns (address teeId) {
        if (publicKey.length != 64) revert PublicKeyInvalid();
        if (!extensions.isCodeAllowed(extensionId, codeHash, platform)) {
            revert CodeNotAllowed(extensionId, codeHash, platform);
        }
        teeId = address(uint160(uint256(keccak256(publicKey))));
        Machine storage m = _machines[teeId];
        if (m.status == Status.Pending) {
            if (m.operator != msg.sender) revert NotAuthorised(msg.sender);
        } else if (m.status != Status.None) {
            revert MachineStatusInvalid(teeId, m.status);
        }
        m.status = Status.Pending;
        m.operator = msg.sender;
        m.extensionId = extensionId;
        m.codeHash = codeHash;
        m.platform = platform;
        m.proxyUrl = proxyUrl;
        m.publicKey = publicKey;
        emit TeeMachineRegistered(teeId, extensionId, msg.sender, codeHash, platform, proxyUrl, publicKey);
    }

    /// @inheritdoc ITeeMachineRegistry
    function toProduction(address teeId, bytes calldata relayMessage) external {
        Machine storage m = _machines[teeId];
        if (m.status != Status.Pending) revert MachineStatusInvalid(teeId, m.status);
        if (!extensions.isCodeAllowed(m.extensionId, m.codeHash, m.platform)) {
            revert CodeNotAllowed(m.extensionId, m.codeHash, m.platform);
        }
        uint256 epoch = _verifyRecent(relayMessage, productionHash(teeId));
        m.status = Status.Production;
        m.availableUntil = uint64(block.timestamp) + availabilityPeriod;
        _list(m.extensionId, teeId);
        emit TeeMachineToProduction(teeId, m.extensionId, epoch);
    }

    /// @inheritdoc ITeeMachineRegistry
    function confirmAvailability(address teeId, bytes calldata relayMessage) external {
        Machine storage m = _machines[teeId];
        if (m.status != Status.Production) revert MachineStatusInvalid(teeId, m.status);
        uint256 epoch = _verifyRecent(relayMessage, availabilityHash(teeId));
        m.availableUntil = uint64(block.timestamp) + availabilityPeriod;
        emit TeeMachineAvailabilityConfirmed(teeId, m.availableUntil, epoch);
    }

    /// @inheritdoc ITeeMachineRegistry
    function availabilityHash(address teeId) public view returns (bytes32) {
        bytes32 data = keccak256(abi.encode(registrationHash(teeId), _machines[teeId].availableUntil));
        return FccSignatures.payloadHash(AVAILABILITY_PREFIX, block.chainid, data);
    }

    /// @dev The epoch of the policy whose voters signed `messageHash` in `relayMessage`, which
    /// must be the relay's latest or the one before.
    function _verifyRecent(bytes calldata relayMessage, bytes32 messageHash) private returns (uint256 epoch) {
        (uint256 last,) = relay.lastInitializedRewardEpochData();
        if (last == 0) revert NoSigningPolicy();
        epoch = relay.verifyCustomSignature(relayMessage, messageHash);
        if (epoch != last && epoch + 1 != last) revert SigningPolicyTooOld(epoch, last);
    }

    /// @inheritdoc ITeeMachineRegistry
    function pause(address teeId) external {
        Machine storage m = _machines[teeId];
        if (m.status != Status.Production) revert MachineStatusInvalid(teeId, m.status);
        // Anyone may take a lapsed machine out of service; before that, only those who run it.
        // Availability periods are hours or more: a validator's few seconds of drift do not matter.
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp <= m.availableUntil && !_isOperatorOrOwner(m)) {
            revert StillAvailable(teeId, m.availableUntil);
        }
        m.status = Status.Paused;
        _unlist(m.extensionId, teeId);
        emit TeeMachinePaused(teeId, msg.sender);
    }

    /// @inheritdoc ITeeMachineRegistry
    function resume(address teeId) external {
        Machine storage m = _machines[teeId];
        _requireOperatorOrOwner(m);
        if (m.status != Status.Paused) revert MachineStatusInvalid(teeId, m.status);
        if (!extensions.isCodeAllowed(m.extensionId, m.codeHash, m.platform)) {
            revert CodeNotAllowed(m.extensionId, m.codeHash, m.platform);
        }
        m.status = Status.Production;
        _list(m.extensionId, teeId);
        emit TeeMachineResumed(teeId, msg.sender);
    }

    /// @inheritdoc ITeeMachineRegistry
    function ban(address teeId) external {
        Machine storage m = _machines[teeId];
        if (m.status == Status.None) revert MachineStatusInvalid(teeId, m.status);
        if (extensions.extensionOwner(m.extensionId) != msg.sender) revert NotAuthorised(msg.sender);
        if (m.status == Status.Banned) revert MachineStatusInvalid(teeId, m.status);
        if (m.status == Status.Production) _unlist(m.extensionId, teeId);
        m.status = Status.Banned;
        emit TeeMachineBanned(teeId, msg.sender);
    }

    /// @inheritdoc ITeeMachineRegistry
    function machine(address teeId) external view returns (Machine memory) {
        return _machines[teeId];
    }

    /// @inheritdoc ITeeMachineRegistry
    function isProductionTee(uint256 extensionId, address teeId) public view returns (bool) {
        Machine storage m = _machines[teeId];
        // As in `pause`: the period dwarfs a validator's drift.
        // forge-lint: disable-next-line(block-timestamp)
        bool available = block.timestamp <= m.availableUntil;
        return m.status == Status.Production && m.extensionId == extensionId && available
            && extensions.isCodeAllowed(extensionId, m.codeHash, m.platform);
    }

    /// @inheritdoc ITeeMachineRegistry
    function productionMachines(uint256 extensionId) external view returns (address[] memory) {
        return _production[extensionId];
    }

    /// @inheritdoc ITeeMachineRegistry
    function selectProductionMachine(uint256 extensionId, bytes32 salt) external view returns (address) {
        address[] storage list = _production[extensionId];
        uint256 n = list.length;
        if (n != 0) {
            uint256 start = uint256(keccak256(abi.encode(blockhash(block.number - 1), extensionId, salt))) % n;
            // the first machine from `start` on that is productive (code enabled, available)
            for (uint256 i; i < n; ++i) {
                address teeId = list[(start + i) % n];
                if (isProductionTee(extensionId, teeId)) return teeId;
            }
        }
        revert NoProductionMachine(extensionId);
    }

    /// @inheritdoc ITeeMachineRegistry
    function registrationHash(address teeId) public view returns (bytes32) {
        Machine storage m = _machines[teeId];
        if (m.status == Status.None) revert MachineStatusInvalid(teeId, Status.None);
        return keccak256(
            abi.encode(
                REGISTRATION_DOMAIN,
                block.chainid,
                address(this),
                teeId,
                m.operator,
                m.extensionId,
                m.codeHash,
                m.platform,
                keccak256(bytes(m.proxyUrl))
            )
        );
    }

    /// @inheritdoc ITeeMachineRegistry
    function productionHash(address teeId) public view returns (bytes32) {
        return FccSignatures.payloadHash(PRODUCTION_PREFIX, block.chainid, registrationHash(teeId));
    }

    function _requireOperatorOrOwner(Machine storage m) private view {
        if (!_isOperatorOrOwner(m)) revert NotAuthorised(msg.sender);
    }

    function _isOperatorOrOwner(Machine storage m) private view returns (bool) {
        return msg.sender == m.operator || msg.sender == extensions.extensionOwner(m.extensionId);
    }

    function _list(uint256 extensionId, address teeId) private {
        _production[extensionId].push(teeId);
        _productionIndex[teeId] = _production[extensionId].length;
    }

    function _unlist(uint256 extensionId, address teeId) private {
        address[] storage list = _production[extensionId];
        uint256 position = _productionIndex[teeId] - 1;
        address last = list[list.length - 1];
        list[position] = last;
        _productionIndex[last] = position + 1;
        list.pop();
        delete _productionIndex[teeId];
    }
}
