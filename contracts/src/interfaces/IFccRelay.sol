// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IFccRelay
/// @notice What the FCC contracts read from a Relay: the current reward epoch, its signing-policy
/// hash and a weighted check of data-provider signatures against that epoch's policy. DevRelay
/// implements it for devnets; on Flare an adapter over the Relay and the VoterRegistry would.
interface IFccRelay {
    /// @notice Emitted when a signing policy is stored (Flare's Relay event, same fields).
    event SigningPolicyInitialized(
        uint24 indexed rewardEpochId,
        uint32 startVotingRoundId,
        uint16 threshold,
        uint256 seed,
        address[] voters,
        uint16[] weights,
        bytes signingPolicyBytes,
        uint64 timestamp
    );

    /// @notice No policy is stored for the reward epoch.
    error UnknownRewardEpoch(uint256 rewardEpochId);
    /// @notice A signature recovers to an address that is not a voter of the policy.
    error UnknownSigner(address signer);
    /// @notice A voter signed twice.
    error DuplicateSigner(address signer);
    /// @notice The signers' weight is not strictly greater than the policy's threshold.
    error ThresholdNotReached(uint256 weight, uint256 threshold);

    /// @notice The latest reward epoch with a stored policy (0 and no policy before the first).
    function lastInitializedRewardEpoch() external view returns (uint256);

    /// @notice The configured hash of the epoch's policy bytes (zero if none).
    function toSigningPolicyHash(uint256 rewardEpochId) external view returns (bytes32);

    /// @notice The epoch's threshold and total weight.
    function thresholdOf(uint256 rewardEpochId) external view returns (uint16 threshold, uint256 totalWeight);

    /// @notice Weight of the distinct voters of `rewardEpochId`'s policy who signed `digest`.
    /// @dev Reverts on a malformed or high-S signature, an unknown or repeated signer, and when the
    /// weight is not strictly greater than the policy's threshold.
    /// @param digest the 32 bytes signed (already EIP-191 hashed where the signers used eth_sign).
    /// @param signatures 65-byte `r ‖ s ‖ v` signatures, v ∈ {0, 1, 27, 28}, any order.
    /// @return weight the signers' total weight (> threshold).
    function checkSignatures(uint256 rewardEpochId, bytes32 digest, bytes[] calldata signatures)
        external
        view
        returns (uint256 weight);
}
