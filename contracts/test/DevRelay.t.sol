// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {DevRelay} from "../src/DevRelay.sol";
import {IFlareRelay} from "../src/interfaces/IFlareRelay.sol";
import {FccSignatures} from "../src/libraries/FccSignatures.sol";
import {SigningPolicies} from "../src/libraries/SigningPolicies.sol";
import {Fixture} from "./utils/Fixture.sol";
import {Vm} from "./utils/Vm.sol";

/// @notice DevRelay: policies stored by the setter and relayed by voters, and Flare's relay
/// messages (docs/PROTOCOL.md §16). The fixture's relay is chain-bound on chain 14 with the
/// three-voter policy of EPOCH (A 300, B 200, C 500; threshold 500).
contract DevRelayTest is Fixture {
    bytes32 internal constant HASH = keccak256("message");

    // ---- setSigningPolicy ----

    function test_setSigningPolicy_emitsFlareEvent() public {
        DevRelay r = new DevRelay(governance, DevRelay.HashScheme.Legacy, WINDOW);
        address[] memory voters = new address[](2);
        (voters[0], voters[1]) = (PROVIDER1, PROVIDER2);
        uint16[] memory weights = new uint16[](2);
        (weights[0], weights[1]) = (600, 400);
        vm.warp(1_700_000_000);
        vm.expectEmit(true, false, false, true, address(r));
        emit IFlareRelay.SigningPolicyInitialized(
            1000,
            3_360_000,
            500,
            0x5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed,
            voters,
            weights,
            EXAMPLE_POLICY,
            1_700_000_000
        );
        vm.prank(governance);
        bytes32 hash = r.setSigningPolicy(EXAMPLE_POLICY);
        vm.assertEq(hash, 0xab29e68e111739392bca10cdd145868e86a1cb1e6653375eb4b607779e8d6e5a, "legacy hash");
        vm.assertEq(r.toSigningPolicyHash(1000), hash, "stored");
        (uint32 last, uint32 start) = r.lastInitializedRewardEpochData();
        vm.assertEq(last, 1000, "epoch");
        vm.assertEq(start, 3_360_000, "start round");
        vm.assertEq(r.startingVotingRoundIds(1000), 3_360_000, "start round mapping");
    }

    function test_setSigningPolicy_chainBoundHash() public {
        DevRelay r = new DevRelay(governance, DevRelay.HashScheme.ChainBound, WINDOW);
        vm.prank(governance);
        vm.assertEq(
            r.setSigningPolicy(EXAMPLE_POLICY),
            0x0d47432c82293dbebc7102e9cfee4df3f5eaea446bf8b54223f73407d79e3783,
            "chainBound14"
        );
    }

    function test_setSigningPolicy_nextEpoch() public {
        vm.prank(governance);
        bytes32 h = relay.setSigningPolicy(_threeVoterPolicy(EPOCH + 1));
        (uint32 last,) = relay.lastInitializedRewardEpochData();
        vm.assertEq(last, EPOCH + 1, "epoch");
        vm.assertEq(relay.toSigningPolicyHash(EPOCH + 1), h, "hash");
        vm.assertEq(h, keccak256(abi.encodePacked(uint256(14), _threeVoterPolicy(EPOCH + 1))), "chain-bound");
    }

    function test_setSigningPolicy_revertsWhenNotSetter() public {
        vm.expectRevert(abi.encodeWithSelector(DevRelay.NotPolicySetter.selector, stranger));
        vm.prank(stranger);
        relay.setSigningPolicy(_threeVoterPolicy(EPOCH + 1));
    }

    function test_setSigningPolicy_revertsWhenEpochNotNext() public {
        vm.startPrank(governance);
        vm.expectRevert(
            abi.encodeWithSelector(
                DevRelay.RewardEpochNotNext.selector, uint256(EPOCH + 2), uint256(EPOCH + 1)
            )
        );
        relay.setSigningPolicy(_threeVoterPolicy(EPOCH + 2));
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.RewardEpochNotNext.selector, uint256(EPOCH), uint256(EPOCH + 1))
        );
        relay.setSigningPolicy(_threeVoterPolicy(EPOCH));
        DevRelay fresh = new DevRelay(governance, DevRelay.HashScheme.Legacy, WINDOW);
        vm.expectRevert(abi.encodeWithSelector(DevRelay.RewardEpochNotNext.selector, uint256(0), uint256(1)));
        fresh.setSigningPolicy(_threeVoterPolicy(0));
        vm.stopPrank();
    }

    function test_setSigningPolicy_revertsWhenVoterRepeated() public {
        bytes memory raw = abi.encodePacked(uint16(3), uint24(EPOCH + 1), uint32(1), uint16(450), bytes32(0));
        raw = abi.encodePacked(raw, PROVIDER1, uint16(300), PROVIDER2, uint16(300), PROVIDER1, uint16(300));
        vm.expectRevert(abi.encodeWithSelector(DevRelay.DuplicateVoter.selector, PROVIDER1));
        vm.prank(governance);
        relay.setSigningPolicy(raw);
    }

    function test_setSigningPolicy_revertsWhenThresholdOutOfRange() public {
        uint16[] memory w = new uint16[](3);
        (w[0], w[1], w[2]) = (300, 200, 500);
        vm.startPrank(governance);
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.PolicyThresholdOutOfRange.selector, uint256(499), uint256(1000))
        );
        relay.setSigningPolicy(_policy(EPOCH + 1, 499, VOTER_A, w));
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.PolicyThresholdOutOfRange.selector, uint256(661), uint256(1000))
        );
        relay.setSigningPolicy(_policy(EPOCH + 1, 661, VOTER_A, w));
        // the bounds themselves are allowed
        relay.setSigningPolicy(_policy(EPOCH + 1, 660, VOTER_A, w));
        relay.setSigningPolicy(_policy(EPOCH + 2, 500, VOTER_A, w));
        vm.stopPrank();
    }

    function test_setSigningPolicy_revertsWhenMalformed() public {
        vm.expectRevert(abi.encodeWithSelector(SigningPolicies.PolicyLengthInvalid.selector, uint256(10)));
        vm.prank(governance);
        relay.setSigningPolicy(new bytes(10));
    }

    // ---- verifyCustomSignature ----

    function test_verifyCustomSignature_returnsEpoch() public view {
        // A + C = 800 > 500, then all three
        vm.assertEq(relay.verifyCustomSignature(_message(_idx(0, 2)), HASH), EPOCH, "A+C");
        vm.assertEq(relay.verifyCustomSignature(_message(_idx(0, 1, 2)), HASH), EPOCH, "all");
    }

    /// The relay message's bytes, piece by piece, and the digest voters sign.
    function test_verifyCustomSignature_layout() public view {
        bytes32 inner = keccak256(abi.encodePacked(hex"0100000000", hex"00", HASH));
        bytes32 bound = keccak256(abi.encodePacked(uint256(14), inner));
        bytes32 digest = keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", bound));
        vm.assertEq(relay.customSignatureDigest(HASH), digest, "chain-bound digest");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(VOTER_C, digest);
        bytes memory m = bytes.concat(
            hex"b59589d1", _threeVoterPolicy(EPOCH), hex"01", hex"00000000", hex"00", HASH, hex"0001"
        );
        m = bytes.concat(m, bytes1(v), r, s, hex"0002");
        vm.assertEq(m, _customRelayMessage(_threeVoterPolicy(EPOCH), HASH, _signatures(_idx(2))), "layout");
        vm.assertEq(m.length, 4 + 43 + 3 * 22 + 38 + 2 + 67, "length");
        // C alone (500) is not above the threshold; A added in index order is
        vm.assertEq(relay.verifyCustomSignature(_message(_idx(0, 2)), HASH), EPOCH, "A+C");
    }

    function test_verifyCustomSignature_legacyDigestIsNotChainBound() public {
        DevRelay r = new DevRelay(governance, DevRelay.HashScheme.Legacy, WINDOW);
        bytes32 inner = keccak256(abi.encodePacked(hex"0100000000", hex"00", HASH));
        vm.assertEq(
            r.customSignatureDigest(HASH),
            keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", inner)),
            "legacy digest"
        );
    }

    function test_verifyCustomSignature_revertsAtExactlyThreshold() public {
        // A + B = 500 and C alone = 500: not strictly greater
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.ThresholdNotReached.selector, uint256(500), uint256(500))
        );
        relay.verifyCustomSignature(_message(_idx(0, 1)), HASH);
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.ThresholdNotReached.selector, uint256(500), uint256(500))
        );
        relay.verifyCustomSignature(_message(_idx(2)), HASH);
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.ThresholdNotReached.selector, uint256(0), uint256(500))
        );
        relay.verifyCustomSignature(_message(new uint256[](0)), HASH);
    }

    function test_verifyCustomSignature_revertsWhenSignerDuplicated() public {
        // the same voter twice: indices must strictly increase
        vm.expectRevert(abi.encodeWithSelector(DevRelay.IndexOutOfOrder.selector, uint256(2), uint256(3)));
        relay.verifyCustomSignature(_message(_idx(0, 2, 2)), HASH);
    }

    function test_verifyCustomSignature_revertsWhenIndexOutOfOrderOrRange() public {
        vm.expectRevert(abi.encodeWithSelector(DevRelay.IndexOutOfOrder.selector, uint256(0), uint256(3)));
        relay.verifyCustomSignature(_message(_idx(2, 0)), HASH);
        vm.expectRevert(abi.encodeWithSelector(DevRelay.IndexOutOfRange.selector, uint256(3), uint256(3)));
        relay.verifyCustomSignature(_message(_idx(0, 3)), HASH);
    }

    function test_verifyCustomSignature_revertsWhenSignerUnknown() public {
        bytes32 digest = relay.customSignatureDigest(HASH);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(999, digest);
        bytes memory sigs = abi.encodePacked(uint16(2), v, r, s, uint16(0));
        (v, r, s) = vm.sign(VOTER_C, digest);
        sigs = abi.encodePacked(sigs, v, r, s, uint16(2));
        vm.expectRevert(
            abi.encodeWithSelector(
                DevRelay.WrongSignature.selector, uint256(0), vm.addr(999), vm.addr(VOTER_A)
            )
        );
        relay.verifyCustomSignature(_customRelayMessage(_threeVoterPolicy(EPOCH), HASH, sigs), HASH);
    }

    function test_verifyCustomSignature_revertsWhenSignatureAtOtherIndex() public {
        // C's signature claimed for B's index
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(VOTER_C, relay.customSignatureDigest(HASH));
        bytes memory sigs = abi.encodePacked(uint16(1), v, r, s, uint16(1));
        vm.expectRevert(
            abi.encodeWithSelector(
                DevRelay.WrongSignature.selector, uint256(1), vm.addr(VOTER_C), vm.addr(VOTER_B)
            )
        );
        relay.verifyCustomSignature(_customRelayMessage(_threeVoterPolicy(EPOCH), HASH, sigs), HASH);
    }

    function test_verifyCustomSignature_revertsWhenSignatureMalformed() public {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(VOTER_C, relay.customSignatureDigest(HASH));
        // v = 0/1 (Go's recovery id) is not Flare's relay encoding
        bytes memory m = _customRelayMessage(
            _threeVoterPolicy(EPOCH), HASH, abi.encodePacked(uint16(1), v - 27, r, s, uint16(2))
        );
        vm.expectRevert(abi.encodeWithSelector(FccSignatures.SignatureVInvalid.selector, v - 27));
        relay.verifyCustomSignature(m, HASH);
        // the high-S twin of a valid signature
        m = _customRelayMessage(
            _threeVoterPolicy(EPOCH),
            HASH,
            abi.encodePacked(
                uint16(1), v == 27 ? uint8(28) : uint8(27), r, bytes32(N - uint256(s)), uint16(2)
            )
        );
        vm.expectRevert(FccSignatures.SignatureHighS.selector);
        relay.verifyCustomSignature(m, HASH);
    }

    function test_verifyCustomSignature_revertsWhenHashDiffers() public {
        bytes32 other = keccak256("other");
        vm.expectRevert(abi.encodeWithSelector(DevRelay.MessageHashMismatch.selector, HASH, other));
        relay.verifyCustomSignature(_message(_idx(0, 2)), other);
    }

    function test_verifyCustomSignature_revertsWhenPolicyNotStored() public {
        bytes memory sigs = _signatures(_idx(0, 2));
        vm.expectRevert(abi.encodeWithSelector(DevRelay.UnknownRewardEpoch.selector, uint256(EPOCH + 1)));
        relay.verifyCustomSignature(_customRelayMessage(_threeVoterPolicy(EPOCH + 1), HASH, sigs), HASH);
        // the stored epoch with other bytes (threshold 501)
        uint16[] memory w = new uint16[](3);
        (w[0], w[1], w[2]) = (300, 200, 500);
        bytes memory forged = _policy(EPOCH, 501, VOTER_A, w);
        vm.expectRevert(
            abi.encodeWithSelector(
                DevRelay.SigningPolicyHashMismatch.selector,
                uint256(EPOCH),
                keccak256(abi.encodePacked(uint256(14), forged)),
                relay.toSigningPolicyHash(EPOCH)
            )
        );
        relay.verifyCustomSignature(_customRelayMessage(forged, HASH, sigs), HASH);
    }

    function test_verifyCustomSignature_revertsWhenNotACustomMessage() public {
        bytes memory m = _message(_idx(0, 2));
        bytes memory wrong = bytes.concat(m);
        wrong[0] = 0x00;
        vm.expectRevert(abi.encodeWithSelector(DevRelay.RelaySelectorInvalid.selector, bytes4(0x009589d1)));
        relay.verifyCustomSignature(wrong, HASH);
        uint256 p = 4 + 43 + 3 * 22; // the protocol message
        wrong = bytes.concat(m);
        wrong[p] = 0x02;
        vm.expectRevert(abi.encodeWithSelector(DevRelay.ProtocolNotSupported.selector, uint256(2)));
        relay.verifyCustomSignature(wrong, HASH);
        wrong = bytes.concat(m);
        wrong[p + 4] = 0x01; // voting round 1
        vm.expectRevert(DevRelay.CustomMessageInvalid.selector);
        relay.verifyCustomSignature(wrong, HASH);
        wrong = bytes.concat(m);
        wrong[p + 5] = 0x01; // secure random
        vm.expectRevert(DevRelay.CustomMessageInvalid.selector);
        relay.verifyCustomSignature(wrong, HASH);
    }

    function test_verifyCustomSignature_revertsWhenLengthBad() public {
        bytes memory m = _message(_idx(0, 2));
        uint256 p = 4 + 43 + 3 * 22;
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.RelayMessageTooShort.selector, uint256(20), uint256(48))
        );
        relay.verifyCustomSignature(_prefix(m, 20), HASH);
        vm.expectRevert(abi.encodeWithSelector(DevRelay.RelayMessageTooShort.selector, uint256(100), p + 1));
        relay.verifyCustomSignature(_prefix(m, 100), HASH);
        vm.expectRevert(abi.encodeWithSelector(DevRelay.RelayMessageTooShort.selector, p + 20, p + 38));
        relay.verifyCustomSignature(_prefix(m, p + 20), HASH);
        vm.expectRevert(abi.encodeWithSelector(DevRelay.RelayMessageTooShort.selector, p + 39, p + 40));
        relay.verifyCustomSignature(_prefix(m, p + 39), HASH);
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.RelayMessageLengthInvalid.selector, m.length - 1, m.length)
        );
        relay.verifyCustomSignature(_prefix(m, m.length - 1), HASH);
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.RelayMessageLengthInvalid.selector, m.length + 1, m.length)
        );
        relay.verifyCustomSignature(bytes.concat(m, hex"00"), HASH);
    }

    function test_verifyCustomSignature_revertsWhenPolicyTooOld() public {
        vm.startPrank(governance);
        for (uint24 e = EPOCH + 1; e <= EPOCH + 3; ++e) {
            relay.setSigningPolicy(_threeVoterPolicy(e));
        }
        vm.stopPrank();
        // EPOCH + 2 >= EPOCH + 3 - window: still accepted, EPOCH is not
        bytes32 digest = relay.customSignatureDigest(HASH);
        bytes memory m = _customRelayMessage(
            _threeVoterPolicy(EPOCH + 1), HASH, _relaySignatures(digest, VOTER_A, _idx(0, 2))
        );
        vm.assertEq(relay.verifyCustomSignature(m, HASH), EPOCH + 1, "within the window");
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.MessageTooOld.selector, uint256(EPOCH), uint256(EPOCH + 3))
        );
        relay.verifyCustomSignature(_message(_idx(0, 2)), HASH);
    }

    /// Flare-sized: 100 voters of equal weight, 51 of them sign (5100 > 5000).
    function test_verifyCustomSignature_gas100Voters51Signers() public {
        uint16[] memory w = new uint16[](100);
        for (uint256 i; i < 100; ++i) {
            w[i] = 100;
        }
        DevRelay r = new DevRelay(governance, DevRelay.HashScheme.ChainBound, WINDOW);
        bytes memory policy = _policy(42, 5000, 5001, w);
        vm.prank(governance);
        r.setSigningPolicy(policy);
        uint256[] memory half = new uint256[](51);
        for (uint256 i; i < 51; ++i) {
            half[i] = i; // the first 51 voters, in index order
        }
        bytes memory m =
            _customRelayMessage(policy, HASH, _relaySignatures(r.customSignatureDigest(HASH), 5001, half));
        uint256 before = gasleft();
        vm.assertEq(r.verifyCustomSignature(m, HASH), 42, "epoch");
        uint256 used = before - gasleft();
        vm.assertTrue(used < 400_000, "gas of verifyCustomSignature (100 voters, 51 signers)");
        assembly {
            mstore(half, 50)
        }
        m = _customRelayMessage(policy, HASH, _relaySignatures(r.customSignatureDigest(HASH), 5001, half));
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.ThresholdNotReached.selector, uint256(5000), uint256(5000))
        );
        r.verifyCustomSignature(m, HASH);
    }

    /// Any subset of three voters passes exactly when its weight is strictly above the threshold.
    function test_fuzz_verifyCustomSignature_threshold(
        uint8 subset,
        uint16 threshold,
        uint16 w0,
        uint16 w1,
        uint16 w2
    ) public {
        w0 = uint16(_bound(w0, 0, 20_000));
        w1 = uint16(_bound(w1, 0, 20_000));
        w2 = uint16(_bound(w2, 100, 20_000));
        uint256 total = uint256(w0) + w1 + w2;
        // Flare's bounds: 50% ≤ threshold ≤ 66% of the total
        threshold = uint16(_bound(threshold, (total + 1) / 2, total * 66 / 100));
        uint16[] memory w = new uint16[](3);
        (w[0], w[1], w[2]) = (w0, w1, w2);
        bytes memory policy = _policy(EPOCH + 1, threshold, 201, w);
        vm.prank(governance);
        relay.setSigningPolicy(policy);

        uint256[] memory indices = new uint256[](3);
        uint256 count;
        uint256 weight;
        for (uint256 i; i < 3; ++i) {
            if (subset & (1 << i) != 0) {
                indices[count++] = i;
                weight += w[i];
            }
        }
        assembly {
            mstore(indices, count)
        }
        bytes memory m = _customRelayMessage(
            policy, HASH, _relaySignatures(relay.customSignatureDigest(HASH), 201, indices)
        );
        if (weight > threshold) {
            vm.assertEq(relay.verifyCustomSignature(m, HASH), EPOCH + 1, "accepted");
        } else {
            vm.expectRevert(
                abi.encodeWithSelector(DevRelay.ThresholdNotReached.selector, weight, uint256(threshold))
            );
            relay.verifyCustomSignature(m, HASH);
        }
    }

    /// Changing any one byte of a valid relay message makes it fail.
    function test_fuzz_verifyCustomSignature_anyChangedByteRefused(uint256 position, uint8 delta)
        public
        view
    {
        bytes memory m = _message(_idx(0, 1, 2));
        position = position % m.length;
        delta = uint8(_bound(delta, 1, 255));
        m[position] = bytes1(uint8(m[position]) ^ delta);
        (bool ok,) = address(relay).staticcall(abi.encodeCall(DevRelay.verifyCustomSignature, (m, HASH)));
        vm.assertFalse(ok, "changed message accepted");
    }

    /// Arbitrary bytes after the selector are refused, never accepted or crashing into a panic.
    function test_fuzz_verifyCustomSignature_arbitraryBytesRefused(bytes calldata tail) public view {
        bytes memory m = bytes.concat(hex"b59589d1", tail);
        (bool ok, bytes memory err) =
            address(relay).staticcall(abi.encodeCall(DevRelay.verifyCustomSignature, (m, HASH)));
        vm.assertFalse(ok, "arbitrary bytes accepted");
        vm.assertTrue(err.length >= 4 && bytes4(err) != bytes4(keccak256("Panic(uint256)")), "typed error");
    }

    // ---- relay(): the next policy signed by the latest voters ----

    function test_relay_rotatesPolicy() public {
        bytes memory next = _threeVoterPolicy(EPOCH + 1);
        bytes memory m = _rotation(next, _idx(0, 2));
        vm.expectEmit(true, false, false, false, address(relay));
        emit IFlareRelay.SigningPolicyRelayed(EPOCH + 1);
        vm.prank(stranger); // anyone may relay
        (bool ok,) = address(relay).call(m);
        vm.assertTrue(ok, "relayed");
        vm.assertEq(
            relay.toSigningPolicyHash(EPOCH + 1), keccak256(abi.encodePacked(uint256(14), next)), "new hash"
        );
        (uint32 last, uint32 start) = relay.lastInitializedRewardEpochData();
        vm.assertEq(last, EPOCH + 1, "epoch");
        vm.assertEq(start, 100, "start round");
        // the new policy signs custom messages; the old one (within the window) too
        bytes memory custom = _customRelayMessage(next, HASH, _signatures(_idx(1, 2)));
        vm.assertEq(relay.verifyCustomSignature(custom, HASH), EPOCH + 1, "new policy signs");
        vm.assertEq(relay.verifyCustomSignature(_message(_idx(0, 2)), HASH), EPOCH, "old policy signs");
    }

    /// Under the legacy scheme the voters sign EIP-191 of the new policy's legacy hash (not
    /// chain-bound), and that is what the relay stores.
    function test_relay_rotatesPolicyUnderLegacyScheme() public {
        DevRelay r = new DevRelay(governance, DevRelay.HashScheme.Legacy, WINDOW);
        vm.prank(governance);
        r.setSigningPolicy(_threeVoterPolicy(EPOCH));
        bytes memory next = _threeVoterPolicy(EPOCH + 1);
        bytes32 legacy = SigningPolicies.legacyHash(next);
        // a chain-bound signature does not count here
        bytes memory wrong = _policyRelayMessage(
            _threeVoterPolicy(EPOCH), next, _relaySignatures(_rotationDigest(next), VOTER_A, _idx(0, 2))
        );
        (bool ok,) = address(r).call(wrong);
        vm.assertFalse(ok, "chain-bound signatures refused");
        bytes memory m = _policyRelayMessage(
            _threeVoterPolicy(EPOCH),
            next,
            _relaySignatures(FccSignatures.toEthSignedMessageHash(legacy), VOTER_A, _idx(0, 2))
        );
        (ok,) = address(r).call(m);
        vm.assertTrue(ok, "relayed");
        vm.assertEq(r.toSigningPolicyHash(EPOCH + 1), legacy, "legacy hash stored");
        (uint32 last,) = r.lastInitializedRewardEpochData();
        vm.assertEq(last, EPOCH + 1, "epoch");
    }

    /// Flare's largest policy: 300 voters, weights summing to 65535, threshold 32768 (50%); the
    /// rotation passes with 151 signers (32918) and not with 150 (32700).
    function test_relay_rotates300VotersAtMaxWeight() public {
        uint16[] memory w = new uint16[](300);
        for (uint256 i; i < 299; ++i) {
            w[i] = 218;
        }
        w[299] = 65_535 - 299 * 218;
        DevRelay r = new DevRelay(governance, DevRelay.HashScheme.ChainBound, WINDOW);
        bytes memory policy = _policy(42, 32_768, 7001, w);
        vm.prank(governance);
        r.setSigningPolicy(policy);
        bytes memory next = _policy(43, 32_768, 7001, w);
        uint256[] memory signers = new uint256[](151);
        for (uint256 i; i < 151; ++i) {
            signers[i] = i;
        }
        bytes32 digest = _rotationDigest(next);
        assembly {
            mstore(signers, 150)
        }
        (bool ok, bytes memory err) =
            address(r).call(_policyRelayMessage(policy, next, _relaySignatures(digest, 7001, signers)));
        vm.assertFalse(ok, "150 signers refused");
        vm.assertEq(
            err,
            abi.encodeWithSelector(DevRelay.ThresholdNotReached.selector, uint256(32_700), uint256(32_768)),
            "threshold"
        );
        assembly {
            mstore(signers, 151)
        }
        (ok,) = address(r).call(_policyRelayMessage(policy, next, _relaySignatures(digest, 7001, signers)));
        vm.assertTrue(ok, "151 signers relay it");
        vm.assertEq(r.toSigningPolicyHash(43), keccak256(abi.encodePacked(uint256(14), next)), "stored");
    }

    function test_relay_emitsFlareEventWithPolicy() public {
        bytes memory next = _threeVoterPolicy(EPOCH + 1);
        vm.recordLogs();
        (bool ok,) = address(relay).call(_rotation(next, _idx(0, 1, 2)));
        vm.assertTrue(ok, "relayed");
        bytes32 topic = keccak256(
            "SigningPolicyInitialized(uint24,uint32,uint16,uint256,address[],uint16[],bytes,uint64)"
        );
        bool found;
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == topic) {
                found = true;
                vm.assertEq(logs[i].topics[1], bytes32(uint256(EPOCH + 1)), "epoch topic");
            }
        }
        vm.assertTrue(found, "SigningPolicyInitialized emitted");
    }

    function test_relay_revertsAtExactlyThreshold() public {
        _expectRelayRevert(
            _rotation(_threeVoterPolicy(EPOCH + 1), _idx(0, 1)),
            abi.encodeWithSelector(DevRelay.ThresholdNotReached.selector, uint256(500), uint256(500))
        );
    }

    function test_relay_revertsWhenSignerDuplicated() public {
        _expectRelayRevert(
            _rotation(_threeVoterPolicy(EPOCH + 1), _idx(2, 2)),
            abi.encodeWithSelector(DevRelay.IndexOutOfOrder.selector, uint256(2), uint256(3))
        );
    }

    function test_relay_revertsWhenSignerUnknown() public {
        bytes memory next = _threeVoterPolicy(EPOCH + 1);
        bytes32 digest = _rotationDigest(next);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(4242, digest);
        bytes memory sigs = abi.encodePacked(uint16(2), v, r, s, uint16(0));
        (v, r, s) = vm.sign(VOTER_C, digest);
        sigs = abi.encodePacked(sigs, v, r, s, uint16(2));
        _expectRelayRevert(
            _policyRelayMessage(_threeVoterPolicy(EPOCH), next, sigs),
            abi.encodeWithSelector(
                DevRelay.WrongSignature.selector, uint256(0), vm.addr(4242), vm.addr(VOTER_A)
            )
        );
    }

    function test_relay_revertsWhenSignedOverOtherHash() public {
        // signatures over the legacy (unbound) hash do not count on a chain-bound relay
        bytes memory next = _threeVoterPolicy(EPOCH + 1);
        bytes32 digest = FccSignatures.toEthSignedMessageHash(SigningPolicies.legacyHash(next));
        bytes memory m =
            _policyRelayMessage(_threeVoterPolicy(EPOCH), next, _relaySignatures(digest, VOTER_A, _idx(0)));
        (bool ok, bytes memory err) = address(relay).call(m);
        vm.assertFalse(ok, "accepted");
        vm.assertEq(bytes4(err), DevRelay.WrongSignature.selector, "wrong signature");
    }

    function test_relay_revertsWhenEpochNotNext() public {
        _expectRelayRevert(
            _rotation(_threeVoterPolicy(EPOCH + 2), _idx(0, 2)),
            abi.encodeWithSelector(
                DevRelay.RewardEpochNotNext.selector, uint256(EPOCH + 2), uint256(EPOCH + 1)
            )
        );
        _expectRelayRevert(
            _rotation(_threeVoterPolicy(EPOCH), _idx(0, 2)),
            abi.encodeWithSelector(DevRelay.RewardEpochNotNext.selector, uint256(EPOCH), uint256(EPOCH + 1))
        );
    }

    function test_relay_revertsWhenNotSignedWithLatestPolicy() public {
        vm.prank(governance);
        relay.setSigningPolicy(_threeVoterPolicy(EPOCH + 1));
        // EPOCH's voters may no longer elect EPOCH + 2
        _expectRelayRevert(
            _rotation(_threeVoterPolicy(EPOCH + 2), _idx(0, 2)),
            abi.encodeWithSelector(
                DevRelay.NotWithLastInitialized.selector, uint256(EPOCH), uint256(EPOCH + 1)
            )
        );
    }

    function test_relay_revertsWhenLengthBad() public {
        bytes memory m = _rotation(_threeVoterPolicy(EPOCH + 1), _idx(0, 2));
        uint256 p = 4 + 43 + 3 * 22;
        _expectRelayRevert(
            _prefix(m, p + 30), abi.encodeWithSelector(DevRelay.RelayMessageTooShort.selector, p + 30, p + 44)
        );
        _expectRelayRevert(
            _prefix(m, p + 50),
            abi.encodeWithSelector(DevRelay.RelayMessageTooShort.selector, p + 50, p + 1 + 43 + 66)
        );
        _expectRelayRevert(
            _prefix(m, m.length - 1),
            abi.encodeWithSelector(DevRelay.RelayMessageLengthInvalid.selector, m.length - 1, m.length)
        );
        _expectRelayRevert(
            bytes.concat(m, hex"00"),
            abi.encodeWithSelector(DevRelay.RelayMessageLengthInvalid.selector, m.length + 1, m.length)
        );
        // a new policy without voters
        bytes memory empty =
            abi.encodePacked(uint16(0), uint24(EPOCH + 1), uint32(100), uint16(0), bytes32(0));
        _expectRelayRevert(
            _policyRelayMessage(_threeVoterPolicy(EPOCH), empty, hex"0000"),
            abi.encodeWithSelector(SigningPolicies.PolicyVoterCountInvalid.selector, uint256(0))
        );
    }

    function test_relay_revertsWhenNewPolicyInvalid() public {
        bytes memory dup =
            abi.encodePacked(uint16(2), uint24(EPOCH + 1), uint32(100), uint16(300), bytes32(0));
        dup = abi.encodePacked(dup, PROVIDER1, uint16(300), PROVIDER1, uint16(300));
        _expectRelayRevert(
            _rotation(dup, _idx(0, 2)), abi.encodeWithSelector(DevRelay.DuplicateVoter.selector, PROVIDER1)
        );
        uint16[] memory w = new uint16[](3);
        (w[0], w[1], w[2]) = (300, 200, 500);
        _expectRelayRevert(
            _rotation(_policy(EPOCH + 1, 700, VOTER_A, w), _idx(0, 2)),
            abi.encodeWithSelector(DevRelay.PolicyThresholdOutOfRange.selector, uint256(700), uint256(1000))
        );
    }

    function test_relay_revertsWhenNotAPolicyMessage() public {
        _expectRelayRevert(
            _message(_idx(0, 2)), abi.encodeWithSelector(DevRelay.ProtocolNotSupported.selector, uint256(1))
        );
    }

    // ---- helpers ----

    /// @dev A custom-signature relay message of EPOCH's policy carrying HASH.
    function _message(uint256[] memory indices) internal pure returns (bytes memory) {
        return _customRelayMessage(_threeVoterPolicy(EPOCH), HASH, _signatures(indices));
    }

    function _signatures(uint256[] memory indices) internal pure returns (bytes memory) {
        return _relaySignatures(_customDigest(HASH), VOTER_A, indices);
    }

    /// @dev What EPOCH's voters sign to elect `next`: EIP-191 of its chain-bound hash on chain 14.
    function _rotationDigest(bytes memory next) internal pure returns (bytes32) {
        return FccSignatures.toEthSignedMessageHash(keccak256(abi.encodePacked(uint256(14), next)));
    }

    function _rotation(bytes memory next, uint256[] memory indices) internal pure returns (bytes memory) {
        return _policyRelayMessage(
            _threeVoterPolicy(EPOCH), next, _relaySignatures(_rotationDigest(next), VOTER_A, indices)
        );
    }

    function _expectRelayRevert(bytes memory m, bytes memory expected) internal {
        (bool ok, bytes memory err) = address(relay).call(m);
        vm.assertFalse(ok, "relay accepted");
        vm.assertEq(err, expected, "revert data");
    }

    function _prefix(bytes memory m, uint256 length) internal pure returns (bytes memory out) {
        out = new bytes(length);
        for (uint256 i; i < length; ++i) {
            out[i] = m[i];
        }
    }
}
