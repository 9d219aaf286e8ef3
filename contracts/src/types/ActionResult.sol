// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice A TEE's answer to an action: tee-node's `ActionResult` (docs/PROTOCOL.md §6). Only
/// `id`, `submissionTag`, `status` and `data` are covered by the TEE's signature; the other
/// fields are carried for completeness and must not be trusted.
struct ActionResult {
    bytes32 id;
    string submissionTag;
    uint8 status;
    string log;
    bytes32 opType;
    bytes32 opCommand;
    bytes additionalResultStatus;
    string version;
    bytes data;
}
