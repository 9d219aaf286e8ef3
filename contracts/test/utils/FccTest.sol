// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Vm} from "./Vm.sol";

/// @notice Base of the tests: the cheatcode handle, signing helpers and the shared vectors of
/// docs/PROTOCOL.md (the worked example: providers with secret keys 1 and 3, the TEE with key 2).
abstract contract FccTest {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @dev secp256k1 group order.
    uint256 internal constant N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141;

    // docs/PROTOCOL.md §2 and §7
    uint256 internal constant PROVIDER1_KEY = 1;
    uint256 internal constant PROVIDER2_KEY = 3;
    uint256 internal constant TEE_KEY = 2;
    address internal constant PROVIDER1 = 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf;
    address internal constant PROVIDER2 = 0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69;
    address internal constant TEE_ADDRESS = 0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF;
    bytes internal constant TEE_PUBLIC_KEY =
        hex"c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee51ae168fea63dc339a3c58419466ceaeef7f632653266d0e1236431a950cfe52a";
    bytes internal constant EXAMPLE_POLICY =
        hex"00020003e80033450001f45eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed7e5f4552091a69125d5dfcb7b8c2659029395bdf02586813eb9362372eef6200f3b1dbc3f819671cba690190";

    /// @notice `r ‖ s ‖ v` with v ∈ {27, 28}, as vm.sign gives it.
    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @notice A signing policy's bytes for `n` voters with secret keys `firstKey..firstKey+n-1`.
    function _policy(uint24 epoch, uint16 threshold, uint256 firstKey, uint16[] memory weights)
        internal
        pure
        returns (bytes memory raw)
    {
        raw = abi.encodePacked(
            uint16(weights.length), epoch, uint32(100), threshold, bytes32(uint256(0x5eed))
        );
        for (uint256 i; i < weights.length; ++i) {
            raw = abi.encodePacked(raw, vm.addr(firstKey + i), weights[i]);
        }
    }

    /// @notice Flare's signature list of a relay message (docs/PROTOCOL.md §16): `count u16`, then
    /// `v ‖ r ‖ s ‖ index u16` by the voter at each of `indices` (secret key `firstKey + index`).
    function _relaySignatures(bytes32 digest, uint256 firstKey, uint256[] memory indices)
        internal
        pure
        returns (bytes memory out)
    {
        out = abi.encodePacked(uint16(indices.length));
        for (uint256 i; i < indices.length; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(firstKey + indices[i], digest);
            out = abi.encodePacked(out, v, r, s, uint16(indices[i]));
        }
    }

    /// @notice A relay message for `verifyCustomSignature(_, messageHash)`: `relay()`'s selector,
    /// the policy, the message `(1, 0, 0, messageHash)` and the signature list.
    function _customRelayMessage(bytes memory policy, bytes32 messageHash, bytes memory signatures)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(
            bytes4(keccak256("relay()")), policy, uint8(1), uint32(0), uint8(0), messageHash, signatures
        );
    }

    /// @notice A relay message moving to `newPolicy`: selector, latest policy, 0x00, new policy, signatures.
    function _policyRelayMessage(bytes memory policy, bytes memory newPolicy, bytes memory signatures)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(bytes4(keccak256("relay()")), policy, uint8(0), newPolicy, signatures);
    }

    function _idx(uint256 a) internal pure returns (uint256[] memory list) {
        list = new uint256[](1);
        list[0] = a;
    }

    function _idx(uint256 a, uint256 b) internal pure returns (uint256[] memory list) {
        list = new uint256[](2);
        (list[0], list[1]) = (a, b);
    }

    function _idx(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory list) {
        list = new uint256[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

    function _bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        return min + x % (max - min + 1);
    }

    function _one(bytes memory a) internal pure returns (bytes[] memory list) {
        list = new bytes[](1);
        list[0] = a;
    }

    function _two(bytes memory a, bytes memory b) internal pure returns (bytes[] memory list) {
        list = new bytes[](2);
        list[0] = a;
        list[1] = b;
    }
}
