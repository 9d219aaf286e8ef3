// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ActionResults} from "../src/libraries/ActionResults.sol";
import {FccSignatures} from "../src/libraries/FccSignatures.sol";
import {SigningPolicies, SigningPolicy} from "../src/libraries/SigningPolicies.sol";
import {ActionResult} from "../src/types/ActionResult.sol";
import {FccTest} from "./utils/FccTest.sol";

/// @dev External entry points so reverts of the libraries can be expected.
contract LibraryHarness {
    function recover(bytes32 digest, bytes calldata signature) external pure returns (address) {
        return FccSignatures.recoverCalldata(digest, signature);
    }

    function recoverMemory(bytes32 digest, bytes memory signature) external pure returns (address) {
        return FccSignatures.recoverMemory(digest, signature);
    }

    function decode(bytes memory raw)
        external
        pure
        returns (SigningPolicy memory policy, uint256 totalWeight)
    {
        return SigningPolicies.decode(raw);
    }

    function legacyHash(bytes memory raw) external pure returns (bytes32) {
        return SigningPolicies.legacyHash(raw);
    }

    function signer(ActionResult calldata result, bytes calldata signature) external view returns (address) {
        return ActionResults.signer(result, signature);
    }
}

/// @notice FccSignatures, ActionResults and SigningPolicies against the vectors of
/// docs/PROTOCOL.md, which fcc-core's kat.rs checks on the Rust side: the same bytes, the same
/// hashes, and fcc-core's own signatures recover on chain.
contract LibrariesTest is FccTest {
    LibraryHarness internal h = new LibraryHarness();

    // docs/PROTOCOL.md §3 and §6
    bytes32 internal constant INSTRUCTION_DATA_HASH =
        0xf52cebffeaca21a233a2c350f8db5f8fc111c50232b25546075a5ab0416cfe0b;
    bytes32 internal constant INSTRUCTION_HASH_FOR_SIGNING =
        0x1349b3c5f2d54b43337c2ad6355410856a5a962c1af8618f560076f8dce55353;
    bytes32 internal constant INSTRUCTION_DIGEST =
        0x6c2053adb1e599a7fc0e7bac766f45e1bd2de5c32ab361e25a559251d840eaa7;
    bytes internal constant INSTRUCTION_SIGNATURE =
        hex"514302e207af3c731347bb1d4d7a0c904c6ca907d8171b3fe36250a373f4204c49d58f0e7b98b08d9c1c335a5156523fe2f3f9754cf3d8e50115f01151bf9fd501";
    bytes32 internal constant RESULT_HASH =
        0xc53d806eea68a70e3bcd6d6e37d0c8be94c2b4446f1c152695ff68bfbd2468db;
    bytes32 internal constant RESULT_HASH_FOR_SIGNING =
        0xbd6b67094d3a8e039800a139c4432165dc6877d6d66f311cc61248e9874eaa93;
    bytes32 internal constant RESULT_DIGEST =
        0xb13ac616d77772920ed9612690a333e8e66bb752603b5ccdf9393782e9825885;
    bytes internal constant RESULT_SIGNATURE =
        hex"af1d1019a4cfec16f73bc23d63fdae75fbe604a4969ebd3bfe59d1c468f675cd7fc03b3676d946b4a648e42068a54a25901fb6aa07d4875132d521b5975d660100";

    function _exampleResult() internal pure returns (ActionResult memory r) {
        r.id = bytes32(0x1111111111111111111111111111111111111111111111111111111111111111);
        r.submissionTag = "threshold";
        r.status = 1;
        r.data = hex"deadbeef";
        r.log = "ignored: not signed";
        r.version = "fcc-core/0.1.0";
    }

    // ---- FccSignatures ----

    function test_payloadHash_matchesProtocolInstructionVector() public pure {
        bytes32 hfs = FccSignatures.payloadHash("TEE_INSTRUCTION", 14, INSTRUCTION_DATA_HASH);
        vm.assertEq(hfs, INSTRUCTION_HASH_FOR_SIGNING, "hashForSigning");
        vm.assertEq(FccSignatures.toEthSignedMessageHash(hfs), INSTRUCTION_DIGEST, "digest");
        vm.assertEq(
            hfs, keccak256(abi.encode(bytes32("TEE_INSTRUCTION"), uint256(14), INSTRUCTION_DATA_HASH)), "abi"
        );
    }

    function test_toEthSignedMessageHash_matchesAbiEncodePacked() public pure {
        bytes32 x = keccak256("x");
        vm.assertEq(
            FccSignatures.toEthSignedMessageHash(x),
            keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", x)),
            "eip191"
        );
    }

    function test_recover_fccCoreProviderSignatureV1() public view {
        // provider 1's RFC 6979 signature from fcc-core, v = 1 (Go style)
        vm.assertEq(h.recover(INSTRUCTION_DIGEST, INSTRUCTION_SIGNATURE), PROVIDER1, "signer");
    }

    function test_recover_acceptsV27And28() public view {
        bytes memory sig = INSTRUCTION_SIGNATURE;
        sig[64] = bytes1(uint8(28));
        vm.assertEq(h.recover(INSTRUCTION_DIGEST, sig), PROVIDER1, "v=28");
        bytes memory sig2 = _sign(PROVIDER1_KEY, INSTRUCTION_DIGEST);
        vm.assertEq(h.recover(INSTRUCTION_DIGEST, sig2), PROVIDER1, "vm.sign");
        vm.assertEq(h.recoverMemory(INSTRUCTION_DIGEST, sig2), PROVIDER1, "memory");
    }

    function test_recover_revertsWhenVInvalid() public {
        bytes memory sig = INSTRUCTION_SIGNATURE;
        sig[64] = bytes1(uint8(2));
        vm.expectRevert(abi.encodeWithSelector(FccSignatures.SignatureVInvalid.selector, uint8(29)));
        h.recover(INSTRUCTION_DIGEST, sig);
    }

    function test_recover_revertsWhenHighS() public {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PROVIDER1_KEY, INSTRUCTION_DIGEST);
        bytes memory twin = abi.encodePacked(r, bytes32(N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(FccSignatures.SignatureHighS.selector);
        h.recover(INSTRUCTION_DIGEST, twin);
    }

    function test_recover_revertsWhenLengthInvalid() public {
        vm.expectRevert(abi.encodeWithSelector(FccSignatures.SignatureLengthInvalid.selector, uint256(64)));
        h.recover(INSTRUCTION_DIGEST, new bytes(64));
        vm.expectRevert(abi.encodeWithSelector(FccSignatures.SignatureLengthInvalid.selector, uint256(66)));
        h.recoverMemory(INSTRUCTION_DIGEST, new bytes(66));
    }

    function test_recover_revertsWhenUnrecoverable() public {
        // r = s = 0: ecrecover returns the zero address
        bytes memory sig = abi.encodePacked(bytes32(0), bytes32(0), uint8(27));
        vm.expectRevert(FccSignatures.SignatureInvalid.selector);
        h.recover(INSTRUCTION_DIGEST, sig);
    }

    function test_fuzz_recover(uint256 key, bytes32 digest, bool goStyleV) public view {
        key = _bound(key, 1, N - 1);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        uint8 wireV = goStyleV ? v - 27 : v;
        vm.assertEq(h.recover(digest, abi.encodePacked(r, s, wireV)), vm.addr(key), "signer");
    }

    function test_fuzz_recover_refusesHighSTwin(uint256 key, bytes32 digest) public {
        key = _bound(key, 1, N - 1);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        vm.expectRevert(FccSignatures.SignatureHighS.selector);
        h.recover(digest, abi.encodePacked(r, bytes32(N - uint256(s)), v == 27 ? uint8(28) : uint8(27)));
    }

    function test_fuzz_recover_refusesBadV(bytes32 digest, bytes32 r, bytes32 s, uint8 v) public {
        vm.assume(v != 0 && v != 1 && v != 27 && v != 28);
        vm.expectRevert();
        h.recover(digest, abi.encodePacked(r, s, v));
    }

    // ---- ActionResults ----

    function test_resultHash_matchesProtocolVector() public pure {
        ActionResult memory r = _exampleResult();
        vm.assertEq(ActionResults.hash(r), RESULT_HASH, "resultHash");
        vm.assertEq(
            FccSignatures.payloadHash(ActionResults.RESULT_PREFIX, 14, RESULT_HASH),
            RESULT_HASH_FOR_SIGNING,
            "hfs"
        );
        vm.assertEq(ActionResults.signingDigest(RESULT_HASH, 14), RESULT_DIGEST, "digest");
    }

    function test_resultHash_submissionTagVectors() public pure {
        vm.assertEq(
            keccak256("threshold"),
            0xd46c2b20c7303c2e50535d224276492e8a1eda2a3d7398e0bea254640c1154e7,
            "threshold"
        );
        vm.assertEq(
            keccak256("end"), 0xbbfd0a3465675fb6072dc027b2ca829f00701c4aabf226bef22a34354af88877, "end"
        );
        vm.assertEq(
            keccak256("submit"), 0x3c459b2deb4d7f987d15a8ba5068ad8ef6a6cf519a58e7505ee5cc78f3ce1368, "submit"
        );
    }

    function test_digest_usesBlockChainId() public {
        vm.chainId(14);
        vm.assertEq(ActionResults.digest(_exampleResult()), RESULT_DIGEST, "chain 14");
        vm.chainId(19);
        vm.assertTrue(ActionResults.digest(_exampleResult()) != RESULT_DIGEST, "chain 19 differs");
    }

    /// The cross-check with the Rust core: fcc-core's signature of the example result (§6,
    /// produced by `Tee` with secret key 2, v = 0) recovers to the TEE's address on chain 14.
    function test_signer_fccCoreResultSignature() public {
        vm.chainId(14);
        vm.assertEq(h.signer(_exampleResult(), RESULT_SIGNATURE), TEE_ADDRESS, "TEE");
        vm.assertEq(vm.addr(TEE_KEY), TEE_ADDRESS, "key 2");
        vm.assertEq(address(uint160(uint256(keccak256(TEE_PUBLIC_KEY)))), TEE_ADDRESS, "public key");
    }

    function test_signer_unsignedFieldsDoNotMatter() public {
        vm.chainId(14);
        ActionResult memory r = _exampleResult();
        r.log = "anything";
        r.opType = "F_FDC2";
        r.additionalResultStatus = hex"0102";
        vm.assertEq(h.signer(r, RESULT_SIGNATURE), TEE_ADDRESS, "TEE");
    }

    function test_signer_otherDataRecoversSomeoneElse() public {
        vm.chainId(14);
        ActionResult memory r = _exampleResult();
        r.data = hex"deadbeee";
        vm.assertTrue(h.signer(r, RESULT_SIGNATURE) != TEE_ADDRESS, "data is signed");
        r = _exampleResult();
        r.status = 0;
        vm.assertTrue(h.signer(r, RESULT_SIGNATURE) != TEE_ADDRESS, "status is signed");
    }

    function test_fuzz_resultHash(bytes32 id, string memory tag, uint8 status, bytes memory data)
        public
        pure
    {
        vm.assertEq(
            ActionResults.resultHash(id, tag, status, data),
            keccak256(bytes.concat(keccak256(data), id, keccak256(bytes(tag)), bytes1(status))),
            "layout"
        );
    }

    // ---- SigningPolicies ----

    function test_decode_examplePolicy() public view {
        (SigningPolicy memory p, uint256 total) = h.decode(EXAMPLE_POLICY);
        vm.assertEq(p.rewardEpochId, 1000, "epoch");
        vm.assertEq(p.startVotingRoundId, 3_360_000, "start");
        vm.assertEq(p.threshold, 500, "threshold");
        vm.assertEq(p.seed, 0x5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed, "seed");
        vm.assertEq(p.voters.length, 2, "n");
        vm.assertEq(p.voters[0], PROVIDER1, "voter 0");
        vm.assertEq(p.voters[1], PROVIDER2, "voter 1");
        vm.assertEq(p.weights[0], 600, "weight 0");
        vm.assertEq(p.weights[1], 400, "weight 1");
        vm.assertEq(total, 1000, "total");
    }

    function test_legacyHash_examplePolicy() public view {
        vm.assertEq(
            h.legacyHash(EXAMPLE_POLICY),
            0xab29e68e111739392bca10cdd145868e86a1cb1e6653375eb4b607779e8d6e5a,
            "legacy"
        );
        bytes32 chainBound = SigningPolicies.chainBoundHash(EXAMPLE_POLICY, 14);
        vm.assertEq(
            chainBound, 0x0d47432c82293dbebc7102e9cfee4df3f5eaea446bf8b54223f73407d79e3783, "chainBound14"
        );
        // what voters sign to rotate a chain-bound TEE to this policy (§8.1)
        vm.assertEq(
            FccSignatures.toEthSignedMessageHash(chainBound),
            0x32161e986da883046c889082366aee455cc62868d4dc9206c897bfa3329da7bb,
            "updatePolicy.digest"
        );
    }

    function test_legacyHash_flareEpoch309() public view {
        bytes memory raw = _epoch309();
        (SigningPolicy memory p, uint256 total) = h.decode(raw);
        vm.assertEq(p.voters.length, 85, "voters");
        vm.assertEq(p.startVotingRoundId, 1_038_240, "start");
        vm.assertEq(p.threshold, 32_748, "threshold");
        vm.assertEq(total, 65_495, "total");
        vm.assertEq(
            h.legacyHash(raw), 0x96986bfe5ffa787b6d33f4b16b3d40d5a46f38972c271771ddbe47fb142a0363, "legacy"
        );
        vm.assertEq(
            SigningPolicies.chainBoundHash(raw, 14),
            0x1a81e6e4a01d783bb49f5fc40ee7d2b5af07839550f860adf97772a84ada6630,
            "chainBound14"
        );
        vm.assertEq(
            SigningPolicies.chainBoundHash(raw, 19),
            0xf9492f2ad1003722b894b5f30cdc6aa37e75e06fbfbe44c4e77e3c1b37a8d4f0,
            "chainBound19"
        );
    }

    function test_fuzz_legacyHash(bytes memory raw) public view {
        vm.assume(raw.length >= 65 && raw.length <= 2000);
        vm.assertEq(h.legacyHash(raw), _legacyReference(raw), "chunked");
    }

    function test_decode_revertsWhenLengthInvalid() public {
        bytes memory raw = bytes.concat(EXAMPLE_POLICY, hex"00");
        vm.expectRevert(abi.encodeWithSelector(SigningPolicies.PolicyLengthInvalid.selector, raw.length));
        h.decode(raw);
        vm.expectRevert(abi.encodeWithSelector(SigningPolicies.PolicyLengthInvalid.selector, uint256(42)));
        h.decode(new bytes(42));
    }

    function test_decode_revertsWhenVoterCountInvalid() public {
        vm.expectRevert(abi.encodeWithSelector(SigningPolicies.PolicyVoterCountInvalid.selector, uint256(0)));
        h.decode(new bytes(43));
        bytes memory raw = new bytes(43 + 22 * 301);
        raw[0] = 0x01;
        raw[1] = 0x2d; // 301
        vm.expectRevert(
            abi.encodeWithSelector(SigningPolicies.PolicyVoterCountInvalid.selector, uint256(301))
        );
        h.decode(raw);
    }

    function test_decode_revertsWhenWeightOverflows() public {
        uint16[] memory w = new uint16[](2);
        w[0] = 40_000;
        w[1] = 30_000;
        vm.expectRevert(
            abi.encodeWithSelector(SigningPolicies.PolicyWeightOverflow.selector, uint256(70_000))
        );
        h.decode(_policy(1, 100, 10, w));
    }

    function test_decode_revertsWhenThresholdUnreachable() public {
        uint16[] memory w = new uint16[](2);
        w[0] = 600;
        w[1] = 400;
        vm.expectRevert(
            abi.encodeWithSelector(
                SigningPolicies.PolicyThresholdUnreachable.selector, uint16(1000), uint256(1000)
            )
        );
        h.decode(_policy(1, 1000, 10, w));
    }

    function test_legacyHash_revertsWhenTooShort() public {
        vm.expectRevert(abi.encodeWithSelector(SigningPolicies.PolicyLengthInvalid.selector, uint256(64)));
        h.legacyHash(new bytes(64));
    }

    function _epoch309() internal view returns (bytes memory) {
        string memory hexText = vm.trim(vm.readFile("../guest/core/tests/data/flare_policy_epoch309.hex"));
        return vm.parseBytes(string.concat("0x", hexText));
    }

    /// @dev The chunked hash written plainly, as the reference for the assembly version.
    function _legacyReference(bytes memory raw) internal pure returns (bytes32 hash) {
        uint256 chunks = (raw.length + 31) / 32;
        bytes memory padded = bytes.concat(raw, new bytes(chunks * 32 - raw.length));
        bytes32[] memory c = new bytes32[](chunks);
        for (uint256 i; i < chunks; ++i) {
            bytes32 word;
            assembly {
                word := mload(add(add(padded, 0x20), mul(i, 32)))
            }
            c[i] = word;
        }
        hash = keccak256(abi.encodePacked(c[0], c[1]));
        for (uint256 i = 2; i < chunks; ++i) {
            hash = keccak256(abi.encodePacked(hash, c[i]));
        }
    }
}
