// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {DevRelay} from "../src/DevRelay.sol";
import {TeeInstructionSender} from "../src/TeeInstructionSender.sol";
import {ITeeInstructionSender} from "../src/interfaces/ITeeInstructionSender.sol";
import {ITeeMachineRegistry} from "../src/interfaces/ITeeMachineRegistry.sol";
import {Fixture} from "./utils/Fixture.sol";

contract TeeInstructionSenderTest is Fixture {
    address internal user = address(0x05E7);
    address[] internal none;

    function setUp() public override {
        super.setUp();
        vm.deal(user, 10 ether);
        vm.prank(extOwner);
        sender.setInstructionFee(extensionId, 0.1 ether);
    }

    function _send(address[] memory teeIds, address[] memory cosigners, uint64 threshold, uint256 value)
        internal
        returns (bytes32)
    {
        vm.prank(user);
        return sender.sendInstructions{value: value}(
            extensionId, teeIds, "F_FDC2", "PROVE", hex"a1a2", cosigners, threshold, user
        );
    }

    function test_sendInstructions_emitsFlareEvent() public {
        address teeId = _production();
        address[] memory teeIds = new address[](1);
        teeIds[0] = teeId;
        address[] memory cosigners = new address[](1);
        cosigners[0] = address(0x3333);
        ITeeInstructionSender.TeeMachine[] memory targets = new ITeeInstructionSender.TeeMachine[](1);
        targets[0] = ITeeInstructionSender.TeeMachine(teeId, proxyId, URL);
        // nonce 1 went to the registration's attestation request
        bytes32 expectedId = keccak256(abi.encode(uint256(14), address(sender), uint256(2)));
        vm.expectEmit(true, true, true, true, address(sender));
        emit ITeeInstructionSender.TeeInstructionsSent(
            extensionId,
            expectedId,
            EPOCH,
            targets,
            "F_FDC2",
            "PROVE",
            hex"a1a2",
            cosigners,
            1,
            user,
            0.1 ether
        );
        vm.assertEq(_send(teeIds, cosigners, 1, 0.1 ether), expectedId, "id");
        vm.assertEq(sender.collectedFees(extensionId), 0.1 ether, "fees");
        vm.assertEq(sender.nonce(), 2, "nonce");
    }

    /// The sender states the relay it expects, and it must be the machine registry's.
    function test_constructor_revertsOnRelayMismatch() public {
        DevRelay other = new DevRelay(governance, DevRelay.HashScheme.ChainBound, WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(
                TeeInstructionSender.RelayMismatch.selector, address(other), address(relay)
            )
        );
        new TeeInstructionSender(extensions, machines, other);
        vm.assertEq(address(sender.relay()), address(relay), "the registry's relay");
    }

    function test_sendInstructions_drawsMachineWhenNoneListed() public {
        address teeId = _production();
        vm.recordLogs();
        _send(none, none, 0, 0.1 ether);
        vm.assertEq(vm.getRecordedLogs().length, 1, "one event");
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "production");
    }

    function test_sendAttestationRequest_onlyByTheRegistry() public {
        ITeeInstructionSender.TeeMachine memory target =
            ITeeInstructionSender.TeeMachine(TEE_ADDRESS, proxyId, URL);
        vm.expectRevert(abi.encodeWithSelector(ITeeInstructionSender.NotMachineRegistry.selector, user));
        vm.prank(user);
        sender.sendAttestationRequest(extensionId, target, hex"00");
    }

    function test_sendInstructions_revertsWhenFeeTooLow() public {
        _production();
        vm.expectRevert(
            abi.encodeWithSelector(ITeeInstructionSender.FeeTooLow.selector, 0.1 ether - 1, 0.1 ether)
        );
        _send(none, none, 0, 0.1 ether - 1);
    }

    function test_sendInstructions_revertsWhenNoProductionMachine() public {
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NoProductionMachine.selector, extensionId));
        _send(none, none, 0, 0.1 ether);
    }

    function test_sendInstructions_revertsWhenMachineNotInProduction() public {
        address teeId = _register();
        address[] memory teeIds = new address[](1);
        teeIds[0] = teeId;
        vm.expectRevert(abi.encodeWithSelector(ITeeInstructionSender.MachineNotInProduction.selector, teeId));
        _send(teeIds, none, 0, 0.1 ether);
    }

    function test_sendInstructions_revertsWhenMachineRepeated() public {
        address teeId = _production();
        address[] memory teeIds = new address[](2);
        (teeIds[0], teeIds[1]) = (teeId, teeId);
        vm.expectRevert(abi.encodeWithSelector(ITeeInstructionSender.DuplicateMachine.selector, teeId));
        _send(teeIds, none, 0, 0.1 ether);
    }

    function test_sendInstructions_revertsWhenCosignersInvalid() public {
        _production();
        address[] memory cosigners = new address[](2);
        (cosigners[0], cosigners[1]) = (address(0x33), address(0x33));
        vm.expectRevert(abi.encodeWithSelector(ITeeInstructionSender.CosignerInvalid.selector, address(0x33)));
        _send(none, cosigners, 1, 0.1 ether);
        cosigners[1] = address(0);
        vm.expectRevert(abi.encodeWithSelector(ITeeInstructionSender.CosignerInvalid.selector, address(0)));
        _send(none, cosigners, 1, 0.1 ether);
        cosigners[1] = address(0x34);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeInstructionSender.CosignersThresholdInvalid.selector, uint64(3), uint256(2)
            )
        );
        _send(none, cosigners, 3, 0.1 ether);
    }

    function test_sendInstructions_revertsWhenOperationZero() public {
        _production();
        vm.expectRevert(ITeeInstructionSender.OperationInvalid.selector);
        vm.prank(user);
        sender.sendInstructions{value: 0.1 ether}(extensionId, none, bytes32(0), "PROVE", "", none, 0, user);
    }

    function test_setInstructionFee_revertsWhenNotOwner() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITeeInstructionSender.NotExtensionOwner.selector, extensionId, stranger)
        );
        vm.prank(stranger);
        sender.setInstructionFee(extensionId, 0);
    }

    function test_withdrawFees_paysOwnerChosenAddress() public {
        _production();
        _send(none, none, 0, 0.25 ether);
        address payable to = payable(address(0xFEE));
        vm.prank(extOwner);
        sender.withdrawFees(extensionId, to);
        vm.assertEq(to.balance, 0.25 ether, "paid");
        vm.assertEq(sender.collectedFees(extensionId), 0, "cleared");
    }

    function test_withdrawFees_revertsWhenNotOwner() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITeeInstructionSender.NotExtensionOwner.selector, extensionId, stranger)
        );
        vm.prank(stranger);
        sender.withdrawFees(extensionId, payable(stranger));
    }

    function test_withdrawFees_revertsWhenTransferFails() public {
        _production();
        _send(none, none, 0, 0.1 ether);
        vm.expectRevert(ITeeInstructionSender.TransferFailed.selector);
        vm.prank(extOwner);
        sender.withdrawFees(extensionId, payable(address(this))); // no receive()
    }
}
