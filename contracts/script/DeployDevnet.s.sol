// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {DevRelay} from "../src/DevRelay.sol";
import {KeyBackupRegistry} from "../src/KeyBackupRegistry.sol";
import {TeeExtensionRegistry} from "../src/TeeExtensionRegistry.sol";
import {TeeInstructionSender} from "../src/TeeInstructionSender.sol";
import {TeeMachineRegistry} from "../src/TeeMachineRegistry.sol";
import {TeeResultVerifier} from "../src/TeeResultVerifier.sol";
import {Vm} from "../test/utils/Vm.sol";

/// @notice Deploys the contract set for a devnet, in a fixed order (so addresses follow from the
/// deployer's nonce): DevRelay (chain-bound hashes, finalization window 2), TeeExtensionRegistry (sev-snp, tdx, plain),
/// TeeMachineRegistry, TeeResultVerifier, TeeInstructionSender, KeyBackupRegistry. The deployer —
/// the account given to forge (`--private-key`, `--account`, `--ledger`, or `--sender` with
/// `--unlocked`), never a default — owns the relay and the registry. DevRelay's single policy
/// setter is for devnets only: on a shared network, point the registries at Flare's Relay.
/// Environment: `FCC_POLICY` (hex policy bytes to set as the first signing policy; optional).
/// `forge script script/DeployDevnet.s.sol --rpc-url <url> --broadcast --private-key <key>`
contract DeployDevnet {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    /// @dev forge's sender when no account is given (`DEFAULT_SENDER`): nobody's key.
    address internal constant FORGE_DEFAULT_SENDER = 0x1804c8AB1F12E6bbf3894d4083f33e07309d1f38;
    /// @dev Reward epochs a policy may lag the latest and still sign custom messages (DevRelay).
    uint256 internal constant MESSAGE_FINALIZATION_WINDOW = 2;
    /// @dev How long a machine stays available without the providers' confirmation (1 day).
    uint64 internal constant AVAILABILITY_PERIOD = 1 days;

    /// @notice No deployer account was given on the command line.
    error DeployerNotGiven();

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
        bytes memory policy = vm.envOr("FCC_POLICY", bytes(""));
        bytes32[] memory platforms = new bytes32[](3);
        (platforms[0], platforms[1], platforms[2]) = ("sev-snp", "tdx", "plain");
        // Broadcasts as the account given on the command line (no built-in or well-known key).
        vm.startBroadcast();
        (, address deployer,) = vm.readCallers();
        if (deployer == FORGE_DEFAULT_SENDER) revert DeployerNotGiven();
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
