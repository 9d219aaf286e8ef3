// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ITeeResultVerifier} from "../src/interfaces/ITeeResultVerifier.sol";
import {ActionResults} from "../src/libraries/ActionResults.sol";
import {FccSignatures} from "../src/libraries/FccSignatures.sol";
import {ActionResult} from "../src/types/ActionResult.sol";
import {Fixture} from "./utils/Fixture.sol";

contract TeeResultVerifierTest is Fixture {
    /// fcc-core's own signature of the §6 example result (TEE secret key 2, chain 14, v = 0).
    bytes internal constant FCC_CORE_SIGNATURE =
        hex"af1d1019a4cfec16f73bc23d63fdae75fbe604a4969ebd3bfe59d1c468f675cd7fc03b3676d946b4a648e42068a54a25901fb6aa07d4875132d521b5975d660100";

    function _example() internal pure returns (ActionResult memory) {
        return
            _result(
                bytes32(0x1111111111111111111111111111111111111111111111111111111111111111), hex"deadbeef"
            );
    }

    function test_verifyResult_acceptsFccCoreSignatureFromProductionTee() public {
        _production();
        vm.assertEq(verifier.verifyResult(extensionId, _example(), FCC_CORE_SIGNATURE), TEE_ADDRESS, "TEE");
        vm.assertEq(
            verifier.verifyResultHash(extensionId, ActionResults.hash(_example()), FCC_CORE_SIGNATURE),
            TEE_ADDRESS,
            "hash"
        );
    }

    function test_verifyResult_revertsOnceAvailabilityLapsed() public {
        address teeId = _production();
        vm.warp(uint256(machines.machine(teeId).availableUntil) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.NotProductionTee.selector, extensionId, teeId)
        );
        verifier.verifyResult(extensionId, _example(), FCC_CORE_SIGNATURE);
    }

    function test_verifyResult_revertsWhenPending() public {
        _register();
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.NotProductionTee.selector, extensionId, TEE_ADDRESS)
        );
        verifier.verifyResult(extensionId, _example(), FCC_CORE_SIGNATURE);
    }

    function test_verifyResult_revertsWhenPausedUntilResumed() public {
        address teeId = _production();
        vm.prank(operator);
        machines.pause(teeId);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.NotProductionTee.selector, extensionId, teeId)
        );
        verifier.verifyResult(extensionId, _example(), FCC_CORE_SIGNATURE);
        vm.prank(operator);
        machines.resume(teeId);
        vm.assertEq(verifier.verifyResult(extensionId, _example(), FCC_CORE_SIGNATURE), teeId, "resumed");
    }

    function test_verifyResult_revertsWhenBanned() public {
        address teeId = _production();
        vm.prank(extOwner);
        machines.ban(teeId);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.NotProductionTee.selector, extensionId, teeId)
        );
        verifier.verifyResult(extensionId, _example(), FCC_CORE_SIGNATURE);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.NotProductionTee.selector, extensionId, teeId)
        );
        verifier.verifyResultHash(extensionId, ActionResults.hash(_example()), FCC_CORE_SIGNATURE);
    }

    function test_verifyResult_revertsWhenCodeVersionDisabled() public {
        _production();
        vm.prank(extOwner);
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.NotProductionTee.selector, extensionId, TEE_ADDRESS)
        );
        verifier.verifyResult(extensionId, _example(), FCC_CORE_SIGNATURE);
    }

    function test_verifyResult_revertsWhenOtherExtension() public {
        _production();
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.NotProductionTee.selector, extensionId + 1, TEE_ADDRESS)
        );
        verifier.verifyResult(extensionId + 1, _example(), FCC_CORE_SIGNATURE);
    }

    function test_verifyResult_revertsWhenOtherChain() public {
        _production();
        vm.chainId(19);
        vm.expectRevert(); // recovers to an unrelated address
        verifier.verifyResult(extensionId, _example(), FCC_CORE_SIGNATURE);
    }

    function test_verifyResult_revertsWhenSignedByStranger() public {
        _production();
        ActionResult memory r = _example();
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.NotProductionTee.selector, extensionId, vm.addr(77))
        );
        verifier.verifyResult(extensionId, r, _signResult(77, r));
    }

    function test_verifyResult_revertsWhenSignatureMalformed() public {
        _production();
        vm.expectRevert(abi.encodeWithSelector(FccSignatures.SignatureLengthInvalid.selector, uint256(64)));
        verifier.verifyResult(extensionId, _example(), new bytes(64));
    }

    function test_fuzz_verifyResult(bytes32 id, bytes memory data, uint8 status) public {
        _production();
        ActionResult memory r = _result(id, data);
        r.status = status;
        vm.assertEq(verifier.verifyResult(extensionId, r, _signResult(TEE_KEY, r)), TEE_ADDRESS, "TEE");
    }
}
