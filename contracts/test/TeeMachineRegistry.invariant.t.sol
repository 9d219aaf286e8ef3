// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ITeeMachineRegistry} from "../src/interfaces/ITeeMachineRegistry.sol";
import {TeeMachineRegistry} from "../src/TeeMachineRegistry.sol";
import {Fixture} from "./utils/Fixture.sol";

/// @notice What the invariant fuzzer drives: the fixture's set with machines in two extensions,
/// on which it calls toProduction, pause, resume, ban, confirmAvailability and moves time, as
/// the operator, the extension owner or a stranger. Reverts are expected and swallowed.
contract MachineHandler is Fixture {
    uint256 internal constant MACHINES = 8;
    address internal extOwner2 = address(0xE2);
    uint256 public extensionId2;
    address[] public tees;
    /// @dev Calls that went through, per action (a run that changes nothing proves little).
    mapping(bytes4 action => uint256) public succeeded;

    function init() external {
        setUp();
        vm.startPrank(extOwner2);
        extensionId2 = extensions.createExtension("second");
        extensions.addTeeVersion(extensionId2, "v1", codeHash, _platforms(SNP));
        vm.stopPrank();
        for (uint256 k; k < MACHINES; ++k) {
            ITeeMachineRegistry.TeeMachineData memory data = _machineData(500 + k);
            if (k >= 5) data.extensionId = extensionId2;
            tees.push(_registerAs(500 + k, data));
        }
    }

    function machineCount() external pure returns (uint256) {
        return MACHINES;
    }

    function registry() external view returns (TeeMachineRegistry) {
        return machines;
    }

    function extension(uint256 k) external view returns (uint256) {
        return k == 0 ? extensionId : extensionId2;
    }

    function _tee(uint256 i) internal view returns (address) {
        return tees[i % MACHINES];
    }

    /// @dev The operator, the machine's extension owner, or a stranger.
    function _actor(address teeId, uint256 who) internal view returns (address) {
        uint256 r = who % 3;
        if (r == 0) return operator;
        if (r == 1) return machines.machine(teeId).extensionId == extensionId ? extOwner : extOwner2;
        return stranger;
    }

    function toProduction(uint256 i) external {
        address t = _tee(i);
        if (machines.machine(t).status != ITeeMachineRegistry.Status.Pending) return;
        machines.toProduction(t, _productionMessage(t, EPOCH, _idx(0, 2)));
        ++succeeded[this.toProduction.selector];
    }

    function confirmAvailability(uint256 i) external {
        address t = _tee(i);
        if (machines.machine(t).status != ITeeMachineRegistry.Status.Production) return;
        machines.confirmAvailability(t, _signedMessage(machines.availabilityHash(t), EPOCH, _idx(0, 2)));
        ++succeeded[this.confirmAvailability.selector];
    }

    function pause(uint256 i, uint256 who) external {
        address t = _tee(i);
        vm.prank(_actor(t, who));
        try machines.pause(t) {
            ++succeeded[this.pause.selector];
        } catch {}
    }

    function resume(uint256 i, uint256 who) external {
        address t = _tee(i);
        vm.prank(_actor(t, who));
        try machines.resume(t) {
            ++succeeded[this.resume.selector];
        } catch {}
    }

    function ban(uint256 i, uint256 who) external {
        // rarely: a ban is final and would soon leave nothing to do
        if (who % 8 != 1) return;
        address t = _tee(i);
        vm.prank(_actor(t, who));
        try machines.ban(t) {
            ++succeeded[this.ban.selector];
        } catch {}
    }

    /// @dev Up to half a period: availability lapses now and then.
    function warp(uint256 dt) external {
        vm.warp(block.timestamp + dt % (PERIOD / 2));
    }
}

/// @notice The production list and its index stay consistent whatever the order of production,
/// pause, resume, ban and lapse: a machine is listed exactly when it is in production, once, in
/// its own extension's list, at the position its index says; only paused machines have a pauser.
contract TeeMachineRegistryInvariantTest {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    MachineHandler internal handler;
    uint256 internal constant PERIOD_HALF = 365 days / 2;

    function setUp() public {
        handler = new MachineHandler();
        handler.init();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory selectors) {
        bytes4[] memory actions = new bytes4[](6);
        actions[0] = MachineHandler.toProduction.selector;
        actions[1] = MachineHandler.confirmAvailability.selector;
        actions[2] = MachineHandler.pause.selector;
        actions[3] = MachineHandler.resume.selector;
        actions[4] = MachineHandler.ban.selector;
        actions[5] = MachineHandler.warp.selector;
        selectors = new FuzzSelector[](1);
        selectors[0] = FuzzSelector(address(handler), actions);
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 64
    /// forge-config: ci.invariant.runs = 1024
    /// forge-config: ci.invariant.depth = 64
    function invariant_productionListMatchesStatusAndIndex() public view {
        TeeMachineRegistry machines = handler.registry();
        uint256 listed;
        for (uint256 e; e < 2; ++e) {
            uint256 ext = handler.extension(e);
            address[] memory list = machines.productionMachines(ext);
            listed += list.length;
            for (uint256 j; j < list.length; ++j) {
                ITeeMachineRegistry.Machine memory m = machines.machine(list[j]);
                _check(m.status == ITeeMachineRegistry.Status.Production, "listed but not in production");
                _check(m.extensionId == ext, "listed under another extension");
                _check(machines.productionIndex(list[j]) == j + 1, "index is not the position + 1");
            }
        }
        uint256 inProduction;
        for (uint256 k; k < handler.machineCount(); ++k) {
            address t = handler.tees(k);
            ITeeMachineRegistry.Status status = machines.machine(t).status;
            bool production = status == ITeeMachineRegistry.Status.Production;
            if (production) ++inProduction;
            _check(production == (machines.productionIndex(t) != 0), "index set exactly in production");
            _check(
                (status == ITeeMachineRegistry.Status.Paused)
                    == (machines.pauseRole(t) != ITeeMachineRegistry.PauseRole.None),
                "a pauser exactly when paused"
            );
        }
        // with the index checks above: every production machine listed once, nothing else
        _check(inProduction == listed, "list length is the production count");
    }

    /// The handler's actions do reach the registry (a fuzzer driving no-ops would prove nothing).
    function test_handler_drivesTheRegistry() public {
        handler.toProduction(0);
        handler.toProduction(1);
        handler.pause(0, 1); // the extension owner
        handler.resume(0, 0); // not the operator: refused and swallowed
        handler.resume(0, 1);
        handler.ban(1, 1); // the extension owner
        handler.warp(PERIOD_HALF - 1);
        handler.confirmAvailability(0);
        bytes4[5] memory actions = [
            MachineHandler.toProduction.selector,
            MachineHandler.pause.selector,
            MachineHandler.resume.selector,
            MachineHandler.ban.selector,
            MachineHandler.confirmAvailability.selector
        ];
        uint256[5] memory expected = [uint256(2), 1, 1, 1, 1];
        for (uint256 i; i < 5; ++i) {
            _check(handler.succeeded(actions[i]) == expected[i], "action count");
        }
        invariant_productionListMatchesStatusAndIndex();
    }

    function _check(bool ok, string memory what) internal pure {
        require(ok, what);
    }
}
