// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title FccSignatures
/// @notice The signature rules of fcc-core (docs/PROTOCOL.md §1, §4) on chain: 65-byte
/// `r ‖ s ‖ v` signatures with v ∈ {0, 1, 27, 28}, low S only, EIP-191 digests and the
/// `payloadHash(prefix, chainId, dataHash)` every FCC signer signs.
library FccSignatures {
    /// @notice The signature is not 65 bytes.
    error SignatureLengthInvalid(uint256 length);
    /// @notice `v` is not 0, 1, 27 or 28.
    error SignatureVInvalid(uint8 v);
    /// @notice `s` is above n/2 (the malleable twin of a low-S signature).
    error SignatureHighS();
    /// @notice `ecrecover` found no signer (r or s out of range, or no curve point for r).
    error SignatureInvalid();

    /// @dev n/2 for the secp256k1 group order n.
    uint256 internal constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @notice `keccak("\x19Ethereum Signed Message:\n32" ‖ hash)`: eth_sign's digest of 32 bytes.
    function toEthSignedMessageHash(bytes32 hash) internal pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            mstore(0x00, "\x19Ethereum Signed Message:\n32")
            mstore(0x1c, hash)
            digest := keccak256(0x00, 0x3c)
        }
    }

    /// @notice `keccak(prefix ‖ uint256 chainId ‖ dataHash)` = `keccak(abi.encode(prefix, chainId,
    /// dataHash))`: go-flare-common's signing `Payload.Hash`, with `prefix` an ASCII name
    /// right-padded to 32 bytes (`bytes32("TEE_INSTRUCTION")`, `bytes32("TEE_ACTION_RESULT")`).
    function payloadHash(bytes32 prefix, uint256 chainId, bytes32 dataHash)
        internal
        pure
        returns (bytes32 h)
    {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, prefix)
            mstore(add(ptr, 0x20), chainId)
            mstore(add(ptr, 0x40), dataHash)
            h := keccak256(ptr, 0x60)
        }
    }

    /// @notice The signer of `digest`, refusing malformed, high-S and unrecoverable signatures.
    function recover(bytes32 digest, bytes32 r, bytes32 s, uint8 v) internal pure returns (address signer) {
        if (v < 27) v += 27;
        if (v != 27 && v != 28) revert SignatureVInvalid(v);
        if (uint256(s) > HALF_ORDER) revert SignatureHighS();
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert SignatureInvalid();
    }

    /// @notice `recover` of a 65-byte `r ‖ s ‖ v` signature held in calldata.
    function recoverCalldata(bytes32 digest, bytes calldata signature) internal pure returns (address) {
        if (signature.length != 65) revert SignatureLengthInvalid(signature.length);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 0x20))
            v := byte(0, calldataload(add(signature.offset, 0x40)))
        }
        return recover(digest, r, s, v);
    }

    /// @notice `recover` of a 65-byte `r ‖ s ‖ v` signature held in memory.
    function recoverMemory(bytes32 digest, bytes memory signature) internal pure returns (address) {
        if (signature.length != 65) revert SignatureLengthInvalid(signature.length);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
        return recover(digest, r, s, v);
    }
}
