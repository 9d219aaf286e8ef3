// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {DevRelay} from "../src/DevRelay.sol";
import {IFccRelay} from "../src/interfaces/IFccRelay.sol";
import {FccSignatures} from "../src/libraries/FccSignatures.sol";
import {SigningPolicies} from "../src/libraries/SigningPolicies.sol";
import {Fixture} from "./utils/Fixture.sol";

contract DevRelayTest is Fixture {
    bytes32 internal constant DIGEST = keccak256("message");

    function test_setSigningPolicy_emitsFlareEvent() public {
        DevRelay r = new DevRelay(governance, DevRelay.HashScheme.Legacy);
        address[] memory voters = new address[](2);
        (voters[0], voters[1]) = (PROVIDER1, PROVIDER2);
        uint16[] memory weights = new uint16[](2);
        (weights[0], weights[1]) = (600, 400);
        vm.warp(1_700_000_000);
        vm.expectEmit(true, false, false, true, address(r));
        emit IFccRelay.SigningPolicyInitialized(
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
        vm.assertEq(r.lastInitializedRewardEpoch(), 1000, "epoch");
        vm.assertEq(r.voterWeight(1000, PROVIDER2), 400, "weight");
    }

    function test_setSigningPolicy_chainBoundHash() public {
        DevRelay r = new DevRelay(governance, DevRelay.HashScheme.ChainBound);
        vm.prank(governance);
        vm.assertEq(
            r.setSigningPolicy(EXAMPLE_POLICY),
            0x0d47432c82293dbebc7102e9cfee4df3f5eaea446bf8b54223f73407d79e3783,
            "chainBound14"
        );
    }

    function test_setSigningPolicy_nextEpoch() public {
        vm.prank(governance);
        relay.setSigningPolicy(_threeVoterPolicy(EPOCH + 1));
        vm.assertEq(relay.lastInitializedRewardEpoch(), EPOCH + 1, "epoch");
        (uint16 threshold, uint256 total) = relay.thresholdOf(EPOCH + 1);
        vm.assertEq(threshold, 500, "threshold");
        vm.assertEq(total, 1000, "total");
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
        DevRelay fresh = new DevRelay(governance, DevRelay.HashScheme.Legacy);
        vm.expectRevert(abi.encodeWithSelector(DevRelay.RewardEpochNotNext.selector, uint256(0), uint256(1)));
        fresh.setSigningPolicy(_threeVoterPolicy(0));
        vm.stopPrank();
    }

    function test_setSigningPolicy_revertsWhenVoterRepeated() public {
        uint16[] memory w = new uint16[](2);
        (w[0], w[1]) = (300, 300);
        bytes memory raw = abi.encodePacked(uint16(2), uint24(EPOCH + 1), uint32(1), uint16(100), bytes32(0));
        raw = abi.encodePacked(raw, PROVIDER1, w[0], PROVIDER1, w[1]);
        vm.expectRevert(abi.encodeWithSelector(DevRelay.DuplicateVoter.selector, PROVIDER1));
        vm.prank(governance);
        relay.setSigningPolicy(raw);
    }

    function test_setSigningPolicy_revertsWhenMalformed() public {
        vm.expectRevert(abi.encodeWithSelector(SigningPolicies.PolicyLengthInvalid.selector, uint256(10)));
        vm.prank(governance);
        relay.setSigningPolicy(new bytes(10));
    }

    function test_checkSignatures_aboveThreshold() public view {
        // 300 + 500 = 800 > 500
        uint256 weight =
            relay.checkSignatures(EPOCH, DIGEST, _two(_sign(VOTER_A, DIGEST), _sign(VOTER_C, DIGEST)));
        vm.assertEq(weight, 800, "weight");
    }

    function test_checkSignatures_anyOrder() public view {
        bytes[] memory sigs = new bytes[](3);
        (sigs[0], sigs[1], sigs[2]) = (_sign(VOTER_C, DIGEST), _sign(VOTER_A, DIGEST), _sign(VOTER_B, DIGEST));
        vm.assertEq(relay.checkSignatures(EPOCH, DIGEST, sigs), 1000, "all");
        vm.assertEq(
            relay.checkSignatures(EPOCH, DIGEST, _two(_sign(VOTER_B, DIGEST), _sign(VOTER_C, DIGEST))),
            700,
            "B+C"
        );
    }

    function test_checkSignatures_revertsAtExactlyThreshold() public {
        // 300 + 200 = 500 = threshold: not strictly greater
        bytes[] memory sigs = _two(_sign(VOTER_A, DIGEST), _sign(VOTER_B, DIGEST));
        vm.expectRevert(
            abi.encodeWithSelector(IFccRelay.ThresholdNotReached.selector, uint256(500), uint256(500))
        );
        relay.checkSignatures(EPOCH, DIGEST, sigs);
        sigs = _one(_sign(VOTER_C, DIGEST));
        vm.expectRevert(
            abi.encodeWithSelector(IFccRelay.ThresholdNotReached.selector, uint256(500), uint256(500))
        );
        relay.checkSignatures(EPOCH, DIGEST, sigs);
    }

    function test_checkSignatures_revertsWhenNoSignatures() public {
        vm.expectRevert(
            abi.encodeWithSelector(IFccRelay.ThresholdNotReached.selector, uint256(0), uint256(500))
        );
        relay.checkSignatures(EPOCH, DIGEST, new bytes[](0));
    }

    function test_checkSignatures_revertsWhenSignerDuplicated() public {
        bytes[] memory sigs = new bytes[](3);
        (sigs[0], sigs[1], sigs[2]) = (_sign(VOTER_A, DIGEST), _sign(VOTER_B, DIGEST), _sign(VOTER_A, DIGEST));
        vm.expectRevert(abi.encodeWithSelector(IFccRelay.DuplicateSigner.selector, vm.addr(VOTER_A)));
        relay.checkSignatures(EPOCH, DIGEST, sigs);
    }

    function test_checkSignatures_revertsWhenDuplicatedThroughOtherV() public {
        // the same signature with v = 0 instead of 27 is the same signer, not a second vote
        bytes memory sig = _sign(VOTER_C, DIGEST);
        bytes memory goStyle = bytes.concat(sig);
        goStyle[64] = bytes1(uint8(sig[64]) - 27);
        vm.expectRevert(abi.encodeWithSelector(IFccRelay.DuplicateSigner.selector, vm.addr(VOTER_C)));
        relay.checkSignatures(EPOCH, DIGEST, _two(sig, goStyle));
    }

    function test_checkSignatures_revertsWhenSignerUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IFccRelay.UnknownSigner.selector, vm.addr(999)));
        relay.checkSignatures(EPOCH, DIGEST, _two(_sign(VOTER_C, DIGEST), _sign(999, DIGEST)));
    }

    function test_checkSignatures_revertsWhenEpochUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IFccRelay.UnknownRewardEpoch.selector, uint256(EPOCH + 1)));
        relay.checkSignatures(EPOCH + 1, DIGEST, _one(_sign(VOTER_C, DIGEST)));
        vm.expectRevert(abi.encodeWithSelector(IFccRelay.UnknownRewardEpoch.selector, uint256(EPOCH + 1)));
        relay.thresholdOf(EPOCH + 1);
    }

    function test_checkSignatures_revertsWhenSignatureMalformed() public {
        bytes memory sig = _sign(VOTER_C, DIGEST);
        (bytes32 r, bytes32 s) = abi.decode(sig, (bytes32, bytes32));
        bytes memory high =
            abi.encodePacked(r, bytes32(N - uint256(s)), uint8(sig[64]) == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(FccSignatures.SignatureHighS.selector);
        relay.checkSignatures(EPOCH, DIGEST, _one(high));
    }

    function test_verifyCustomSignature_returnsEpoch() public view {
        bytes32 eip191 = FccSignatures.toEthSignedMessageHash(DIGEST);
        bytes memory message =
            abi.encode(uint256(EPOCH), _two(_sign(VOTER_A, eip191), _sign(VOTER_C, eip191)));
        vm.assertEq(relay.verifyCustomSignature(message, DIGEST), EPOCH, "epoch");
    }

    function test_verifyCustomSignature_revertsAtThreshold() public {
        bytes32 eip191 = FccSignatures.toEthSignedMessageHash(DIGEST);
        bytes memory message = abi.encode(uint256(EPOCH), _one(_sign(VOTER_C, eip191)));
        vm.expectRevert(
            abi.encodeWithSelector(IFccRelay.ThresholdNotReached.selector, uint256(500), uint256(500))
        );
        relay.verifyCustomSignature(message, DIGEST);
    }

    /// Any subset of the voters passes exactly when its weight is strictly above the threshold.
    function test_fuzz_checkSignatures(uint8 subset, uint16 threshold, uint16 w0, uint16 w1, uint16 w2)
        public
    {
        w0 = uint16(_bound(w0, 0, 20_000));
        w1 = uint16(_bound(w1, 0, 20_000));
        w2 = uint16(_bound(w2, 1, 20_000));
        uint256 total = uint256(w0) + w1 + w2;
        threshold = uint16(_bound(threshold, 0, total - 1));
        uint16[] memory w = new uint16[](3);
        (w[0], w[1], w[2]) = (w0, w1, w2);
        vm.prank(governance);
        relay.setSigningPolicy(_policy(EPOCH + 1, threshold, 201, w));

        bytes[] memory sigs = new bytes[](3);
        uint256 count;
        uint256 weight;
        for (uint256 i; i < 3; ++i) {
            if (subset & (1 << i) != 0) {
                sigs[count++] = _sign(201 + i, DIGEST);
                weight += w[i];
            }
        }
        assembly {
            mstore(sigs, count)
        }
        if (weight > threshold) {
            vm.assertEq(relay.checkSignatures(EPOCH + 1, DIGEST, sigs), weight, "weight");
        } else {
            vm.expectRevert(
                abi.encodeWithSelector(IFccRelay.ThresholdNotReached.selector, weight, uint256(threshold))
            );
            relay.checkSignatures(EPOCH + 1, DIGEST, sigs);
        }
    }
}
