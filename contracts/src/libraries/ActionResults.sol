// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ActionResult} from "../types/ActionResult.sol";
import {FccSignatures} from "./FccSignatures.sol";

/// @title ActionResults
/// @notice The hash of an ActionResult and the digest the TEE signs (docs/PROTOCOL.md §6):
/// `resultHash = keccak(keccak(data) ‖ id ‖ keccak(submissionTag) ‖ uint8 status)`,
/// `digest = EIP-191(keccak(bytes32("TEE_ACTION_RESULT") ‖ uint256 chainId ‖ resultHash))`.
library ActionResults {
    /// @notice `bytes32("TEE_ACTION_RESULT")`: the ASCII name right-padded with zero bytes.
    bytes32 internal constant RESULT_PREFIX = "TEE_ACTION_RESULT";
    /// @notice `status` of a successful action (0 is a refusal or failure).
    uint8 internal constant STATUS_SUCCESS = 1;

    /// @notice The result hash over the signed fields (97 bytes hashed).
    function resultHash(bytes32 id, string memory submissionTag, uint8 status, bytes memory data)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encodePacked(keccak256(data), id, keccak256(bytes(submissionTag)), status));
    }

    /// @notice `resultHash` of a whole result.
    function hash(ActionResult memory result) internal pure returns (bytes32) {
        return resultHash(result.id, result.submissionTag, result.status, result.data);
    }

    /// @notice The 32 bytes the TEE's ECDSA signature is over, for a result hash on `chainId`.
    function signingDigest(bytes32 resultHash_, uint256 chainId) internal pure returns (bytes32) {
        return
            FccSignatures.toEthSignedMessageHash(
                FccSignatures.payloadHash(RESULT_PREFIX, chainId, resultHash_)
            );
    }

    /// @notice The signing digest of `result` on this chain (`block.chainid`).
    function digest(ActionResult memory result) internal view returns (bytes32) {
        return signingDigest(hash(result), block.chainid);
    }

    /// @notice The TEE that signed `result` on this chain (reverts on a malformed signature).
    function signer(ActionResult memory result, bytes calldata signature) internal view returns (address) {
        return FccSignatures.recoverCalldata(digest(result), signature);
    }
}
