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

    /// @notice The TEE that signed `result` on this chain, reverting unless it is a production
    /// machine of `extensionId` running an enabled code version, or the signature is malformed,
    /// or it is a refusal (`RefusalNotResult`; the TEE signs refusals under another domain,
    /// `TEE_ACTION_REFUSAL`, so their signatures never verify here anyway).
    function verifyResult(uint256 extensionId, ActionResult calldata result, bytes calldata signature)
        external
        view
        returns (address teeId);

    /// @notice `verifyResult` for a result hash (docs/PROTOCOL.md §6) instead of the whole result
    /// (a refusal's signature, made under `TEE_ACTION_REFUSAL`, recovers to no production TEE).
    function verifyResultHash(uint256 extensionId, bytes32 resultHash, bytes calldata signature)
        external
        view
        returns (address teeId);
}
