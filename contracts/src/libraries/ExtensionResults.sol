// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {FccSignatures} from "./FccSignatures.sol";

/// @title ExtensionResults
/// @notice The result data of a compute extension's instruction and the signatures an extension
/// asks the TEE for (docs/PROTOCOL.md §13, fcc-core `extension`):
/// `data = abi.encode(uint256 extensionId, bytes32 codeHash, bytes32 opType, bytes32 opCommand, bytes output)`,
/// `digest = EIP-191(keccak(bytes32("TEE_EXTENSION") ‖ uint256 chainId ‖ keccak(extensionId ‖ domain ‖ dataHash)))`.
library ExtensionResults {
    /// @notice `bytes32("TEE_EXTENSION")`: the prefix of every extension signature.
    bytes32 internal constant EXTENSION_PREFIX = "TEE_EXTENSION";

    /// @notice The envelope of an extension's output.
    struct Envelope {
        uint256 extensionId;
        bytes32 codeHash;
        bytes32 opType;
        bytes32 opCommand;
        bytes output;
    }

    /// @notice The envelope in a result's `data` (reverts unless it decodes).
    function decode(bytes memory data) internal pure returns (Envelope memory e) {
        (e.extensionId, e.codeHash, e.opType, e.opCommand, e.output) =
            abi.decode(data, (uint256, bytes32, bytes32, bytes32, bytes));
    }

    /// @notice The digest of an extension signature under `domain` over `dataHash` on `chainId`.
    function signingDigest(uint256 extensionId, bytes32 domain, bytes32 dataHash, uint256 chainId)
        internal
        pure
        returns (bytes32)
    {
        bytes32 inner = keccak256(abi.encode(extensionId, domain, dataHash));
        return
            FccSignatures.toEthSignedMessageHash(FccSignatures.payloadHash(EXTENSION_PREFIX, chainId, inner));
    }
}
