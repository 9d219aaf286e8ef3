// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IFlareRelay} from "./interfaces/IFlareRelay.sol";
import {ITeeExtensionRegistry} from "./interfaces/ITeeExtensionRegistry.sol";
import {ITeeInstructionSender} from "./interfaces/ITeeInstructionSender.sol";
import {ITeeMachineRegistry} from "./interfaces/ITeeMachineRegistry.sol";

/// @title TeeInstructionSender
/// @notice Takes instructions for an extension's TEE machines, charges the extension's fee and
/// emits `TeeInstructionsSent`, which the proxies and data providers act on.
contract TeeInstructionSender is ITeeInstructionSender {
    /// @notice Most machines one instruction may address.
    uint256 public constant MAX_MACHINES = 32;
    /// @notice Most cosigners (fcc-core's `MAX_COSIGNERS`, docs/PROTOCOL.md §12).
    uint256 public constant MAX_COSIGNERS = 64;
    /// @notice Longest `message` (fcc-core's `MAX_MESSAGE_LEN`): a TEE would refuse a longer one.
    uint256 public constant MAX_MESSAGE_LEN = 65_536;

    ITeeExtensionRegistry public immutable extensions;
    ITeeMachineRegistry public immutable machines;

    /// @notice Instructions sent so far (feeds the instruction ids).
    uint256 public nonce;

    mapping(uint256 extensionId => uint256) public instructionFee;
    mapping(uint256 extensionId => uint256) public collectedFees;

    /// @notice A list or the message is longer than the limit.
    error TooManyEntries(uint256 count, uint256 maximum);
    /// @notice The relay given is not the machine registry's.
    error RelayMismatch(address relay, address machinesRelay);

    /// @param relay_ must be `machines_.relay()`: the sender follows the registry's relay (kept
    /// as a parameter so a deployment states which relay it expects).
    constructor(ITeeExtensionRegistry extensions_, ITeeMachineRegistry machines_, IFlareRelay relay_) {
        if (address(relay_) != address(machines_.relay())) {
            revert RelayMismatch(address(relay_), address(machines_.relay()));
        }
        extensions = extensions_;
        machines = machines_;
    }

    /// @notice The relay whose latest epoch instructions are sent under: the machine registry's,
    /// so both follow a redeployed relay together (`ITeeMachineRegistry.setRelay`).
    function relay() public view returns (IFlareRelay) {
        return machines.relay();
    }

    /// @inheritdoc ITeeInstructionSender
    function sendInstructions(
        uint256 extensionId,
        address[] calldata teeIds,
        bytes32 opType,
        bytes32 opCommand,
        bytes calldata message,
        address[] calldata cosigners,
        uint64 cosignersThreshold,
        address claimBackAddress
    ) external payable returns (bytes32 instructionId) {
        uint256 fee = instructionFee[extensionId];
        if (msg.value < fee) revert FeeTooLow(msg.value, fee);
        if (opType == bytes32(0) || opCommand == bytes32(0)) revert OperationInvalid();
        if (message.length > MAX_MESSAGE_LEN) revert TooManyEntries(message.length, MAX_MESSAGE_LEN);
        _checkCosigners(cosigners, cosignersThreshold);
        TeeMachine[] memory targets = _targets(extensionId, teeIds);
        collectedFees[extensionId] += msg.value;
        instructionId = _emit(
            extensionId, targets, opType, opCommand, message, cosigners, cosignersThreshold, claimBackAddress
        );
    }

    /// @dev Numbers the instruction and emits it under the relay's latest epoch.
    function _emit(
        uint256 extensionId,
        TeeMachine[] memory targets,
        bytes32 opType,
        bytes32 opCommand,
        bytes calldata message,
        address[] memory cosigners,
        uint64 cosignersThreshold,
        address claimBackAddress
    ) private returns (bytes32 instructionId) {
        uint256 n = ++nonce;
        instructionId = keccak256(abi.encode(block.chainid, address(this), n));
        (uint32 rewardEpochId,) = relay().lastInitializedRewardEpochData();
        emit TeeInstructionsSent(
            extensionId,
            instructionId,
            rewardEpochId,
            targets,
            opType,
            opCommand,
            message,
            cosigners,
            cosignersThreshold,
            claimBackAddress,
            msg.value
        );
    }

    /// @inheritdoc ITeeInstructionSender
    function sendAttestationRequest(uint256 extensionId, TeeMachine calldata target, bytes calldata message)
        external
        returns (bytes32 instructionId)
    {
        if (msg.sender != address(machines)) revert NotMachineRegistry(msg.sender);
        TeeMachine[] memory targets = new TeeMachine[](1);
        targets[0] = target;
        instructionId =
            _emit(extensionId, targets, "F_REG", "TEE_ATTESTATION", message, new address[](0), 0, address(0));
    }

    /// @inheritdoc ITeeInstructionSender
    function setInstructionFee(uint256 extensionId, uint256 fee) external {
        _requireExtensionOwner(extensionId);
        instructionFee[extensionId] = fee;
        emit InstructionFeeSet(extensionId, fee);
    }

    /// @inheritdoc ITeeInstructionSender
    function withdrawFees(uint256 extensionId, address payable to) external {
        _requireExtensionOwner(extensionId);
        uint256 amount = collectedFees[extensionId];
        collectedFees[extensionId] = 0;
        emit FeesWithdrawn(extensionId, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    function _requireExtensionOwner(uint256 extensionId) private view {
        if (extensions.extensionOwner(extensionId) != msg.sender) {
            revert NotExtensionOwner(extensionId, msg.sender);
        }
    }

    function _checkCosigners(address[] calldata cosigners, uint64 threshold) private pure {
        uint256 n = cosigners.length;
        if (n > MAX_COSIGNERS) revert TooManyEntries(n, MAX_COSIGNERS);
        if (threshold > n) revert CosignersThresholdInvalid(threshold, n);
        for (uint256 i; i < n; ++i) {
            if (cosigners[i] == address(0)) revert CosignerInvalid(address(0));
            for (uint256 j; j < i; ++j) {
                if (cosigners[j] == cosigners[i]) revert CosignerInvalid(cosigners[i]);
            }
        }
    }

    function _targets(uint256 extensionId, address[] calldata teeIds)
        private
        view
        returns (TeeMachine[] memory targets)
    {
        uint256 n = teeIds.length;
        if (n > MAX_MACHINES) revert TooManyEntries(n, MAX_MACHINES);
        if (n == 0) {
            targets = new TeeMachine[](1);
            targets[0] = _target(
                machines.selectProductionMachine(extensionId, keccak256(abi.encode(nonce, msg.sender)))
            );
            return targets;
        }
        targets = new TeeMachine[](n);
        for (uint256 i; i < n; ++i) {
            address teeId = teeIds[i];
            if (!machines.isProductionTee(extensionId, teeId)) revert MachineNotInProduction(teeId);
            for (uint256 j; j < i; ++j) {
                if (teeIds[j] == teeId) revert DuplicateMachine(teeId);
            }
            targets[i] = _target(teeId);
        }
    }

    function _target(address teeId) private view returns (TeeMachine memory) {
        ITeeMachineRegistry.Machine memory m = machines.machine(teeId);
        return TeeMachine({teeId: teeId, teeProxyId: m.proxyId, url: m.proxyUrl});
    }
}
