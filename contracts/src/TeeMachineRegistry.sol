// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IFlareRelay} from "./interfaces/IFlareRelay.sol";
import {ITeeExtensionRegistry} from "./interfaces/ITeeExtensionRegistry.sol";
import {ITeeInstructionSender} from "./interfaces/ITeeInstructionSender.sol";
import {ITeeMachineRegistry} from "./interfaces/ITeeMachineRegistry.sol";
import {FccSignatures} from "./libraries/FccSignatures.sol";

/// @title TeeMachineRegistry
/// @notice TEE machines of the extensions: registration signed by the TEE itself for the owner
/// it was given, an attestation request with a challenge drawn on chain, production by data
/// providers' signatures once they checked the answer (a relay message checked by the relay's
/// `verifyCustomSignature`), availability kept by their periodic confirmations and lapsing
/// without them, pause, ban, and random selection.
contract TeeMachineRegistry is ITeeMachineRegistry {
    /// @notice Longest proxy URL (fcc-core's `MAX_URL_LEN`: the TEE refuses an attestation request
    /// naming a longer one).
    uint256 public constant MAX_URL_LEN = 2048;
    /// @notice Domain of `registrationHash`.
    bytes32 public constant REGISTRATION_DOMAIN = "FCC_TEE_REGISTRATION_V2";
    /// @notice Domain of what a TEE signs to be registered (Flare's `TEE_MACHINE_REGISTER`).
    bytes32 public constant MACHINE_REGISTER_PREFIX = "TEE_MACHINE_REGISTER";
    /// @notice The registration's attestation instruction: F_REG/TEE_ATTESTATION.
    bytes32 public constant REG_OP_TYPE = "F_REG";
    bytes32 public constant TEE_ATTESTATION_COMMAND = "TEE_ATTESTATION";
    /// @notice Domain of `productionHash` (as "TEE_INSTRUCTION" for instructions).
    bytes32 public constant PRODUCTION_PREFIX = "TEE_MACHINE_PRODUCTION";
    /// @notice Domain of `availabilityHash`.
    bytes32 public constant AVAILABILITY_PREFIX = "TEE_MACHINE_AVAILABLE";
    /// @notice Domain of `relayChangeHash`.
    bytes32 public constant RELAY_CHANGE_PREFIX = "FCC_RELAY_CHANGE";

    /// @notice The extension and code-version registry.
    ITeeExtensionRegistry public immutable extensions;
    /// @inheritdoc ITeeMachineRegistry
    IFlareRelay public relay;
    /// @inheritdoc ITeeMachineRegistry
    uint64 public immutable availabilityPeriod;
    /// @notice Who may bind the instruction sender (once).
    address private immutable _deployer;
    /// @notice Carries the attestation requests (`setInstructionSender`).
    ITeeInstructionSender public instructionSender;
    /// @dev Registrations so far: feeds the challenges.
    uint256 private _registrations;

    mapping(address teeId => Machine) private _machines;
    mapping(uint256 extensionId => address[]) private _production;
    /// @dev position + 1 of a machine in its extension's `_production` list (0: not listed).
    mapping(address teeId => uint256) private _productionIndex;
    /// @dev Who paused a paused machine (only that role resumes it).
    mapping(address teeId => PauseRole) private _pauseRoles;

    constructor(ITeeExtensionRegistry extensions_, IFlareRelay relay_, uint64 availabilityPeriod_) {
        extensions = extensions_;
        relay = relay_;
        availabilityPeriod = availabilityPeriod_;
        _deployer = msg.sender;
    }

    /// @inheritdoc ITeeMachineRegistry
    function setInstructionSender(address sender) external {
        if (msg.sender != _deployer || address(instructionSender) != address(0) || sender == address(0)) {
            revert InstructionSenderInvalid();
        }
        instructionSender = ITeeInstructionSender(sender);
    }

    /// @inheritdoc ITeeMachineRegistry
    function register(
        TeeMachineData calldata data,
        Signature calldata signature,
        address proxyId,
        string calldata proxyUrl
    ) external returns (address teeId) {
        if (msg.sender != data.initialOwner) revert NotAuthorised(msg.sender);
        // The governance the TEE booted with must be the extension's now; a later change does
        // not reach machines already registered.
        bytes32 governance = extensions.governanceHash(data.extensionId);
        if (data.governanceHash != governance) revert GovernanceHashInvalid(data.governanceHash, governance);
        if (proxyId == address(0) || bytes(proxyUrl).length == 0 || bytes(proxyUrl).length > MAX_URL_LEN) {
            revert ProxyInvalid();
        }
        if (address(instructionSender) == address(0)) revert InstructionSenderInvalid();
        bytes memory publicKey = abi.encodePacked(data.publicKey.x, data.publicKey.y);
        teeId = address(uint160(uint256(keccak256(publicKey))));
        address signer = FccSignatures.recover(machineDataDigest(data), signature.r, signature.s, signature.v);
        if (signer != teeId) revert RegistrationSignatureInvalid(signer);
        if (!extensions.isCodeAllowed(data.extensionId, data.codeHash, data.platform)) {
            revert CodeNotAllowed(data.extensionId, data.codeHash, data.platform);
        }
        Machine storage m = _machines[teeId];
        if (m.status == Status.Pending) {
            if (m.owner != msg.sender) revert NotAuthorised(msg.sender);
        } else if (m.status != Status.None) {
            revert MachineStatusInvalid(teeId, m.status);
        }
        m.status = Status.Pending;
        m.owner = msg.sender;
        m.proxyId = proxyId;
        m.extensionId = data.extensionId;
        m.codeHash = data.codeHash;
        m.platform = data.platform;
        m.governanceHash = data.governanceHash;
        m.proxyUrl = proxyUrl;
        m.publicKey = publicKey;
        _requestAttestation(m, teeId);
        emit TeeMachineRegistered(
            teeId,
            data.extensionId,
            msg.sender,
            proxyId,
            data.codeHash,
            data.platform,
            proxyUrl,
            m.challenge,
            m.attestationInstructionId
        );
    }

    /// @inheritdoc ITeeMachineRegistry
    function machineDataDigest(TeeMachineData calldata data) public view returns (bytes32) {
        bytes32 payload =
            FccSignatures.payloadHash(MACHINE_REGISTER_PREFIX, block.chainid, keccak256(abi.encode(data)));
        return FccSignatures.toEthSignedMessageHash(payload);
    }

    /// @dev Draws a challenge and sends `m` the F_REG/TEE_ATTESTATION instruction carrying it.
    /// The challenge only has to be unknown before the previous block (evidence over it was made
    /// after that) and unique (a count is in it); a proposer's influence over it gains nothing.
    /// Only the owner can ask again, by registering again while pending.
    function _requestAttestation(Machine storage m, address teeId) private {
        bytes32 challenge =
            keccak256(abi.encode(blockhash(block.number - 1), address(this), teeId, ++_registrations));
        TeeAttestation memory request = TeeAttestation({
            teeMachine: TeeMachineWithAttestationData({
                teeId: teeId,
                initialTeeId: address(0),
                url: m.proxyUrl,
                codeHash: m.codeHash,
                platform: m.platform
            }),
            challenge: challenge
        });
        ITeeInstructionSender.TeeMachine memory target =
            ITeeInstructionSender.TeeMachine({teeId: teeId, teeProxyId: m.proxyId, url: m.proxyUrl});
        m.challenge = challenge;
        m.attestationInstructionId =
            instructionSender.sendAttestationRequest(m.extensionId, target, abi.encode(request));
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
    function setRelay(IFlareRelay newRelay, bytes calldata relayMessage) external {
        IFlareRelay old = relay;
        if (address(newRelay) == address(0) || address(newRelay) == address(old)) {
            revert RelayInvalid(address(newRelay));
        }
        // The voters the registry trusts now elect their successor source: no new trust, and a
        // relay that stopped advancing can be left by the last voters it knows.
        uint256 epoch = _verifyRecent(relayMessage, relayChangeHash(newRelay));
        (uint256 oldLast,) = old.lastInitializedRewardEpochData();
        (uint256 newLast,) = newRelay.lastInitializedRewardEpochData();
        if (newLast < oldLast) revert RelayBehind(newLast, oldLast);
        relay = newRelay;
        emit RelayChanged(address(old), address(newRelay), epoch);
    }

    /// @inheritdoc ITeeMachineRegistry
    function relayChangeHash(IFlareRelay newRelay) public view returns (bytes32) {
        bytes32 data = keccak256(abi.encode(address(this), address(relay), address(newRelay)));
        return FccSignatures.payloadHash(RELAY_CHANGE_PREFIX, block.chainid, data);
    }

    /// @inheritdoc ITeeMachineRegistry
    function pause(address teeId) external {
        Machine storage m = _machines[teeId];
        if (m.status != Status.Production) revert MachineStatusInvalid(teeId, m.status);
        PauseRole role = _roleOf(m);
        // Anyone may take an unproductive machine (availability lapsed or code version disabled)
        // out of service and out of the production list, which selection walks; a productive
        // one only its owners.
        if (role == PauseRole.Anyone && _productive(m)) revert StillAvailable(teeId, m.availableUntil);
        m.status = Status.Paused;
        _pauseRoles[teeId] = role;
        _unlist(m.extensionId, teeId);
        emit TeeMachinePaused(teeId, msg.sender);
    }

    /// @inheritdoc ITeeMachineRegistry
    function resume(address teeId) external {
        Machine storage m = _machines[teeId];
        if (m.status != Status.Paused) revert MachineStatusInvalid(teeId, m.status);
        PauseRole pausedBy = _pauseRoles[teeId];
        bool isOwner = msg.sender == m.owner;
        bool isExtensionOwner = msg.sender == extensions.extensionOwner(m.extensionId);
        // Only the pausing role resumes: the operator cannot undo the extension owner's pause,
        // nor the extension owner the operator's; a pause by anyone, either of them.
        bool allowed = pausedBy == PauseRole.ExtensionOwner
            ? isExtensionOwner
            : pausedBy == PauseRole.Owner ? isOwner : isOwner || isExtensionOwner;
        if (!allowed) revert NotAuthorised(msg.sender);
        if (!extensions.isCodeAllowed(m.extensionId, m.codeHash, m.platform)) {
            revert CodeNotAllowed(m.extensionId, m.codeHash, m.platform);
        }
        m.status = Status.Production;
        delete _pauseRoles[teeId];
        _list(m.extensionId, teeId);
        emit TeeMachineResumed(teeId, msg.sender);
    }

    /// @inheritdoc ITeeMachineRegistry
    function pauseRole(address teeId) external view returns (PauseRole) {
        return _pauseRoles[teeId];
    }

    /// @inheritdoc ITeeMachineRegistry
    function ban(address teeId) external {
        Machine storage m = _machines[teeId];
        // Only a machine that was in production: a pending registration proves nothing about
        // the key (its attestation is unchecked), and banning it would block the key for good.
        if (m.status != Status.Production && m.status != Status.Paused) {
            revert MachineStatusInvalid(teeId, m.status);
        }
        if (extensions.extensionOwner(m.extensionId) != msg.sender) revert NotAuthorised(msg.sender);
        if (m.status == Status.Production) _unlist(m.extensionId, teeId);
        m.status = Status.Banned;
        delete _pauseRoles[teeId];
        emit TeeMachineBanned(teeId, msg.sender);
    }

    /// @inheritdoc ITeeMachineRegistry
    function machine(address teeId) external view returns (Machine memory) {
        return _machines[teeId];
    }

    /// @inheritdoc ITeeMachineRegistry
    function isProductionTee(uint256 extensionId, address teeId) public view returns (bool) {
        Machine storage m = _machines[teeId];
        return m.status == Status.Production && m.extensionId == extensionId && _productive(m);
    }

    /// @inheritdoc ITeeMachineRegistry
    function productionIndex(address teeId) external view returns (uint256) {
        return _productionIndex[teeId];
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
                m.owner,
                m.proxyId,
                m.extensionId,
                m.codeHash,
                m.platform,
                keccak256(bytes(m.proxyUrl)),
                m.challenge
            )
        );
    }

    /// @inheritdoc ITeeMachineRegistry
    function productionHash(address teeId) public view returns (bytes32) {
        return FccSignatures.payloadHash(PRODUCTION_PREFIX, block.chainid, registrationHash(teeId));
    }

    /// @dev Available (not lapsed) and on a code version still enabled.
    function _productive(Machine storage m) private view returns (bool) {
        // Availability periods are hours or more: a validator's few seconds of drift do not matter.
        // forge-lint: disable-next-line(block-timestamp)
        return block.timestamp <= m.availableUntil
            && extensions.isCodeAllowed(m.extensionId, m.codeHash, m.platform);
    }

    /// @dev The caller's role over `m`: its extension's owner before its owner (one address may
    /// be both), anyone else.
    function _roleOf(Machine storage m) private view returns (PauseRole) {
        if (msg.sender == extensions.extensionOwner(m.extensionId)) return PauseRole.ExtensionOwner;
        return msg.sender == m.owner ? PauseRole.Owner : PauseRole.Anyone;
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
