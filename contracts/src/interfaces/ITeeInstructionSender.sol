// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ITeeInstructionSender
/// @notice Sends instructions to an extension's production TEE machines for a fee, emitting
/// Flare's `TeeInstructionsSent` for the proxies and data providers to pick up.
interface ITeeInstructionSender {
    /// @notice A machine addressed by an instruction (Flare's `TeeMachine`): the TEE's id, its
    /// proxy's id (its registered `proxyId`) and the proxy URL.
    struct TeeMachine {
        address teeId;
        address teeProxyId;
        string url;
    }

    /// @notice Emitted for every instruction (Flare's field list).
    event TeeInstructionsSent(
        uint256 indexed extensionId,
        bytes32 indexed instructionId,
        uint32 indexed rewardEpochId,
        TeeMachine[] teeMachines,
        bytes32 opType,
        bytes32 opCommand,
        bytes message,
        address[] cosigners,
        uint64 cosignersThreshold,
        address claimBackAddress,
        uint256 fee
    );
    /// @notice Emitted when an extension owner sets the fee of its instructions.
    event InstructionFeeSet(uint256 indexed extensionId, uint256 fee);
    /// @notice Emitted when an extension owner withdraws collected fees.
    event FeesWithdrawn(uint256 indexed extensionId, address indexed to, uint256 amount);

    /// @notice The value sent is below the extension's fee.
    error FeeTooLow(uint256 sent, uint256 required);
    /// @notice A listed machine is not a production machine of the extension.
    error MachineNotInProduction(address teeId);
    /// @notice A machine is listed twice.
    error DuplicateMachine(address teeId);
    /// @notice A cosigner is listed twice or is zero.
    error CosignerInvalid(address cosigner);
    /// @notice `cosignersThreshold` is above the number of cosigners.
    error CosignersThresholdInvalid(uint64 threshold, uint256 cosigners);
    /// @notice opType and opCommand must be non-zero.
    error OperationInvalid();
    /// @notice Only the machine registry sends attestation requests.
    error NotMachineRegistry(address caller);
    /// @notice The caller is not the extension's owner.
    error NotExtensionOwner(uint256 extensionId, address caller);
    /// @notice The fee transfer failed.
    error TransferFailed();

    /// @notice Sends an instruction to `teeIds` (or, if empty, one machine drawn at random).
    /// @param opType operation type, an ASCII name right-padded to 32 bytes (e.g. "F_FDC2").
    /// @param opCommand operation command, same form (e.g. "PROVE").
    /// @param message the instruction's `originalMessage`.
    /// @param claimBackAddress where unspent fees may be returned (recorded, informational here).
    /// @return instructionId `keccak(abi.encode(chainId, this, nonce))`.
    function sendInstructions(
        uint256 extensionId,
        address[] calldata teeIds,
        bytes32 opType,
        bytes32 opCommand,
        bytes calldata message,
        address[] calldata cosigners,
        uint64 cosignersThreshold,
        address claimBackAddress
    ) external payable returns (bytes32 instructionId);

    /// @notice Sends the machine registry's F_REG/TEE_ATTESTATION instruction to one (pending)
    /// machine, without fee or cosigners (machine registry only).
    /// @param message `abi.encode(ITeeMachineRegistry.TeeAttestation)`.
    /// @return instructionId as `sendInstructions`.
    function sendAttestationRequest(uint256 extensionId, TeeMachine calldata target, bytes calldata message)
        external
        returns (bytes32 instructionId);

    /// @notice Sets the fee of the extension's instructions (extension owner).
    function setInstructionFee(uint256 extensionId, uint256 fee) external;

    /// @notice Sends the extension's collected fees to `to` (extension owner).
    function withdrawFees(uint256 extensionId, address payable to) external;

    /// @notice The fee of the extension's instructions.
    function instructionFee(uint256 extensionId) external view returns (uint256);

    /// @notice Fees collected and not yet withdrawn.
    function collectedFees(uint256 extensionId) external view returns (uint256);
}
