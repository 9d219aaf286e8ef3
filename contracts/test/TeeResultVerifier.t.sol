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

    /// fcc-core's refusal of the same id (tag "refused", status 0, no data; PROTOCOL §6).
    bytes internal constant FCC_CORE_REFUSAL_SIGNATURE =
        hex"7ba9afc061b059a3947be3113a193f8d9ad62677946eba187d4beb5dd91522532375b91b1452c8b9ea5480c2d7a19234805035d99f09b86e53cf1c25159d513301";

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

    /// Issue 21 item 5: a refusal is no result. fcc-core's refusal of the §6 example id
    /// (PROTOCOL §6 `refusal.signature`, signed under TEE_ACTION_REFUSAL) is refused for its tag;
    /// signed under the result domain by the TEE key it is refused all the same; and through the
    /// hash path its signature recovers to no production TEE.
    function test_verifyResult_revertsOnRefusal() public {
        _production();
        ActionResult memory r = _example();
        r.submissionTag = "refused";
        r.status = 0;
        r.data = "";
        vm.expectRevert(abi.encodeWithSelector(ITeeResultVerifier.RefusalNotResult.selector, r.id));
        verifier.verifyResult(extensionId, r, FCC_CORE_REFUSAL_SIGNATURE);
        bytes memory asResult = _signResult(TEE_KEY, r);
        vm.expectRevert(abi.encodeWithSelector(ITeeResultVerifier.RefusalNotResult.selector, r.id));
        verifier.verifyResult(extensionId, r, asResult);
        vm.expectPartialRevert(ITeeResultVerifier.NotProductionTee.selector);
        verifier.verifyResultHash(extensionId, ActionResults.hash(r), FCC_CORE_REFUSAL_SIGNATURE);
        // The same fields under the threshold tag are a different hash, which the TEE never signed.
        r.submissionTag = "threshold";
        vm.expectPartialRevert(ITeeResultVerifier.NotProductionTee.selector);
        verifier.verifyResult(extensionId, r, FCC_CORE_REFUSAL_SIGNATURE);
    }
}
