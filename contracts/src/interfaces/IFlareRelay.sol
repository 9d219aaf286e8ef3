// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IFlareRelay
/// @notice The part of Flare's Relay (flare-smart-contracts-v2 `contracts/userInterfaces/IRelay.sol`)
/// the FCC contracts use, with the same names, parameter types and selectors: a contract holding an
/// `IFlareRelay` can be pointed at Flare's Relay on Flare or Coston2 as well as at DevRelay.
/// Relay messages are Flare's byte layout (docs/PROTOCOL.md §16).
interface IFlareRelay {
    /// @notice Emitted when a signing policy is stored (Flare's event, same fields).
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

    /// @notice Emitted when a new signing policy was relayed with the previous voters' signatures.
    event SigningPolicyRelayed(uint256 indexed rewardEpochId);

    /// @notice Checks a relay message whose protocol message is `(1, 0, 0, messageHash)`: its
    /// signing policy is the stored one of its reward epoch and its signatures carry more than the
    /// policy's threshold. Reverts otherwise. Flare's Relay declares it non-view (it verifies
    /// through a call to itself), so callers must not use it from a view function.
    /// @param relayMessage `relay()`'s selector ‖ policy bytes ‖ 38-byte message ‖ signatures.
    /// @param messageHash the 32 bytes the message carries (what the caller wants signed).
    /// @return rewardEpochId the reward epoch of the policy that signed.
    function verifyCustomSignature(bytes calldata relayMessage, bytes32 messageHash)
        external
        returns (uint256 rewardEpochId);

    /// @notice The stored signing-policy hash of a reward epoch (zero if none).
    function toSigningPolicyHash(uint256 rewardEpochId) external view returns (bytes32);

    /// @notice The latest reward epoch with a stored policy and that policy's first voting round.
    function lastInitializedRewardEpochData()
        external
        view
        returns (uint32 lastInitializedRewardEpoch, uint32 startingVotingRoundIdForLastInitializedRewardEpoch);

    /// @notice Flare's relay entry point; its calldata is a relay message (docs/PROTOCOL.md §16).
    function relay() external returns (bytes memory);
}
