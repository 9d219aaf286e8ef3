// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {DevRelay} from "../src/DevRelay.sol";
import {KeyBackupRegistry} from "../src/KeyBackupRegistry.sol";
import {TeeExtensionRegistry} from "../src/TeeExtensionRegistry.sol";
import {TeeInstructionSender} from "../src/TeeInstructionSender.sol";
import {TeeMachineRegistry} from "../src/TeeMachineRegistry.sol";
import {TeeResultVerifier} from "../src/TeeResultVerifier.sol";
import {Vm} from "../test/utils/Vm.sol";

/// @notice Deploys the contract set for a devnet, in a fixed order (so addresses follow from the
/// deployer's nonce): DevRelay (chain-bound hashes, finalization window 2), TeeExtensionRegistry (sev-snp, tdx, plain),
/// TeeMachineRegistry, TeeResultVerifier, TeeInstructionSender, KeyBackupRegistry. The deployer
/// owns the relay and the registry. Environment: `FCC_DEPLOYER_KEY` (default: anvil's first
/// account), `FCC_POLICY` (hex policy bytes to set as the first signing policy; optional).
/// `forge script script/DeployDevnet.s.sol --rpc-url <url> --broadcast`
contract DeployDevnet {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    /// @dev anvil's first default account (a public test key).
    uint256 internal constant ANVIL_KEY_0 =
        0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80;
    /// @dev Reward epochs a policy may lag the latest and still sign custom messages (DevRelay).
    uint256 internal constant MESSAGE_FINALIZATION_WINDOW = 2;
    /// @dev How long a machine stays available without the providers' confirmation (1 day).
    uint64 internal constant AVAILABILITY_PERIOD = 1 days;

    function run()
        external
        returns (
            DevRelay relay,
            TeeExtensionRegistry extensions,
            TeeMachineRegistry machines,
            TeeResultVerifier verifier,
            TeeInstructionSender sender,
            KeyBackupRegistry backups
        )
    {
        uint256 key = vm.envOr("FCC_DEPLOYER_KEY", ANVIL_KEY_0);
        bytes memory policy = vm.envOr("FCC_POLICY", bytes(""));
        bytes32[] memory platforms = new bytes32[](3);
        (platforms[0], platforms[1], platforms[2]) = ("sev-snp", "tdx", "plain");
        vm.startBroadcast(key);
        address deployer = vm.addr(key);
        relay = new DevRelay(deployer, DevRelay.HashScheme.ChainBound, MESSAGE_FINALIZATION_WINDOW);
        extensions = new TeeExtensionRegistry(deployer, platforms);
        machines = new TeeMachineRegistry(extensions, relay, AVAILABILITY_PERIOD);
        verifier = new TeeResultVerifier(machines);
        sender = new TeeInstructionSender(extensions, machines, relay);
        machines.setInstructionSender(address(sender));
        backups = new KeyBackupRegistry(extensions, verifier);
        if (policy.length != 0) relay.setSigningPolicy(policy);
        vm.stopBroadcast();
    }
}
