// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IFlareRelay} from "./interfaces/IFlareRelay.sol";
import {FccSignatures} from "./libraries/FccSignatures.sol";
import {SigningPolicies, SigningPolicy} from "./libraries/SigningPolicies.sol";

/// @title DevRelay
/// @notice Flare's Relay for devnets only: one `signingPolicySetter` may store any policy, so
/// whoever holds its key controls every registry built on it. It stores the hash of each reward epoch's signing policy and
/// checks relay messages in Flare's byte layout (docs/PROTOCOL.md §16): `verifyCustomSignature`
/// for a message signed by a stored policy, `relay()` for the next epoch's policy signed by the
/// current voters (Flare's policy relay). The setter (standing in for FlareSystemsManager) may also
/// store the next policy directly, which is how the first one gets in. Anything DevRelay accepts,
/// Flare's Relay accepts too (with the same hash scheme); DevRelay is stricter in that every listed
/// signature must be valid, nothing may follow the signatures and a policy may not list a voter twice.
contract DevRelay is IFlareRelay {
    /// @notice How policies are hashed and what voters sign (docs/PROTOCOL.md §2, §16).
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
    /// @notice The threshold is not within 50%..66% of the total weight (Flare's Relay's bounds).
    error PolicyThresholdOutOfRange(uint256 threshold, uint256 totalWeight);
    /// @notice The relay message ends before the part at `needed` bytes.
    error RelayMessageTooShort(uint256 length, uint256 needed);
    /// @notice Bytes follow the last signature.
    error RelayMessageLengthInvalid(uint256 length, uint256 expected);
    /// @notice The relay message does not start with `relay()`'s selector.
    error RelaySelectorInvalid(bytes4 selector);
    /// @notice No policy is stored for the reward epoch.
    error UnknownRewardEpoch(uint256 rewardEpochId);
    /// @notice The message's policy bytes are not the stored policy of their epoch.
    error SigningPolicyHashMismatch(uint256 rewardEpochId, bytes32 hash, bytes32 stored);
    /// @notice The protocol id is not the one this entry point takes (1 for custom signatures,
    /// 0 for policies; DevRelay stores no protocol Merkle roots).
    error ProtocolNotSupported(uint256 protocolId);
    /// @notice A custom message's voting round or secure-random flag is not zero.
    error CustomMessageInvalid();
    /// @notice The message carries another hash than the caller's.
    error MessageHashMismatch(bytes32 messageHash, bytes32 expected);
    /// @notice The policy is more than the finalization window older than the latest one.
    error MessageTooOld(uint256 rewardEpochId, uint256 lastInitializedRewardEpoch);
    /// @notice A new policy must be signed with the latest stored policy.
    error NotWithLastInitialized(uint256 rewardEpochId, uint256 lastInitializedRewardEpoch);
    /// @notice A signature's voter index is not below the voter count.
    error IndexOutOfRange(uint256 index, uint256 voterCount);
    /// @notice Voter indices are not strictly increasing.
    error IndexOutOfOrder(uint256 index, uint256 minimum);
    /// @notice A signature does not recover to the voter at its index.
    error WrongSignature(uint256 index, address signer, address voter);
    /// @notice The signers' weight is not strictly greater than the policy's threshold.
    error ThresholdNotReached(uint256 weight, uint256 threshold);

    /// @notice `bytes4(keccak256("relay()"))`: the first 4 bytes of every relay message.
    bytes4 public constant RELAY_SELECTOR = 0xb59589d1;
    /// @dev Relay message: selector (4), then the policy.
    uint256 private constant POLICY_OFFSET = 4;
    /// @dev Protocol message: protocolId (1) ‖ votingRoundId (4) ‖ isSecureRandom (1) ‖ hash (32).
    uint256 private constant MESSAGE_LENGTH = 38;
    /// @dev Signature with index: v (1) ‖ r (32) ‖ s (32) ‖ index (2).
    uint256 private constant SIGNATURE_LENGTH = 67;
    /// @dev A slot table of twice the most voters' power of two keeps probing short.
    uint256 private constant VOTER_TABLE_SIZE = 1024;

    /// @notice The hash scheme fixed at deployment.
    HashScheme public immutable hashScheme;
    /// @notice Who may store policies directly (a single key: devnets only).
    address public immutable signingPolicySetter;
    /// @notice How many epochs a policy may lag the latest one and still sign custom messages.
    uint256 public immutable messageFinalizationWindow;
    /// @notice First voting round of each epoch's policy (Flare's public mapping).
    mapping(uint256 rewardEpochId => uint256) public startingVotingRoundIds;

    mapping(uint256 rewardEpochId => bytes32) private _policyHashes;
    uint32 private _lastInitializedRewardEpoch;

    constructor(address setter, HashScheme scheme, uint256 messageFinalizationWindow_) {
        signingPolicySetter = setter;
        hashScheme = scheme;
        messageFinalizationWindow = messageFinalizationWindow_;
    }

    /// @notice Stores the policy of the next reward epoch (any epoch > 0 for the first one).
    /// @return policyHash the policy's hash under `hashScheme`.
    function setSigningPolicy(bytes calldata signingPolicyBytes) external returns (bytes32 policyHash) {
        if (msg.sender != signingPolicySetter) revert NotPolicySetter(msg.sender);
        bytes memory raw = signingPolicyBytes;
        SigningPolicy memory policy;
        (policy, policyHash) = _validate(raw);
        _store(policy, raw, policyHash);
    }

    /// @inheritdoc IFlareRelay
    /// @dev Only the policy relay (protocol id 0): `selector ‖ latest policy ‖ 0x00 ‖ new policy ‖
    /// signatures` over `EIP-191(hash of the new policy)`, weight above the latest policy's threshold.
    function relay() external returns (bytes memory) {
        bytes calldata m = msg.data;
        (uint256 epoch, uint256 voterCount, uint256 threshold, uint256 p) = _checkPolicy(m);
        uint256 protocolId = _word(m, p) >> 248;
        if (protocolId != 0) revert ProtocolNotSupported(protocolId);
        uint256 last = _lastInitializedRewardEpoch;
        if (epoch != last) revert NotWithLastInitialized(epoch, last);
        uint256 start = p + 1;
        if (m.length < start + SigningPolicies.HEADER_LENGTH) {
            revert RelayMessageTooShort(m.length, start + SigningPolicies.HEADER_LENGTH);
        }
        uint256 newVoters = _word(m, start) >> 240;
        uint256 end = start + SigningPolicies.HEADER_LENGTH + SigningPolicies.VOTER_LENGTH * newVoters;
        if (m.length < end) revert RelayMessageTooShort(m.length, end);
        bytes memory raw = m[start:end];
        (SigningPolicy memory policy, bytes32 policyHash) = _validate(raw);
        _checkSignatures(m, end, voterCount, threshold, FccSignatures.toEthSignedMessageHash(policyHash));
        _store(policy, raw, policyHash);
        emit SigningPolicyRelayed(policy.rewardEpochId);
        return "";
    }

    /// @inheritdoc IFlareRelay
    function verifyCustomSignature(bytes calldata relayMessage, bytes32 messageHash)
        external
        view
        returns (uint256 rewardEpochId)
    {
        uint256 voterCount;
        uint256 threshold;
        uint256 p;
        (rewardEpochId, voterCount, threshold, p) = _checkPolicy(relayMessage);
        if (relayMessage.length < p + MESSAGE_LENGTH) {
            revert RelayMessageTooShort(relayMessage.length, p + MESSAGE_LENGTH);
        }
        uint256 head = _word(relayMessage, p);
        if (head >> 248 != 1) revert ProtocolNotSupported(head >> 248);
        // votingRoundId (4 bytes) and isSecureRandom (1 byte) follow the protocol id
        if ((head >> 208) & 0xffffffffff != 0) revert CustomMessageInvalid();
        bytes32 carried = bytes32(_word(relayMessage, p + 6));
        if (carried != messageHash) revert MessageHashMismatch(carried, messageHash);
        uint256 last = _lastInitializedRewardEpoch;
        if (rewardEpochId + messageFinalizationWindow < last) revert MessageTooOld(rewardEpochId, last);
        _checkSignatures(
            relayMessage, p + MESSAGE_LENGTH, voterCount, threshold, customSignatureDigest(messageHash)
        );
    }

    /// @inheritdoc IFlareRelay
    function toSigningPolicyHash(uint256 rewardEpochId) external view returns (bytes32) {
        return _policyHashes[rewardEpochId];
    }

    /// @inheritdoc IFlareRelay
    function lastInitializedRewardEpochData() external view returns (uint32, uint32) {
        uint32 last = _lastInitializedRewardEpoch;
        // start rounds are stored from a policy's uint32 field
        // forge-lint: disable-next-line(unsafe-typecast)
        return (last, uint32(startingVotingRoundIds[last]));
    }

    /// @notice What voters sign for `verifyCustomSignature(m, messageHash)`: EIP-191 of
    /// `keccak(0x01 ‖ 0x00000000 ‖ 0x00 ‖ messageHash)`, chain-bound as `keccak(uint256 chainId ‖
    /// that)` under `HashScheme.ChainBound` (docs/PROTOCOL.md §16).
    function customSignatureDigest(bytes32 messageHash) public view returns (bytes32) {
        bytes32 h = keccak256(abi.encodePacked(uint8(1), uint32(0), uint8(0), messageHash));
        if (hashScheme == HashScheme.ChainBound) h = keccak256(abi.encode(block.chainid, h));
        return FccSignatures.toEthSignedMessageHash(h);
    }

    /// @dev Checks the selector and that the policy bytes are the stored policy of their epoch.
    /// Returns the policy's epoch, voter count and threshold, and the offset after the policy.
    function _checkPolicy(bytes calldata m)
        private
        view
        returns (uint256 epoch, uint256 voterCount, uint256 threshold, uint256 next)
    {
        // the selector, the policy header and at least the protocol id
        uint256 minimum = POLICY_OFFSET + SigningPolicies.HEADER_LENGTH + 1;
        if (m.length < minimum) revert RelayMessageTooShort(m.length, minimum);
        if (bytes4(m[:4]) != RELAY_SELECTOR) revert RelaySelectorInvalid(bytes4(m[:4]));
        uint256 header = _word(m, POLICY_OFFSET);
        voterCount = header >> 240;
        epoch = (header >> 216) & 0xffffff;
        threshold = (header >> 168) & 0xffff;
        next = POLICY_OFFSET + SigningPolicies.HEADER_LENGTH + SigningPolicies.VOTER_LENGTH * voterCount;
        if (m.length < next + 1) revert RelayMessageTooShort(m.length, next + 1);
        bytes32 stored = _policyHashes[epoch];
        if (stored == bytes32(0)) revert UnknownRewardEpoch(epoch);
        bytes32 h = _hash(m[POLICY_OFFSET:next]);
        if (h != stored) revert SigningPolicyHashMismatch(epoch, h, stored);
    }

    /// @dev Checks `count u16 ‖ count × (v ‖ r ‖ s ‖ index u16)` at `p`, the end of `m`, against
    /// the (already verified) policy at POLICY_OFFSET: strictly increasing indices below the
    /// voter count, v ∈ {27, 28}, low S, each signature recovering to the voter at its index, and
    /// weight strictly above the threshold.
    function _checkSignatures(
        bytes calldata m,
        uint256 p,
        uint256 voterCount,
        uint256 threshold,
        bytes32 digest
    ) private pure {
        if (m.length < p + 2) revert RelayMessageTooShort(m.length, p + 2);
        uint256 count = _word(m, p) >> 240;
        p += 2;
        uint256 expected = p + SIGNATURE_LENGTH * count;
        if (m.length != expected) revert RelayMessageLengthInvalid(m.length, expected);
        uint256 weight;
        uint256 nextIndex;
        for (uint256 i; i < count; ++i) {
            uint256 pos = p + SIGNATURE_LENGTH * i;
            // v is the signature's first byte
            // forge-lint: disable-next-line(unsafe-typecast)
            uint8 v = uint8(_word(m, pos) >> 248);
            bytes32 r = bytes32(_word(m, pos + 1));
            bytes32 s = bytes32(_word(m, pos + 33));
            uint256 index = _word(m, pos + 65) >> 240;
            if (index >= voterCount) revert IndexOutOfRange(index, voterCount);
            if (index < nextIndex) revert IndexOutOfOrder(index, nextIndex);
            nextIndex = index + 1;
            if (v != 27 && v != 28) revert FccSignatures.SignatureVInvalid(v);
            address signer = FccSignatures.recover(digest, r, s, v);
            // the voter's address (20 bytes) and weight (2 bytes) in the policy
            uint256 entry = _word(
                m, POLICY_OFFSET + SigningPolicies.HEADER_LENGTH + SigningPolicies.VOTER_LENGTH * index
            );
            // the top 20 bytes of the entry are the address
            // forge-lint: disable-next-line(unsafe-typecast)
            address voter = address(uint160(entry >> 96));
            if (signer != voter) revert WrongSignature(index, signer, voter);
            weight += (entry >> 80) & 0xffff;
        }
        if (weight <= threshold) revert ThresholdNotReached(weight, threshold);
    }

    /// @dev Decodes and checks a policy for the next epoch: the library's checks, Flare's
    /// threshold bounds, distinct voters, the epoch; returns it with its hash.
    function _validate(bytes memory raw)
        private
        view
        returns (SigningPolicy memory policy, bytes32 policyHash)
    {
        uint256 totalWeight;
        (policy, totalWeight) = SigningPolicies.decode(raw);
        uint256 scaled = uint256(policy.threshold) * 10_000;
        if (scaled < totalWeight * 5000 || scaled > totalWeight * 6600) {
            revert PolicyThresholdOutOfRange(policy.threshold, totalWeight);
        }
        _requireDistinct(policy.voters);
        uint256 last = _lastInitializedRewardEpoch;
        uint256 expected = last == 0 ? policy.rewardEpochId : last + 1;
        if (policy.rewardEpochId == 0 || policy.rewardEpochId != expected) {
            revert RewardEpochNotNext(policy.rewardEpochId, last + 1);
        }
        policyHash = _hash(raw);
    }

    function _store(SigningPolicy memory policy, bytes memory raw, bytes32 policyHash) private {
        _policyHashes[policy.rewardEpochId] = policyHash;
        startingVotingRoundIds[policy.rewardEpochId] = policy.startVotingRoundId;
        _lastInitializedRewardEpoch = policy.rewardEpochId;
        emit SigningPolicyInitialized(
            policy.rewardEpochId,
            policy.startVotingRoundId,
            policy.threshold,
            policy.seed,
            policy.voters,
            policy.weights,
            raw,
            uint64(block.timestamp)
        );
    }

    /// @dev Reverts on a repeated address: an open-addressing table in memory (at most 300 of
    /// 1024 slots used), keyed by the address's low bits; a slot holds `address | 1 << 160`.
    function _requireDistinct(address[] memory voters) private pure {
        uint256[] memory table = new uint256[](VOTER_TABLE_SIZE);
        for (uint256 i; i < voters.length; ++i) {
            uint256 key = uint256(uint160(voters[i])) | (1 << 160);
            uint256 slot = key & (VOTER_TABLE_SIZE - 1);
            while (table[slot] != 0) {
                if (table[slot] == key) revert DuplicateVoter(voters[i]);
                slot = (slot + 1) & (VOTER_TABLE_SIZE - 1);
            }
            table[slot] = key;
        }
    }

    function _hash(bytes memory raw) private view returns (bytes32) {
        return hashScheme == HashScheme.Legacy
            ? SigningPolicies.legacyHash(raw)
            : SigningPolicies.chainBoundHash(raw, block.chainid);
    }

    /// @dev The 32 bytes of calldata at `m[pos]` (zero beyond the end of the calldata); callers
    /// use only the bytes they checked to lie within `m`.
    function _word(bytes calldata m, uint256 pos) private pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := calldataload(add(m.offset, pos))
        }
    }
}
