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
}
