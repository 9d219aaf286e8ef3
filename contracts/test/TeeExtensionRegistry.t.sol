// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {TeeExtensionRegistry} from "../src/TeeExtensionRegistry.sol";
import {ITeeExtensionRegistry} from "../src/interfaces/ITeeExtensionRegistry.sol";
import {Fixture} from "./utils/Fixture.sol";

contract TeeExtensionRegistryTest is Fixture {
    bytes32 internal constant OTHER = keccak256("other measurement");

    function test_createExtension_sequentialIdsOwnedByCaller() public {
        vm.expectEmit(true, true, false, true, address(extensions));
        emit ITeeExtensionRegistry.ExtensionCreated(2, stranger, "wallet");
        vm.prank(stranger);
        vm.assertEq(extensions.createExtension("wallet"), 2, "id");
        vm.assertEq(extensions.extensionOwner(2), stranger, "owner");
        vm.assertEq(extensions.extensionCount(), 2, "count");
    }

    function test_transferExtensionOwnership_movesOwner() public {
        vm.prank(extOwner);
        extensions.transferExtensionOwnership(extensionId, stranger);
        vm.assertEq(extensions.extensionOwner(extensionId), stranger, "owner");
    }

    function test_transferExtensionOwnership_revertsWhenNotOwner() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.NotExtensionOwner.selector, extensionId, stranger)
        );
        vm.prank(stranger);
        extensions.transferExtensionOwnership(extensionId, stranger);
    }

    function test_transferExtensionOwnership_revertsWhenZero() public {
        vm.expectRevert(ITeeExtensionRegistry.ZeroAddress.selector);
        vm.prank(extOwner);
        extensions.transferExtensionOwnership(extensionId, address(0));
    }

    function test_addTeeVersion_allowsListedPlatformsOnly() public {
        bytes32[] memory p = new bytes32[](2);
        (p[0], p[1]) = (TDX, PLAIN);
        vm.expectEmit(true, true, false, true, address(extensions));
        emit ITeeExtensionRegistry.TeeVersionAdded(extensionId, OTHER, "v2", p);
        vm.prank(extOwner);
        extensions.addTeeVersion(extensionId, "v2", OTHER, p);
        vm.assertTrue(extensions.isCodeAllowed(extensionId, OTHER, TDX), "tdx");
        vm.assertTrue(extensions.isCodeAllowed(extensionId, OTHER, PLAIN), "plain");
        vm.assertFalse(extensions.isCodeAllowed(extensionId, OTHER, SNP), "snp");
        vm.assertFalse(extensions.isCodeAllowed(extensionId + 1, OTHER, TDX), "other extension");
        ITeeExtensionRegistry.CodeVersion memory v = extensions.codeVersion(extensionId, OTHER);
        vm.assertEq(v.version, "v2", "version");
        vm.assertTrue(v.enabled, "enabled");
    }

    function test_addTeeVersion_revertsWhenNotOwner() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.NotExtensionOwner.selector, extensionId, stranger)
        );
        vm.prank(stranger);
        extensions.addTeeVersion(extensionId, "v2", OTHER, _platforms(SNP));
    }

    function test_addTeeVersion_revertsWhenExists() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.CodeVersionExists.selector, extensionId, codeHash)
        );
        vm.prank(extOwner);
        extensions.addTeeVersion(extensionId, "v1 again", codeHash, _platforms(TDX));
    }

    function test_addTeeVersion_revertsWhenPlatformUnknown() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.UnknownPlatform.selector, bytes32("sgx"))
        );
        vm.prank(extOwner);
        extensions.addTeeVersion(extensionId, "v2", OTHER, _platforms("sgx"));
    }

    function test_addTeeVersion_revertsWhenInvalid() public {
        vm.startPrank(extOwner);
        vm.expectRevert(ITeeExtensionRegistry.CodeVersionInvalid.selector);
        extensions.addTeeVersion(extensionId, "v2", bytes32(0), _platforms(SNP));
        vm.expectRevert(ITeeExtensionRegistry.CodeVersionInvalid.selector);
        extensions.addTeeVersion(extensionId, "v2", OTHER, new bytes32[](0));
        vm.expectRevert(ITeeExtensionRegistry.CodeVersionInvalid.selector);
        extensions.addTeeVersion(extensionId, "", OTHER, _platforms(SNP));
        vm.stopPrank();
    }

    function test_disableTeeVersion_disallowsCode() public {
        vm.expectEmit(true, true, false, false, address(extensions));
        emit ITeeExtensionRegistry.TeeVersionDisabled(extensionId, codeHash);
        vm.prank(extOwner);
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.assertFalse(extensions.isCodeAllowed(extensionId, codeHash, SNP), "disabled");
    }

    function test_disableTeeVersion_revertsWhenNotOwner() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.NotExtensionOwner.selector, extensionId, stranger)
        );
        vm.prank(stranger);
        extensions.disableTeeVersion(extensionId, codeHash);
    }

    function test_disableTeeVersion_revertsWhenUnknownOrDisabled() public {
        vm.startPrank(extOwner);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.UnknownCodeVersion.selector, extensionId, OTHER)
        );
        extensions.disableTeeVersion(extensionId, OTHER);
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeExtensionRegistry.CodeVersionAlreadyDisabled.selector, extensionId, codeHash
            )
        );
        extensions.disableTeeVersion(extensionId, codeHash);
        // a disabled version cannot come back under the same hash
        vm.expectRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.CodeVersionExists.selector, extensionId, codeHash)
        );
        extensions.addTeeVersion(extensionId, "v1", codeHash, _platforms(SNP));
        vm.stopPrank();
    }

    function test_addPlatform_byRegistryOwner() public {
        vm.prank(governance);
        extensions.addPlatform("sev-snp-vlek");
        vm.assertTrue(extensions.isPlatform("sev-snp-vlek"), "added");
    }

    function test_addPlatform_revertsWhenNotRegistryOwner() public {
        vm.expectRevert(abi.encodeWithSelector(ITeeExtensionRegistry.NotRegistryOwner.selector, stranger));
        vm.prank(stranger);
        extensions.addPlatform("x");
    }

    function test_addPlatform_revertsWhenExistsOrZero() public {
        vm.startPrank(governance);
        vm.expectRevert(abi.encodeWithSelector(ITeeExtensionRegistry.PlatformExists.selector, SNP));
        extensions.addPlatform(SNP);
        vm.expectRevert(abi.encodeWithSelector(ITeeExtensionRegistry.UnknownPlatform.selector, bytes32(0)));
        extensions.addPlatform(bytes32(0));
        vm.stopPrank();
    }

    function test_transferRegistryOwnership_movesOwner() public {
        vm.prank(governance);
        extensions.transferRegistryOwnership(stranger);
        vm.assertEq(extensions.registryOwner(), stranger, "owner");
        vm.expectRevert(abi.encodeWithSelector(ITeeExtensionRegistry.NotRegistryOwner.selector, governance));
        vm.prank(governance);
        extensions.transferRegistryOwnership(governance);
    }

    function test_constructor_revertsWhenOwnerZero() public {
        vm.expectRevert(ITeeExtensionRegistry.ZeroAddress.selector);
        new TeeExtensionRegistry(address(0), new bytes32[](0));
    }

    function test_codeHashOf_isKeccakOf48Bytes() public {
        vm.assertEq(extensions.codeHashOf(MEASUREMENT), keccak256(MEASUREMENT), "keccak");
        vm.expectRevert(ITeeExtensionRegistry.CodeVersionInvalid.selector);
        extensions.codeHashOf(new bytes(32));
    }

    /// @dev `n` signers 0x…01, 0x…02, … (non-zero, distinct).
    function _signers(uint256 n) internal pure returns (address[] memory list) {
        list = new address[](n);
        for (uint256 i; i < n; ++i) {
            list[i] = address(uint160(i + 1));
        }
    }

    /// @dev fcc-core's `Governance::hash`, word by word: abi.encode(address[] signers, uint256
    /// threshold) is the list's offset (0x40), the threshold, the length, then each signer.
    function _expectedGovernanceHash(address[] memory signers, uint256 threshold)
        internal
        pure
        returns (bytes32)
    {
        bytes memory encoded = abi.encodePacked(uint256(0x40), threshold, signers.length);
        for (uint256 i; i < signers.length; ++i) {
            encoded = abi.encodePacked(encoded, uint256(uint160(signers[i])));
        }
        return keccak256(encoded);
    }

    function _expectGovernanceRevert(bytes memory reason, address[] memory signers, uint256 threshold)
        internal
    {
        vm.expectRevert(reason);
        vm.prank(extOwner);
        extensions.setGovernance(extensionId, signers, threshold);
        vm.expectRevert(reason);
        extensions.governanceHashOf(signers, threshold);
    }

    function test_setGovernance_byOwnerStoresTheTeesHash() public {
        address[] memory signers = new address[](3);
        (signers[0], signers[1], signers[2]) = (address(0xA1), address(0xB2), address(0xC3));
        bytes32 expected = _expectedGovernanceHash(signers, 2);
        vm.assertEq(expected, keccak256(abi.encode(signers, uint256(2))), "abi.encode layout");
        vm.assertEq(extensions.governanceHash(extensionId), bytes32(0), "none at first");
        vm.expectEmit(true, false, false, true, address(extensions));
        emit ITeeExtensionRegistry.GovernanceSet(extensionId, expected, signers, 2);
        vm.prank(extOwner);
        extensions.setGovernance(extensionId, signers, 2);
        vm.assertEq(extensions.governanceHash(extensionId), expected, "hash");
        vm.assertEq(extensions.governanceHashOf(signers, 2), expected, "governanceHashOf");
        vm.assertEq(extensions.governanceHash(extensionId + 1), bytes32(0), "other extension");
    }

    /// The TEE hashes its signers in the order its operator gave them (fcc-core keeps it), so
    /// the registry keeps the order too: any order is accepted, and each gives its own hash.
    function test_setGovernance_keepsTheSignersOrder() public {
        address[] memory signers = new address[](2);
        (signers[0], signers[1]) = (address(0xB2), address(0xA1));
        vm.prank(extOwner);
        extensions.setGovernance(extensionId, signers, 1);
        vm.assertEq(extensions.governanceHash(extensionId), _expectedGovernanceHash(signers, 1), "as given");
        (signers[0], signers[1]) = (address(0xA1), address(0xB2));
        vm.assertTrue(
            extensions.governanceHash(extensionId) != _expectedGovernanceHash(signers, 1), "order matters"
        );
    }

    function test_setGovernance_revertsWhenNotOwner() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.NotExtensionOwner.selector, extensionId, stranger)
        );
        vm.prank(stranger);
        extensions.setGovernance(extensionId, _signers(1), 1);
        // nor of an extension that does not exist
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeExtensionRegistry.NotExtensionOwner.selector, extensionId + 1, extOwner
            )
        );
        vm.prank(extOwner);
        extensions.setGovernance(extensionId + 1, _signers(1), 1);
    }

    function test_setGovernance_followsOwnership() public {
        vm.prank(extOwner);
        extensions.transferExtensionOwnership(extensionId, stranger);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.NotExtensionOwner.selector, extensionId, extOwner)
        );
        vm.prank(extOwner);
        extensions.setGovernance(extensionId, _signers(1), 1);
        vm.prank(stranger);
        extensions.setGovernance(extensionId, _signers(1), 1);
        vm.assertEq(extensions.governanceHash(extensionId), _expectedGovernanceHash(_signers(1), 1), "set");
    }

    function test_setGovernance_thresholdBounds() public {
        _expectGovernanceRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.GovernanceThresholdInvalid.selector, 0, 3),
            _signers(3),
            0
        );
        _expectGovernanceRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.GovernanceThresholdInvalid.selector, 4, 3),
            _signers(3),
            4
        );
        vm.startPrank(extOwner);
        extensions.setGovernance(extensionId, _signers(3), 1);
        extensions.setGovernance(extensionId, _signers(3), 3);
        vm.stopPrank();
        vm.assertEq(extensions.governanceHash(extensionId), _expectedGovernanceHash(_signers(3), 3), "3 of 3");
    }

    function test_setGovernance_signerCountBounds() public {
        _expectGovernanceRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.GovernanceSignersInvalid.selector, 0), _signers(0), 0
        );
        _expectGovernanceRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.GovernanceSignersInvalid.selector, 0), _signers(0), 1
        );
        _expectGovernanceRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.GovernanceSignersInvalid.selector, 17),
            _signers(17),
            1
        );
        vm.assertEq(extensions.MAX_GOVERNANCE_SIGNERS(), 16, "fcc-core's MAX_GOVERNANCE_SIGNERS");
        vm.prank(extOwner);
        extensions.setGovernance(extensionId, _signers(16), 16);
        vm.assertEq(
            extensions.governanceHash(extensionId), _expectedGovernanceHash(_signers(16), 16), "16 signers"
        );
    }

    function test_setGovernance_revertsOnZeroSigner() public {
        address[] memory signers = _signers(3);
        signers[1] = address(0);
        _expectGovernanceRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.GovernanceSignerInvalid.selector, address(0)),
            signers,
            1
        );
    }

    function test_setGovernance_revertsOnDuplicateSigner() public {
        address[] memory signers = _signers(4);
        signers[3] = signers[1];
        _expectGovernanceRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.GovernanceSignerInvalid.selector, signers[1]),
            signers,
            2
        );
        // adjacent too
        signers = _signers(2);
        signers[1] = signers[0];
        _expectGovernanceRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.GovernanceSignerInvalid.selector, signers[0]),
            signers,
            1
        );
    }

    function test_setGovernance_replacesThePrevious() public {
        vm.startPrank(extOwner);
        extensions.setGovernance(extensionId, _signers(2), 2);
        extensions.setGovernance(extensionId, _signers(3), 2);
        vm.stopPrank();
        vm.assertEq(extensions.governanceHash(extensionId), _expectedGovernanceHash(_signers(3), 2), "latest");
    }

    function test_clearGovernance_zeroesTheHash() public {
        vm.prank(extOwner);
        extensions.setGovernance(extensionId, _signers(2), 1);
        vm.expectEmit(true, false, false, true, address(extensions));
        emit ITeeExtensionRegistry.GovernanceSet(extensionId, bytes32(0), new address[](0), 0);
        vm.prank(extOwner);
        extensions.clearGovernance(extensionId);
        vm.assertEq(extensions.governanceHash(extensionId), bytes32(0), "cleared");
    }

    function test_clearGovernance_revertsWhenNotOwner() public {
        vm.prank(extOwner);
        extensions.setGovernance(extensionId, _signers(2), 1);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeExtensionRegistry.NotExtensionOwner.selector, extensionId, stranger)
        );
        vm.prank(stranger);
        extensions.clearGovernance(extensionId);
        vm.assertEq(extensions.governanceHash(extensionId), _expectedGovernanceHash(_signers(2), 1), "kept");
    }
}
