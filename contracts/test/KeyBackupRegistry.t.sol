// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IKeyBackupRegistry} from "../src/interfaces/IKeyBackupRegistry.sol";
import {ITeeResultVerifier} from "../src/interfaces/ITeeResultVerifier.sol";
import {ActionResult} from "../src/types/ActionResult.sol";
import {Fixture} from "./utils/Fixture.sol";

contract KeyBackupRegistryTest is Fixture {
    bytes32 internal constant WALLET = keccak256("wallet 1");
    address internal admin;
    address internal recovery = address(0x2EC);
    uint64 internal constant SILENCE = 1 days;

    function setUp() public override {
        super.setUp();
        admin = extOwner;
        _production();
        vm.prank(admin);
        backups.registerWallet(WALLET, extensionId, recovery, SILENCE);
        vm.warp(1_000_000);
    }

    function _backup(uint64 sequence, uint256 key)
        internal
        view
        returns (ActionResult memory r, bytes memory sig)
    {
        r = _result(
            bytes32(uint256(sequence)),
            abi.encode(bytes32("FCC_KEY_BACKUP_V1"), address(backups), WALLET, sequence, hex"c1c2c3")
        );
        sig = _signResult(key, r);
    }

    function _submit(uint64 sequence) internal {
        (ActionResult memory r, bytes memory sig) = _backup(sequence, TEE_KEY);
        backups.submitBackup(r, sig);
    }

    function test_registerWallet_recordsConfig() public view {
        IKeyBackupRegistry.Wallet memory w = backups.wallet(WALLET);
        vm.assertEq(w.admin, admin, "admin");
        vm.assertEq(w.recovery, recovery, "recovery");
        vm.assertEq(uint256(w.maxSilence), SILENCE, "silence");
    }

    function test_registerWallet_revertsWhenExistsOrInvalid() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.WalletExists.selector, WALLET));
        backups.registerWallet(WALLET, extensionId, recovery, SILENCE);
        vm.expectRevert(IKeyBackupRegistry.ZeroAddress.selector);
        backups.registerWallet(bytes32(0), extensionId, address(0), SILENCE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeyBackupRegistry.MaxSilenceTooShort.selector, uint64(59), uint64(1 hours)
            )
        );
        backups.registerWallet(bytes32(0), extensionId, recovery, 59);
        vm.stopPrank();
    }

    function test_registerWallet_revertsWhenNotExtensionOwner() public {
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        backups.registerWallet(bytes32(0), extensionId, recovery, SILENCE);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, admin));
        vm.prank(admin);
        backups.registerWallet(bytes32(0), extensionId + 1, recovery, SILENCE);
    }

    function test_configureRecovery_byAdmin() public {
        vm.prank(admin);
        backups.configureRecovery(WALLET, stranger, 2 days);
        vm.assertEq(backups.wallet(WALLET).recovery, stranger, "recovery");
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        backups.configureRecovery(WALLET, stranger, 2 days);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.UnknownWallet.selector, bytes32(0)));
        backups.configureRecovery(bytes32(0), stranger, 2 days);
    }

    function test_submitBackup_heartbeatAndFirstHandover() public {
        (ActionResult memory r, bytes memory sig) = _backup(1, TEE_KEY);
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.KeyHandover(WALLET, address(0), TEE_ADDRESS, IKeyBackupRegistry.Custody.Tee);
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.BackupSubmitted(WALLET, TEE_ADDRESS, 1, hex"c1c2c3");
        vm.prank(stranger); // anyone may relay
        backups.submitBackup(r, sig);
        IKeyBackupRegistry.Wallet memory w = backups.wallet(WALLET);
        vm.assertEq(uint256(w.lastHeartbeat), 1_000_000, "heartbeat");
        vm.assertEq(w.custodian, TEE_ADDRESS, "custodian");
        vm.assertEq(w.backupHash, keccak256(hex"c1c2c3"), "hash");
    }

    function test_submitBackup_revertsWhenStale() public {
        _submit(2);
        (ActionResult memory r, bytes memory sig) = _backup(2, TEE_KEY);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.StaleBackup.selector, uint64(2), uint64(2)));
        backups.submitBackup(r, sig);
    }

    function test_submitBackup_revertsWhenNotProductionTee() public {
        (ActionResult memory r, bytes memory sig) = _backup(1, 77);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeResultVerifier.NotProductionTee.selector, extensionId, vm.addr(77))
        );
        backups.submitBackup(r, sig);
    }

    function test_submitBackup_revertsWhenResultNotABackup() public {
        (ActionResult memory r, bytes memory sig) = _backup(1, TEE_KEY);
        r.status = 0;
        vm.expectRevert(IKeyBackupRegistry.BackupResultInvalid.selector);
        backups.submitBackup(r, sig);
        r = _result(bytes32(0), abi.encode(bytes32("OTHER"), address(backups), WALLET, uint64(1), hex""));
        vm.expectRevert(IKeyBackupRegistry.BackupResultInvalid.selector);
        backups.submitBackup(r, _signResult(TEE_KEY, r));
        r = _result(
            bytes32(0), abi.encode(bytes32("FCC_KEY_BACKUP_V1"), address(1), WALLET, uint64(1), hex"")
        );
        vm.expectRevert(IKeyBackupRegistry.BackupResultInvalid.selector);
        backups.submitBackup(r, _signResult(TEE_KEY, r));
    }

    function test_openRecovery_afterSilence() public {
        _submit(1);
        vm.warp(1_000_000 + SILENCE + 1);
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.KeyHandover(
            WALLET, TEE_ADDRESS, recovery, IKeyBackupRegistry.Custody.Recovery
        );
        vm.prank(recovery);
        backups.openRecovery(WALLET);
        vm.assertTrue(backups.wallet(WALLET).custody == IKeyBackupRegistry.Custody.Recovery, "recovery");
        // backups wait until recovery is closed
        (ActionResult memory r, bytes memory sig) = _backup(2, TEE_KEY);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.InRecovery.selector, WALLET));
        backups.submitBackup(r, sig);
    }

    function test_openRecovery_revertsWhenHeartbeatFresh() public {
        _submit(1);
        vm.warp(1_000_000 + SILENCE); // exactly maxSilence: still fresh
        vm.expectRevert(
            abi.encodeWithSelector(IKeyBackupRegistry.HeartbeatNotStale.selector, uint64(1_000_000), SILENCE)
        );
        vm.prank(recovery);
        backups.openRecovery(WALLET);
    }

    function test_openRecovery_revertsWhenUnauthorised() public {
        _submit(1);
        vm.warp(1_000_000 + SILENCE + 1);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, admin));
        vm.prank(admin);
        backups.openRecovery(WALLET);
    }

    function test_openRecovery_revertsBeforeFirstBackup() public {
        vm.warp(1_000_000 + SILENCE + 1);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, recovery));
        vm.prank(recovery);
        backups.openRecovery(WALLET);
    }

    function test_closeRecovery_nextBackupHandsBackToTee() public {
        _submit(1);
        vm.warp(1_000_000 + SILENCE + 1);
        vm.startPrank(recovery);
        backups.openRecovery(WALLET);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, admin));
        vm.stopPrank();
        vm.prank(admin);
        backups.closeRecovery(WALLET);
        vm.prank(recovery);
        backups.closeRecovery(WALLET);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotInRecovery.selector, WALLET));
        vm.prank(recovery);
        backups.closeRecovery(WALLET);
        (ActionResult memory r, bytes memory sig) = _backup(2, TEE_KEY);
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.KeyHandover(WALLET, recovery, TEE_ADDRESS, IKeyBackupRegistry.Custody.Tee);
        backups.submitBackup(r, sig);
    }
}
