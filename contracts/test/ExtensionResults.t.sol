// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ITeeResultVerifier} from "../src/interfaces/ITeeResultVerifier.sol";
import {ExtensionResults} from "../src/libraries/ExtensionResults.sol";
import {ActionResult} from "../src/types/ActionResult.sol";
import {Fixture} from "./utils/Fixture.sol";

/// @notice Compute extensions' results (docs/PROTOCOL.md §8.9): fcc-core's own signed example
/// accepted, and every way a result can name the wrong thing refused.
contract ExtensionResultsTest is Fixture {
    /// §8.9 `extension.envelope`: extension 1, the code of MEASUREMENT, DATA_INTEGRITY/PROVE, 0xdeadbeef.
    bytes internal constant ENVELOPE =
        hex"000000000000000000000000000000000000000000000000000000000000000139264a37173f6bb8ba919e2b6e820682fd23710f40b2466ee82228e8447a1f6a444154415f494e5445475249545900000000000000000000000000000000000050524f564500000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000a00000000000000000000000000000000000000000000000000000000000000004deadbeef00000000000000000000000000000000000000000000000000000000";
    /// §8.9 `extension.result.signature`: fcc-core's signature of that result (TEE key 2, chain 14).
    bytes internal constant FCC_CORE_SIGNATURE =
        hex"50ba5972e1a798fdf6b6159586d89d0691911eb213800dc19cd13faf396ff41050b8e63ee8fd9fa14cc9d30a1a1d5b186cdaed460acba65604ba0d056dbeefbf01";
    /// §8.9 `extension.digest` and `extension.signature`: domain TEMPLATE over 0x22…22.
    bytes32 internal constant EXTENSION_DIGEST =
        0xa2ab1cf4efbe36be0991f4f59159addf4bb3ccf7d356d655843ef82575d1d845;
    bytes internal constant EXTENSION_SIGNATURE =
        hex"ec85d31c0aa37cfe95298c9876f38f9ce3f2d82f718e8e34787c570e955889ae1fdbda4f998a7ca4074b2e543bc5395e5646cc8bd4cba54cc7d1ca04727d616000";

    bytes32 internal constant ID = 0x1111111111111111111111111111111111111111111111111111111111111111;
    bytes32 internal constant OP_TYPE = "DATA_INTEGRITY";
    bytes32 internal constant OP_COMMAND = "PROVE";

    function _envelope(uint256 ext, bytes32 code, bytes32 opType, bytes32 opCommand, bytes memory output)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encode(ext, code, opType, opCommand, output);
    }

    function test_theEnvelopeIsWhatSolidityEncodes() public view {
        vm.assertEq(_envelope(1, codeHash, OP_TYPE, OP_COMMAND, hex"deadbeef"), ENVELOPE, "_envelope");
        ExtensionResults.Envelope memory e = ExtensionResults.decode(ENVELOPE);
        vm.assertEq(e.extensionId, 1, "e.extensionId");
        vm.assertEq(e.codeHash, codeHash, "e.codeHash");
        vm.assertEq(e.output, hex"deadbeef", "e.output");
    }

    function test_fccCoresSignedExtensionResultVerifies() public {
        address teeId = _production();
        vm.assertEq(extensionId, 1, "extensionId");
        (address signer, bytes32 code, bytes memory output) = verifier.verifyExtensionResult(
            extensionId, OP_TYPE, OP_COMMAND, _result(ID, ENVELOPE), FCC_CORE_SIGNATURE
        );
        vm.assertEq(signer, teeId, "signer");
        vm.assertEq(code, codeHash, "code");
        vm.assertEq(output, hex"deadbeef", "output");
    }

    function test_anotherOperationIsRefused() public {
        _production();
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.ExtensionMismatch.selector, 1, OP_TYPE, OP_COMMAND)
        );
        verifier.verifyExtensionResult(
            extensionId, OP_TYPE, "OTHER", _result(ID, ENVELOPE), FCC_CORE_SIGNATURE
        );
    }

    function test_anEnvelopeOfAnotherExtensionIsRefused() public {
        _production();
        ActionResult memory r = _result(ID, _envelope(2, codeHash, OP_TYPE, OP_COMMAND, hex"01"));
        bytes memory sig = _signResult(TEE_KEY, r);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.ExtensionMismatch.selector, 2, OP_TYPE, OP_COMMAND)
        );
        verifier.verifyExtensionResult(extensionId, OP_TYPE, OP_COMMAND, r, sig);
    }

    function test_otherCodeThanRegisteredIsRefused() public {
        _production();
        bytes32 other = keccak256("other code");
        ActionResult memory r = _result(ID, _envelope(1, other, OP_TYPE, OP_COMMAND, hex"01"));
        bytes memory sig = _signResult(TEE_KEY, r);
        vm.expectRevert(abi.encodeWithSelector(ITeeResultVerifier.CodeMismatch.selector, codeHash, other));
        verifier.verifyExtensionResult(extensionId, OP_TYPE, OP_COMMAND, r, sig);
    }

    function test_aFailedOrRefusedInstructionIsNoResult() public {
        _production();
        ActionResult memory r = _result(ID, "");
        r.status = 0;
        bytes memory sig = _signResult(TEE_KEY, r);
        vm.expectRevert(abi.encodeWithSelector(ITeeResultVerifier.ExtensionFailed.selector, ID));
        verifier.verifyExtensionResult(extensionId, OP_TYPE, OP_COMMAND, r, sig);
        r.submissionTag = "refused";
        vm.expectRevert(abi.encodeWithSelector(ITeeResultVerifier.RefusalNotResult.selector, ID));
        verifier.verifyExtensionResult(extensionId, OP_TYPE, OP_COMMAND, r, sig);
    }

    function test_aSignerThatIsNotInProductionIsRefused() public {
        _register();
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.NotProductionTee.selector, extensionId, TEE_ADDRESS)
        );
        verifier.verifyExtensionResult(
            extensionId, OP_TYPE, OP_COMMAND, _result(ID, ENVELOPE), FCC_CORE_SIGNATURE
        );
    }

    function test_extensionSignaturesAreFccCores() public pure {
        bytes32 digest = ExtensionResults.signingDigest(
            1, "TEMPLATE", bytes32(uint256(0x22) * (type(uint256).max / 0xff)), 14
        );
        vm.assertEq(digest, EXTENSION_DIGEST, "digest");
        (bytes32 r, bytes32 s) = abi.decode(EXTENSION_SIGNATURE, (bytes32, bytes32));
        uint8 v = uint8(EXTENSION_SIGNATURE[64]) + 27;
        vm.assertEq(ecrecover(digest, v, r, s), TEE_ADDRESS, "ecrecover");
    }
}
