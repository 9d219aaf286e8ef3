// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ITeeMachineRegistry} from "./interfaces/ITeeMachineRegistry.sol";
import {ITeeResultVerifier} from "./interfaces/ITeeResultVerifier.sol";
import {ActionResults} from "./libraries/ActionResults.sol";
import {ExtensionResults} from "./libraries/ExtensionResults.sol";
import {FccSignatures} from "./libraries/FccSignatures.sol";
import {ActionResult} from "./types/ActionResult.sol";

/// @title TeeResultVerifier
/// @notice Checks that an ActionResult was signed, on this chain, by a production TEE of an
/// extension whose code version is enabled — and, for a compute extension's result, that it names
/// that extension, the operation and the machine's code (`verifyExtensionResult`). Contracts consuming results call `verifyResult`
/// (or inherit the same check through `ActionResults` and `ITeeMachineRegistry.isProductionTee`).
contract TeeResultVerifier is ITeeResultVerifier {
    /// @notice Where production machines are looked up.
    ITeeMachineRegistry public immutable machines;
    /// @dev keccak256("refused"): the submission tag of a refusal (docs/PROTOCOL.md §6).
    bytes32 private constant REFUSED_TAG_HASH = keccak256("refused");

    constructor(ITeeMachineRegistry machines_) {
        machines = machines_;
    }

    /// @inheritdoc ITeeResultVerifier
    function verifyResult(uint256 extensionId, ActionResult calldata result, bytes calldata signature)
        external
        view
        returns (address teeId)
    {
        if (keccak256(bytes(result.submissionTag)) == REFUSED_TAG_HASH) revert RefusalNotResult(result.id);
        return _verify(extensionId, ActionResults.hash(result), signature);
    }

    /// @inheritdoc ITeeResultVerifier
    function verifyExtensionResult(
        uint256 extensionId,
        bytes32 opType,
        bytes32 opCommand,
        ActionResult calldata result,
        bytes calldata signature
    ) external view returns (address teeId, bytes32 codeHash, bytes memory output) {
        if (keccak256(bytes(result.submissionTag)) == REFUSED_TAG_HASH) revert RefusalNotResult(result.id);
        teeId = _verify(extensionId, ActionResults.hash(result), signature);
        if (result.status != ActionResults.STATUS_SUCCESS) revert ExtensionFailed(result.id);
        ExtensionResults.Envelope memory e = ExtensionResults.decode(result.data);
        if (e.extensionId != extensionId || e.opType != opType || e.opCommand != opCommand) {
            revert ExtensionMismatch(e.extensionId, e.opType, e.opCommand);
        }
        bytes32 registered = machines.machine(teeId).codeHash;
        if (e.codeHash != registered) revert CodeMismatch(registered, e.codeHash);
        return (teeId, e.codeHash, e.output);
    }

    /// @inheritdoc ITeeResultVerifier
    function verifyResultHash(uint256 extensionId, bytes32 resultHash, bytes calldata signature)
        external
        view
        returns (address teeId)
    {
        return _verify(extensionId, resultHash, signature);
    }

    function _verify(uint256 extensionId, bytes32 resultHash, bytes calldata signature)
        private
        view
        returns (address teeId)
    {
        teeId = FccSignatures.recoverCalldata(
            ActionResults.signingDigest(resultHash, block.chainid), signature
        );
        if (!machines.isProductionTee(extensionId, teeId)) revert NotProductionTee(extensionId, teeId);
    }
}
