// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice A decoded signing policy (docs/PROTOCOL.md §2).
struct SigningPolicy {
    uint24 rewardEpochId;
    uint32 startVotingRoundId;
    uint16 threshold;
    uint256 seed;
    address[] voters;
    uint16[] weights;
}

/// @title SigningPolicies
/// @notice Flare's signing-policy bytes (`43 + 22·n`, big-endian, packed: `uint16 n ‖ uint24
/// rewardEpochId ‖ uint32 startVotingRoundId ‖ uint16 threshold ‖ bytes32 seed`, then `address ‖
/// uint16 weight` per voter) and their two hashes (docs/PROTOCOL.md §2).
library SigningPolicies {
    /// @notice The bytes are not `43 + 22·n` long for their voter count `n`.
    error PolicyLengthInvalid(uint256 length);
    /// @notice The voter count is 0 or above 300.
    error PolicyVoterCountInvalid(uint256 count);
    /// @notice The weights sum above 65535.
    error PolicyWeightOverflow(uint256 totalWeight);
    /// @notice The threshold is not below the total weight (no set of voters could pass it).
    error PolicyThresholdUnreachable(uint16 threshold, uint256 totalWeight);

    /// @notice Fixed header: n (2) + rewardEpochId (3) + startVotingRoundId (4) + threshold (2) + seed (32).
    uint256 internal constant HEADER_LENGTH = 43;
    /// @notice One voter: address (20) + weight (2).
    uint256 internal constant VOTER_LENGTH = 22;
    /// @notice Most voters a policy may have.
    uint256 internal constant MAX_VOTERS = 300;

    /// @notice Decodes and checks policy bytes (length, voter count, weight sum, threshold). Voter
    /// distinctness is left to the caller, which indexes the voters anyway.
    /// @return policy the decoded fields; `totalWeight` the sum of the weights.
    function decode(bytes memory raw)
        internal
        pure
        returns (SigningPolicy memory policy, uint256 totalWeight)
    {
        if (raw.length < HEADER_LENGTH) {
            revert PolicyLengthInvalid(raw.length);
        }
        uint256 header;
        uint256 seed;
        assembly ("memory-safe") {
            header := mload(add(raw, 0x20))
            seed := mload(add(raw, 0x2b)) // bytes 11..43
        }
        uint256 n = header >> 240;
        if (n == 0 || n > MAX_VOTERS) revert PolicyVoterCountInvalid(n);
        if (raw.length != HEADER_LENGTH + VOTER_LENGTH * n) revert PolicyLengthInvalid(raw.length);
        // big-endian fields of the first word: truncation selects each field
        // forge-lint: disable-next-line(unsafe-typecast)
        policy.rewardEpochId = uint24(header >> 216);
        // (same)
        // forge-lint: disable-next-line(unsafe-typecast)
        policy.startVotingRoundId = uint32(header >> 184);
        // (same)
        // forge-lint: disable-next-line(unsafe-typecast)
        policy.threshold = uint16(header >> 168);
        policy.seed = seed;
        policy.voters = new address[](n);
        policy.weights = new uint16[](n);
        for (uint256 i; i < n; ++i) {
            uint256 word;
            assembly ("memory-safe") {
                word := mload(add(add(raw, 0x4b), mul(i, 22))) // 0x20 + 43 + 22·i
            }
            // the voter's 20 address bytes lead the word
            // forge-lint: disable-next-line(unsafe-typecast)
            policy.voters[i] = address(uint160(word >> 96));
            // then its 2 weight bytes
            // forge-lint: disable-next-line(unsafe-typecast)
            uint16 weight = uint16(word >> 80);
            policy.weights[i] = weight;
            totalWeight += weight;
        }
        if (totalWeight > type(uint16).max) revert PolicyWeightOverflow(totalWeight);
        if (policy.threshold >= totalWeight) {
            revert PolicyThresholdUnreachable(policy.threshold, totalWeight);
        }
    }

    /// @notice The legacy hash (Relay before RLY-23, go-flare-common `Hash`): the bytes
    /// zero-padded to 32-byte chunks c0, c1, …; h = keccak(c0 ‖ c1), then h = keccak(h ‖ ci).
    /// A policy is at least 65 bytes, so there are always at least three chunks.
    function legacyHash(bytes memory raw) internal pure returns (bytes32 h) {
        uint256 length = raw.length;
        if (length < 65) revert PolicyLengthInvalid(length);
        assembly ("memory-safe") {
            let data := add(raw, 0x20)
            let chunks := div(add(length, 31), 32)
            let ptr := mload(0x40)
            // the last chunk's padding: bytes past the end read as zero
            let lastStart := mul(sub(chunks, 1), 32)
            let tail := sub(length, lastStart)
            let lastWord := mload(add(data, lastStart))
            if lt(tail, 32) {
                lastWord := and(lastWord, not(sub(shl(mul(sub(32, tail), 8), 1), 1)))
            }
            mstore(ptr, mload(data))
            mstore(add(ptr, 0x20), mload(add(data, 0x20)))
            h := keccak256(ptr, 0x40)
            for { let i := 2 } lt(i, chunks) { i := add(i, 1) } {
                mstore(ptr, h)
                switch eq(i, sub(chunks, 1))
                case 1 { mstore(add(ptr, 0x20), lastWord) }
                default { mstore(add(ptr, 0x20), mload(add(data, mul(i, 32)))) }
                h := keccak256(ptr, 0x40)
            }
        }
    }

    /// @notice The chain-bound hash (current Relay, go-flare-common `ChainBoundHash`):
    /// `keccak(uint256 chainId ‖ bytes)`.
    function chainBoundHash(bytes memory raw, uint256 chainId) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(chainId, raw));
    }
}
