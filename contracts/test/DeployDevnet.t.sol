// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {DeployDevnet} from "../script/DeployDevnet.s.sol";
import {DevRelay} from "../src/DevRelay.sol";
import {KeyBackupRegistry} from "../src/KeyBackupRegistry.sol";
import {TeeExtensionRegistry} from "../src/TeeExtensionRegistry.sol";
import {TeeInstructionSender} from "../src/TeeInstructionSender.sol";
import {TeeMachineRegistry} from "../src/TeeMachineRegistry.sol";
import {TeeResultVerifier} from "../src/TeeResultVerifier.sol";
import {FccTest} from "./utils/FccTest.sol";

/// @notice The deploy script broadcasts as the account given to forge and no other.
contract DeployDevnetTest is FccTest {
    /// Review item 5: `vm.rememberKey` is what `--private-key` does (the script's only wallet);
    /// the deployer it names owns the relay and the registry, and the set sits at its nonces 0–5.
    function test_run_theGivenDeployerOwnsTheSet() public {
        address deployer = vm.rememberKey(0xD3D3);
        (
            DevRelay relay,
            TeeExtensionRegistry extensions,
            TeeMachineRegistry machines,
            TeeResultVerifier verifier,
            TeeInstructionSender sender,
            KeyBackupRegistry backups
        ) = new DeployDevnet().run();
        vm.assertEq(relay.signingPolicySetter(), deployer, "policy setter");
        vm.assertEq(extensions.registryOwner(), deployer, "registry owner");
        vm.assertEq(address(machines.instructionSender()), address(sender), "sender bound by the deployer");
        vm.assertEq(address(relay), _created(deployer, 0), "relay at nonce 0");
        vm.assertEq(address(extensions), _created(deployer, 1), "extensions at nonce 1");
        vm.assertEq(address(machines), _created(deployer, 2), "machines at nonce 2");
        vm.assertEq(address(verifier), _created(deployer, 3), "verifier at nonce 3");
        vm.assertEq(address(sender), _created(deployer, 4), "sender at nonce 4");
        vm.assertEq(address(backups), _created(deployer, 6), "backups at nonce 6 (5 bound the sender)");
    }

    /// Without an account on the command line forge would broadcast as its default sender.
    function test_run_revertsWithoutAGivenDeployer() public {
        DeployDevnet script = new DeployDevnet();
        vm.expectRevert(DeployDevnet.DeployerNotGiven.selector);
        script.run();
    }

    /// @dev The CREATE address of `deployer` at `nonce` (< 128).
    function _created(address deployer, uint256 nonce) internal pure returns (address) {
        bytes memory rlpNonce = nonce == 0 ? bytes(hex"80") : abi.encodePacked(uint8(nonce));
        return address(
            uint160(uint256(keccak256(abi.encodePacked(bytes1(0xd6), bytes1(0x94), deployer, rlpNonce))))
        );
    }
}
