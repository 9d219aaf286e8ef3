// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ActionResult} from "../types/ActionResult.sol";

/// @title ITeeResultVerifier
/// @notice Accepts an ActionResult only when it is signed by a production TEE of the extension
/// running an enabled code version.
interface ITeeResultVerifier {
    /// @notice The result's signer is not a production TEE of the extension with allowed code.
    error NotProductionTee(uint256 extensionId, address signer);
    /// @notice The "result" is a refusal (submission tag `refused`): the TEE executed nothing for
    /// this id, so it is no result of the instruction (a genuine delivery may still produce one).
    error RefusalNotResult(bytes32 id);
    /// @notice An extension result that failed (status 0): the instruction ran, the extension
    /// refused it (its log says why).
    error ExtensionFailed(bytes32 id);
    /// @notice The result's envelope names another extension or operation than the one asked
    /// about.
    error ExtensionMismatch(uint256 extensionId, bytes32 opType, bytes32 opCommand);
    /// @notice The result's envelope names other code than the signing machine registered.
    error CodeMismatch(bytes32 registered, bytes32 named);

    /// @notice The TEE that signed `result` on this chain, reverting unless it is a production
    /// machine of `extensionId` running an enabled code version, or the signature is malformed,
    /// or it is a refusal (`RefusalNotResult`; the TEE signs refusals under another domain,
    /// `TEE_ACTION_REFUSAL`, so their signatures never verify here anyway).
    function verifyResult(uint256 extensionId, ActionResult calldata result, bytes calldata signature)
        external
        view
        returns (address teeId);

    /// @notice For a compute extension's result: `verifyResult`, then the envelope in its data
    /// must name `extensionId`, `opType` and `opCommand` and the code hash the signing machine
    /// registered (whose code version `verifyResult` found enabled), and the status must be
    /// success. Returns the TEE, that code hash and the extension's output.
    function verifyExtensionResult(
        uint256 extensionId,
        bytes32 opType,
        bytes32 opCommand,
        ActionResult calldata result,
        bytes calldata signature
    ) external view returns (address teeId, bytes32 codeHash, bytes memory output);

    /// @notice `verifyResult` for a result hash (docs/PROTOCOL.md §6) instead of the whole result
    /// (a refusal's signature, made under `TEE_ACTION_REFUSAL`, recovers to no production TEE).
    function verifyResultHash(uint256 extensionId, bytes32 resultHash, bytes calldata signature)
        external
        view
        returns (address teeId);
}
