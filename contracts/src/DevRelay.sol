// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IFccRelay} from "./interfaces/IFccRelay.sol";
import {FccSignatures} from "./libraries/FccSignatures.sol";
import {SigningPolicies, SigningPolicy} from "./libraries/SigningPolicies.sol";

/// @title DevRelay
/// @notice A Relay-compatible signing-policy store for devnets: the owner (standing in for
/// Flare's FlareSystemsManager) sets the policy of each next reward epoch; the contract decodes
/// the policy bytes, emits Flare's `SigningPolicyInitialized`, records the hash under the
/// configured scheme and checks weighted data-provider signatures against any stored epoch.
contract DevRelay is IFccRelay {
    /// @notice Which policy hash `toSigningPolicyHash` returns (docs/PROTOCOL.md §2).
    enum HashScheme {
        Legacy,
        ChainBound
    }

    /// @notice The caller is not the policy setter.
    error NotPolicySetter(address caller);
    /// @notice The policy's epoch is not the next one (or, for the first, is zero).
    error RewardEpochNotNext(uint256 rewardEpochId, uint256 expected);
    /// @notice An address appears twice in the policy.
    error DuplicateVoter(address voter);

    /// @dev Per epoch: threshold, total weight, voter count; voter -> (index + 1) << 16 | weight.
    struct EpochPolicy {
        uint16 threshold;
        uint16 totalWeight;
        uint16 voterCount;
        bytes32 hash;
        mapping(address voter => uint256 indexAndWeight) voters;
    }

    /// @notice The hash scheme fixed at deployment.
    HashScheme public immutable hashScheme;
    /// @notice Who may set policies.
    address public immutable signingPolicySetter;
    /// @inheritdoc IFccRelay
    uint256 public lastInitializedRewardEpoch;

    mapping(uint256 rewardEpochId => EpochPolicy) private _policies;

    constructor(address setter, HashScheme scheme) {
        signingPolicySetter = setter;
        hashScheme = scheme;
    }

    /// @notice Stores the policy of the next reward epoch (any epoch > 0 for the first one).
    /// @return policyHash the policy's hash under `hashScheme`.
    function setSigningPolicy(bytes calldata signingPolicyBytes) external returns (bytes32 policyHash) {
        if (msg.sender != signingPolicySetter) revert NotPolicySetter(msg.sender);
        (SigningPolicy memory policy, uint256 totalWeight) = SigningPolicies.decode(signingPolicyBytes);
        uint256 last = lastInitializedRewardEpoch;
        uint256 expected = last == 0 ? policy.rewardEpochId : last + 1;
        if (policy.rewardEpochId == 0 || policy.rewardEpochId != expected) {
            revert RewardEpochNotNext(policy.rewardEpochId, last + 1);
        }
        EpochPolicy storage stored = _policies[policy.rewardEpochId];
        uint256 n = policy.voters.length;
        for (uint256 i; i < n; ++i) {
            address voter = policy.voters[i];
            if (stored.voters[voter] != 0) revert DuplicateVoter(voter);
            stored.voters[voter] = ((i + 1) << 16) | policy.weights[i];
        }
        policyHash = hashScheme == HashScheme.Legacy
            ? SigningPolicies.legacyHash(signingPolicyBytes)
            : SigningPolicies.chainBoundHash(signingPolicyBytes, block.chainid);
        stored.threshold = policy.threshold;
        // decode checked totalWeight <= 65535 and n <= 300
        // forge-lint: disable-next-line(unsafe-typecast)
        stored.totalWeight = uint16(totalWeight);
        // n <= 300: checked by decode
        // forge-lint: disable-next-line(unsafe-typecast)
        stored.voterCount = uint16(n);
        stored.hash = policyHash;
        lastInitializedRewardEpoch = policy.rewardEpochId;
        emit SigningPolicyInitialized(
            policy.rewardEpochId,
            policy.startVotingRoundId,
            policy.threshold,
            policy.seed,
            policy.voters,
            policy.weights,
            signingPolicyBytes,
            uint64(block.timestamp)
        );
    }

    /// @inheritdoc IFccRelay
    function toSigningPolicyHash(uint256 rewardEpochId) external view returns (bytes32) {
        return _policies[rewardEpochId].hash;
    }

    /// @inheritdoc IFccRelay
    function thresholdOf(uint256 rewardEpochId)
        external
        view
        returns (uint16 threshold, uint256 totalWeight)
    {
        EpochPolicy storage stored = _policies[rewardEpochId];
        if (stored.voterCount == 0) revert UnknownRewardEpoch(rewardEpochId);
        return (stored.threshold, stored.totalWeight);
    }

    /// @notice A voter's weight in an epoch (zero if not a voter).
    function voterWeight(uint256 rewardEpochId, address voter) external view returns (uint16) {
        return uint16(_policies[rewardEpochId].voters[voter]);
    }

    /// @inheritdoc IFccRelay
    function checkSignatures(uint256 rewardEpochId, bytes32 digest, bytes[] calldata signatures)
        external
        view
        returns (uint256 weight)
    {
        return _checkSignatures(rewardEpochId, digest, signatures);
    }

    /// @notice Flare-shaped entry point: checks the signatures of `relayMessage =
    /// abi.encode(uint256 rewardEpochId, bytes[] signatures)` over `EIP-191(messageHash)` and
    /// returns the epoch. Not Flare's relay() wire format: a devnet convenience of the same shape.
    function verifyCustomSignature(bytes calldata relayMessage, bytes32 messageHash)
        external
        view
        returns (uint256 rewardEpochId)
    {
        bytes[] memory signatures;
        (rewardEpochId, signatures) = abi.decode(relayMessage, (uint256, bytes[]));
        _checkSignatures(rewardEpochId, FccSignatures.toEthSignedMessageHash(messageHash), signatures);
    }

    function _checkSignatures(uint256 rewardEpochId, bytes32 digest, bytes[] memory signatures)
        private
        view
        returns (uint256 weight)
    {
        EpochPolicy storage stored = _policies[rewardEpochId];
        if (stored.voterCount == 0) revert UnknownRewardEpoch(rewardEpochId);
        uint256 threshold = stored.threshold;
        // one bit per voter index (at most 300 voters: two words)
        uint256[2] memory seen;
        for (uint256 i; i < signatures.length; ++i) {
            address signer = FccSignatures.recoverMemory(digest, signatures[i]);
            uint256 entry = stored.voters[signer];
            if (entry == 0) revert UnknownSigner(signer);
            uint256 index = (entry >> 16) - 1;
            // a single bit at position index mod 256 (the linter misreads `1 << x`)
            // forge-lint: disable-next-line(incorrect-shift)
            uint256 bit = 1 << (index & 255);
            if (seen[index >> 8] & bit != 0) revert DuplicateSigner(signer);
            seen[index >> 8] |= bit;
            // the low 16 bits of an entry are the voter's weight
            // forge-lint: disable-next-line(unsafe-typecast)
            weight += uint16(entry);
        }
        if (weight <= threshold) revert ThresholdNotReached(weight, threshold);
    }
}
