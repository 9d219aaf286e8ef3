// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ActionResult} from "../types/ActionResult.sol";

/// @title ITeeResultVerifier
/// @notice Accepts an ActionResult only when it is signed by a production TEE of the extension
/// running an enabled code version.
interface ITeeResultVerifier {
    /// @notice The result's signer is not a production TEE of the extension with allowed code.
    error NotProductionTee(uint256 extensionId, address signer);

    /// @notice The TEE that signed `result` on this chain, reverting unless it is a production
    /// machine of `extensionId` running an enabled code version, or the signature is malformed.
    function verifyResult(uint256 extensionId, ActionResult calldata result, bytes calldata signature)
        external
        view
        returns (address teeId);

    /// @notice `verifyResult` for a result hash (docs/PROTOCOL.md §6) instead of the whole result.
    function verifyResultHash(uint256 extensionId, bytes32 resultHash, bytes calldata signature)
        external
        view
        returns (address teeId);
}
