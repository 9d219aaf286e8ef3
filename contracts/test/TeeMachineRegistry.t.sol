// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {DevRelay} from "../src/DevRelay.sol";
import {TeeMachineRegistry} from "../src/TeeMachineRegistry.sol";
import {IFccRelay} from "../src/interfaces/IFccRelay.sol";
import {ITeeMachineRegistry} from "../src/interfaces/ITeeMachineRegistry.sol";
import {Fixture} from "./utils/Fixture.sol";

contract TeeMachineRegistryTest is Fixture {
    function test_register_pendingWithTeeIdOfKey() public {
        vm.expectEmit(true, true, true, true, address(machines));
        emit ITeeMachineRegistry.TeeMachineRegistered(
            TEE_ADDRESS, extensionId, operator, codeHash, SNP, URL, TEE_PUBLIC_KEY
        );
        address teeId = _register();
        vm.assertEq(teeId, TEE_ADDRESS, "teeId");
        ITeeMachineRegistry.Machine memory m = machines.machine(teeId);
        vm.assertTrue(m.status == ITeeMachineRegistry.Status.Pending, "pending");
        vm.assertEq(m.operator, operator, "operator");
        vm.assertEq(m.proxyUrl, URL, "url");
        vm.assertEq(m.publicKey, TEE_PUBLIC_KEY, "key");
    }

    function test_register_sameOperatorMayUpdatePending() public {
        _register();
        vm.prank(operator);
        machines.register(extensionId, TEE_PUBLIC_KEY, codeHash, SNP, "https://other");
        vm.assertEq(machines.machine(TEE_ADDRESS).proxyUrl, "https://other", "url");
    }

    function test_register_revertsWhenOtherOperatorOverwrites() public {
        _register();
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        machines.register(extensionId, TEE_PUBLIC_KEY, codeHash, SNP, URL);
    }

    function test_register_revertsWhenInProduction() public {
        _production();
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector,
                TEE_ADDRESS,
                ITeeMachineRegistry.Status.Production
            )
        );
        vm.prank(operator);
        machines.register(extensionId, TEE_PUBLIC_KEY, codeHash, SNP, URL);
    }

    function test_register_revertsWhenPublicKeyInvalid() public {
        vm.expectRevert(ITeeMachineRegistry.PublicKeyInvalid.selector);
        machines.register(extensionId, new bytes(65), codeHash, SNP, URL);
    }

    function test_register_revertsWhenCodeVersionDisabled() public {
        vm.prank(extOwner);
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeMachineRegistry.CodeNotAllowed.selector, extensionId, codeHash, SNP)
        );
        _register();
    }

    function test_register_revertsWhenPlatformNotAllowed() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITeeMachineRegistry.CodeNotAllowed.selector, extensionId, codeHash, TDX)
        );
        machines.register(extensionId, TEE_PUBLIC_KEY, codeHash, TDX, URL);
    }

    function test_toProduction_withWeightAboveThreshold() public {
        address teeId = _register();
        bytes32 digest = machines.productionDigest(teeId, EPOCH);
        vm.expectEmit(true, true, false, true, address(machines));
        emit ITeeMachineRegistry.TeeMachineToProduction(teeId, extensionId, EPOCH, 700);
        machines.toProduction(teeId, _two(_sign(VOTER_B, digest), _sign(VOTER_C, digest)));
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "production");
        vm.assertEq(machines.productionMachines(extensionId).length, 1, "listed");
    }

    function test_toProduction_digestLayout() public {
        address teeId = _register();
        bytes32 registration = keccak256(
            abi.encode(
                bytes32("FCC_TEE_REGISTRATION_V1"),
                uint256(14),
                address(machines),
                teeId,
                operator,
                extensionId,
                codeHash,
                SNP,
                keccak256(bytes(URL))
            )
        );
        vm.assertEq(machines.registrationHash(teeId), registration, "registration");
        bytes32 hfs = keccak256(
            abi.encode(
                bytes32("TEE_MACHINE_PRODUCTION"),
                uint256(14),
                keccak256(abi.encode(registration, uint256(EPOCH)))
            )
        );
        vm.assertEq(
            machines.productionDigest(teeId, EPOCH),
            keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", hfs)),
            "digest"
        );
    }

    function test_toProduction_revertsAtExactlyThreshold() public {
        address teeId = _register();
        bytes32 digest = machines.productionDigest(teeId, EPOCH);
        vm.expectRevert(
            abi.encodeWithSelector(IFccRelay.ThresholdNotReached.selector, uint256(500), uint256(500))
        );
        machines.toProduction(teeId, _two(_sign(VOTER_A, digest), _sign(VOTER_B, digest)));
    }

    function test_toProduction_revertsWhenSignerDuplicated() public {
        address teeId = _register();
        bytes32 digest = machines.productionDigest(teeId, EPOCH);
        vm.expectRevert(abi.encodeWithSelector(IFccRelay.DuplicateSigner.selector, vm.addr(VOTER_C)));
        machines.toProduction(teeId, _two(_sign(VOTER_C, digest), _sign(VOTER_C, digest)));
    }

    function test_toProduction_revertsWhenSignerUnknown() public {
        address teeId = _register();
        bytes32 digest = machines.productionDigest(teeId, EPOCH);
        vm.expectRevert(abi.encodeWithSelector(IFccRelay.UnknownSigner.selector, vm.addr(4242)));
        machines.toProduction(teeId, _two(_sign(VOTER_C, digest), _sign(4242, digest)));
    }

    function test_toProduction_revertsWhenSignedForOldEpoch() public {
        address teeId = _register();
        bytes32 oldDigest = machines.productionDigest(teeId, EPOCH);
        vm.prank(governance);
        relay.setSigningPolicy(_threeVoterPolicy(EPOCH + 1));
        // signatures over the previous epoch's digest recover to unrelated addresses
        vm.expectRevert();
        machines.toProduction(teeId, _two(_sign(VOTER_C, oldDigest), _sign(VOTER_A, oldDigest)));
    }

    function test_toProduction_revertsWhenCodeVersionDisabled() public {
        address teeId = _register();
        bytes32 digest = machines.productionDigest(teeId, EPOCH);
        vm.prank(extOwner);
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeMachineRegistry.CodeNotAllowed.selector, extensionId, codeHash, SNP)
        );
        machines.toProduction(teeId, _two(_sign(VOTER_C, digest), _sign(VOTER_A, digest)));
    }

    function test_toProduction_revertsWhenNotPending() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector,
                TEE_ADDRESS,
                ITeeMachineRegistry.Status.None
            )
        );
        machines.toProduction(TEE_ADDRESS, new bytes[](0));
    }

    function test_toProduction_revertsWithoutPolicy() public {
        DevRelay empty = new DevRelay(governance, DevRelay.HashScheme.Legacy);
        TeeMachineRegistry registry = new TeeMachineRegistry(extensions, empty);
        vm.prank(operator);
        registry.register(extensionId, TEE_PUBLIC_KEY, codeHash, SNP, URL);
        vm.expectRevert(ITeeMachineRegistry.NoSigningPolicy.selector);
        registry.toProduction(TEE_ADDRESS, new bytes[](0));
    }

    function test_isProductionTee_falseOnceCodeDisabled() public {
        address teeId = _production();
        vm.prank(extOwner);
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.assertFalse(machines.isProductionTee(extensionId, teeId), "disabled code");
        vm.assertFalse(machines.isProductionTee(extensionId + 1, teeId), "other extension");
    }

    function test_pause_byOperatorThenResume() public {
        address teeId = _production();
        vm.prank(operator);
        machines.pause(teeId);
        vm.assertFalse(machines.isProductionTee(extensionId, teeId), "paused");
        vm.assertEq(machines.productionMachines(extensionId).length, 0, "unlisted");
        vm.prank(extOwner);
        machines.resume(teeId);
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "resumed");
    }

    function test_pause_revertsWhenUnauthorised() public {
        address teeId = _production();
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        machines.pause(teeId);
    }

    function test_pause_revertsWhenNotInProduction() public {
        address teeId = _register();
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector, teeId, ITeeMachineRegistry.Status.Pending
            )
        );
        vm.prank(operator);
        machines.pause(teeId);
    }

    function test_resume_revertsWhenUnauthorisedOrNotPaused() public {
        address teeId = _production();
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector,
                teeId,
                ITeeMachineRegistry.Status.Production
            )
        );
        vm.prank(operator);
        machines.resume(teeId);
        vm.prank(operator);
        machines.pause(teeId);
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        machines.resume(teeId);
    }

    function test_resume_revertsWhenCodeVersionDisabled() public {
        address teeId = _production();
        vm.prank(operator);
        machines.pause(teeId);
        vm.prank(extOwner);
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeMachineRegistry.CodeNotAllowed.selector, extensionId, codeHash, SNP)
        );
        vm.prank(operator);
        machines.resume(teeId);
    }

    function test_ban_isFinal() public {
        address teeId = _production();
        vm.expectEmit(true, true, false, false, address(machines));
        emit ITeeMachineRegistry.TeeMachineBanned(teeId, extOwner);
        vm.prank(extOwner);
        machines.ban(teeId);
        vm.assertFalse(machines.isProductionTee(extensionId, teeId), "banned");
        vm.assertEq(machines.productionMachines(extensionId).length, 0, "unlisted");
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector, teeId, ITeeMachineRegistry.Status.Banned
            )
        );
        vm.prank(operator);
        machines.register(extensionId, TEE_PUBLIC_KEY, codeHash, SNP, URL);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector, teeId, ITeeMachineRegistry.Status.Banned
            )
        );
        vm.prank(extOwner);
        machines.ban(teeId);
    }

    function test_ban_revertsWhenNotExtensionOwner() public {
        address teeId = _production();
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NotAuthorised.selector, operator));
        vm.prank(operator);
        machines.ban(teeId);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector, address(1), ITeeMachineRegistry.Status.None
            )
        );
        machines.ban(address(1));
    }

    function test_selectProductionMachine_drawsAmongAllowed() public {
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NoProductionMachine.selector, extensionId));
        machines.selectProductionMachine(extensionId, bytes32(0));
        address[3] memory ids;
        for (uint256 k; k < 3; ++k) {
            ids[k] = _productionOfKey(1000 + k);
        }
        bool[3] memory seen;
        for (uint256 salt; salt < 24; ++salt) {
            address chosen = machines.selectProductionMachine(extensionId, bytes32(salt));
            for (uint256 k; k < 3; ++k) {
                if (chosen == ids[k]) seen[k] = true;
            }
        }
        vm.assertTrue(seen[0] && seen[1] && seen[2], "every machine drawn");
    }

    function test_selectProductionMachine_skipsDisabledCode() public {
        address teeId = _production();
        bytes32 v2 = keccak256("v2");
        vm.startPrank(extOwner);
        extensions.addTeeVersion(extensionId, "v2", v2, _platforms(SNP));
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NoProductionMachine.selector, extensionId));
        machines.selectProductionMachine(extensionId, bytes32(0));
        vm.assertTrue(teeId != address(0), "listed but skipped");
    }

    function test_registrationHash_revertsWhenUnknown() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector, address(7), ITeeMachineRegistry.Status.None
            )
        );
        machines.registrationHash(address(7));
    }

    /// @dev A production machine whose "public key" is arbitrary 64 bytes (its secret key unknown).
    function _productionOfKey(uint256 seed) internal returns (address teeId) {
        vm.prank(operator);
        teeId = machines.register(
            extensionId, abi.encodePacked(keccak256(abi.encode(seed)), bytes32(seed)), codeHash, SNP, URL
        );
        bytes32 digest = machines.productionDigest(teeId, EPOCH);
        machines.toProduction(teeId, _two(_sign(VOTER_C, digest), _sign(VOTER_B, digest)));
    }
}
