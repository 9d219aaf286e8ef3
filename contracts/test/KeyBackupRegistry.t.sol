// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IKeyBackupRegistry} from "../src/interfaces/IKeyBackupRegistry.sol";
import {ITeeResultVerifier} from "../src/interfaces/ITeeResultVerifier.sol";
import {ActionResult} from "../src/types/ActionResult.sol";
import {Fixture} from "./utils/Fixture.sol";
import {Vm} from "./utils/Vm.sol";

contract KeyBackupRegistryTest is Fixture {
    bytes32 internal constant WALLET = keccak256("wallet 1");
    address internal recovery = address(0x2EC);
    uint64 internal constant SILENCE = 1 days;
    uint256 internal constant T0 = 1_000_000;
    uint256 internal constant B0 = 5000;
    /// @dev The wallet's Flare key (WALLET, KEY_ID) and the address of its public key.
    uint64 internal constant KEY_ID = 1;
    address internal constant KEY_ADDRESS = address(0x4B1D);
    /// @dev A second production TEE of the extension (a restore target after recovery).
    uint256 internal constant TEE2_KEY = 5;

    function setUp() public override {
        super.setUp();
        _production();
        vm.prank(extOwner);
        backups.registerWallet(extensionId, WALLET, recovery, SILENCE);
        vm.warp(T0);
        vm.roll(B0);
    }

    /// @dev Gives block `n` a hash (forge's default would do; explicit keeps the test readable).
    function _hashOf(uint256 n) internal returns (bytes32 h) {
        h = keccak256(abi.encode("block", n));
        vm.setBlockhash(n, h);
    }

    /// @dev The id a backup must carry, computed here independently of the registry.
    function _id(uint256 ext, bytes32 walletId, uint64 sequence) internal view returns (bytes32) {
        return keccak256(
            abi.encode(bytes32("FCC_KEY_BACKUP_V2"), uint256(14), address(backups), ext, walletId, sequence)
        );
    }

    /// @dev The content hash of the TEE's backup at `sequence` (a new backup per heartbeat).
    function _backupHash(uint64 sequence) internal pure returns (bytes32) {
        return keccak256(abi.encode("backup", sequence));
    }

    /// @dev A backup's record: the key (walletId, `keyId`), its address and the backup's hash.
    function _record(uint64 keyId, address keyAddress, bytes32 backupHash)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encode(keyId, keyAddress, backupHash);
    }

    /// @dev A backup of WALLET with `record`, referencing block `ref` (with hash `refHash`),
    /// signed by `key`.
    function _backupOf(uint64 sequence, uint64 ref, bytes32 refHash, uint256 key, bytes memory record)
        internal
        view
        returns (ActionResult memory r, bytes memory sig)
    {
        r = _result(
            _id(extensionId, WALLET, sequence),
            abi.encode(
                bytes32("FCC_KEY_BACKUP_V2"),
                address(backups),
                extensionId,
                WALLET,
                sequence,
                ref,
                refHash,
                record
            )
        );
        r.submissionTag = "key-backup";
        sig = _signResult(key, r);
    }

    /// @dev A backup of the wallet's key, referencing block `ref` (with hash `refHash`), signed by `key`.
    function _backupAt(uint64 sequence, uint64 ref, bytes32 refHash, uint256 key)
        internal
        view
        returns (ActionResult memory r, bytes memory sig)
    {
        return _backupOf(sequence, ref, refHash, key, _record(KEY_ID, KEY_ADDRESS, _backupHash(sequence)));
    }

    /// @dev A backup with `record` referencing the previous block, as a live TEE would sign it now.
    function _backupWith(uint64 sequence, uint256 key, bytes memory record)
        internal
        returns (ActionResult memory, bytes memory)
    {
        uint64 ref = uint64(block.number - 1);
        return _backupOf(sequence, ref, _hashOf(ref), key, record);
    }

    /// @dev A backup of the wallet's key referencing the previous block, as a live TEE would sign it now.
    function _backup(uint64 sequence, uint256 key) internal returns (ActionResult memory, bytes memory) {
        return _backupWith(sequence, key, _record(KEY_ID, KEY_ADDRESS, _backupHash(sequence)));
    }

    /// @dev Registers the TEE with secret key TEE2_KEY and moves it to production (voters A and C).
    function _secondTee() internal returns (address teeId) {
        teeId = _registerAs(TEE2_KEY, _machineData(TEE2_KEY));
        machines.toProduction(teeId, _productionMessage(teeId, EPOCH, _idx(0, 2)));
    }

    /// @dev Recovery opened after the silence following backup 1, and closed again.
    function _recoverAndClose() internal {
        vm.warp(block.timestamp + SILENCE + 1);
        vm.startPrank(recovery);
        backups.openRecovery(extensionId, WALLET);
        backups.closeRecovery(extensionId, WALLET);
        vm.stopPrank();
    }

    /// @dev One block later, the TEE's backup `sequence` relayed.
    function _submit(uint64 sequence) internal {
        vm.roll(block.number + 1);
        (ActionResult memory r, bytes memory sig) = _backup(sequence, TEE_KEY);
        backups.submitBackup(r, sig);
    }

    /// @dev Backup 2 by `teeKey` of key (`keyId`, `keyAddress`) is refused: the wallet holds
    /// (KEY_ID, KEY_ADDRESS).
    function _refusedAsAnotherKey(uint256 teeKey, uint64 keyId, address keyAddress) internal {
        (ActionResult memory r, bytes memory sig) =
            _backupWith(2, teeKey, _record(keyId, keyAddress, _backupHash(2)));
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeyBackupRegistry.KeyMismatch.selector, keyId, keyAddress, KEY_ID, KEY_ADDRESS
            )
        );
        backups.submitBackup(r, sig);
    }

    function _wallet() internal view returns (IKeyBackupRegistry.Wallet memory) {
        return backups.wallet(extensionId, WALLET);
    }

    // ---- registration and the extension owner ----

    function test_registerWallet_recordsConfig() public {
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.WalletRegistered(extensionId, bytes32(0), recovery, SILENCE);
        vm.prank(extOwner);
        backups.registerWallet(extensionId, bytes32(0), recovery, SILENCE);
        IKeyBackupRegistry.Wallet memory w = _wallet();
        vm.assertEq(w.recovery, recovery, "recovery");
        vm.assertEq(uint256(w.maxSilence), SILENCE, "silence");
        vm.assertEq(uint256(w.pendingFrom), 0, "nothing pending");
    }

    function test_registerWallet_revertsWhenExistsOrInvalid() public {
        vm.startPrank(extOwner);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.WalletExists.selector, extensionId, WALLET));
        backups.registerWallet(extensionId, WALLET, recovery, SILENCE);
        vm.expectRevert(IKeyBackupRegistry.ZeroAddress.selector);
        backups.registerWallet(extensionId, bytes32(0), address(0), SILENCE);
        vm.stopPrank();
    }

    /// maxSilence within [1 hour, 365 days], both ends included.
    function test_registerWallet_silenceBounds() public {
        vm.startPrank(extOwner);
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeyBackupRegistry.MaxSilenceTooShort.selector, uint64(1 hours - 1), uint64(1 hours)
            )
        );
        backups.registerWallet(extensionId, bytes32(0), recovery, 1 hours - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeyBackupRegistry.MaxSilenceTooLong.selector, uint64(365 days + 1), uint64(365 days)
            )
        );
        backups.registerWallet(extensionId, bytes32(0), recovery, 365 days + 1);
        backups.registerWallet(extensionId, bytes32(uint256(1)), recovery, 1 hours);
        backups.registerWallet(extensionId, bytes32(uint256(2)), recovery, 365 days);
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeyBackupRegistry.MaxSilenceTooLong.selector, uint64(365 days + 1), uint64(365 days)
            )
        );
        backups.configureRecovery(extensionId, WALLET, recovery, 365 days + 1);
        vm.stopPrank();
    }

    function test_registerWallet_revertsWhenNotExtensionOwner() public {
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        backups.registerWallet(extensionId, bytes32(0), recovery, SILENCE);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, extOwner));
        vm.prank(extOwner);
        backups.registerWallet(extensionId + 1, bytes32(0), recovery, SILENCE);
    }

    /// Review item 2: wallet ids are per extension, so a squatter's own extension claiming an id
    /// first takes nothing from the service that uses it.
    function test_registerWallet_idSquattedInAnotherExtensionStaysFree() public {
        bytes32 id = keccak256("service wallet");
        vm.startPrank(stranger);
        uint256 squat = extensions.createExtension("squat");
        backups.registerWallet(squat, id, stranger, 1 hours);
        vm.stopPrank();
        vm.prank(extOwner);
        backups.registerWallet(extensionId, id, recovery, SILENCE);
        vm.assertEq(backups.wallet(extensionId, id).recovery, recovery, "the service's wallet");
        vm.assertEq(backups.wallet(squat, id).recovery, stranger, "the squatter's own, apart");
        // a backup names its extension: the service's TEE signs for the service's wallet only
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.UnknownWallet.selector, squat + 1, id));
        backups.openRecovery(squat + 1, id);
    }

    /// Review item 3: the wallet admin is the extension's current owner.
    function test_walletAdmin_followsExtensionOwnership() public {
        address newOwner = address(0xBEEF);
        vm.prank(extOwner);
        extensions.transferExtensionOwnership(extensionId, newOwner);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, extOwner));
        vm.prank(extOwner);
        backups.configureRecovery(extensionId, WALLET, extOwner, SILENCE);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, extOwner));
        vm.prank(extOwner);
        backups.registerWallet(extensionId, bytes32(0), extOwner, SILENCE);
        vm.startPrank(newOwner);
        backups.configureRecovery(extensionId, WALLET, newOwner, SILENCE);
        backups.registerWallet(extensionId, bytes32(0), newOwner, SILENCE);
        vm.stopPrank();
        vm.assertEq(_wallet().pendingRecovery, newOwner, "the new owner configures");
    }

    // ---- recovery settings: delayed by the silence in force ----

    /// Review item 6: a change cannot shorten a silence under way or hand recovery over early.
    function test_configureRecovery_takesEffectAfterTheOldSilence() public {
        _submit(1);
        uint64 from = uint64(T0) + SILENCE;
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.RecoveryConfigured(extensionId, WALLET, stranger, 1 hours, from);
        vm.prank(extOwner);
        backups.configureRecovery(extensionId, WALLET, stranger, 1 hours);
        IKeyBackupRegistry.Wallet memory w = _wallet();
        vm.assertEq(w.recovery, recovery, "old recovery in force");
        vm.assertEq(w.pendingRecovery, stranger, "pending");
        vm.assertEq(uint256(w.pendingFrom), from, "from");
        // the new, shorter silence has passed, but the change is not in force
        vm.warp(T0 + 1 hours + 1);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        backups.openRecovery(extensionId, WALLET);
        vm.warp(from - 1);
        vm.assertEq(_wallet().recovery, recovery, "a second before: old");
        vm.warp(from);
        w = _wallet();
        vm.assertEq(w.recovery, stranger, "at `from`: new");
        vm.assertEq(uint256(w.maxSilence), 1 hours, "new silence");
        vm.assertEq(uint256(w.pendingFrom), 0, "applied");
        vm.prank(stranger);
        backups.openRecovery(extensionId, WALLET);
        vm.assertEq(_wallet().custodian, stranger, "the new recovery address");
    }

    function test_configureRecovery_replacesPendingAndIsUnauthorisedOtherwise() public {
        vm.startPrank(extOwner);
        backups.configureRecovery(extensionId, WALLET, stranger, 2 days);
        vm.warp(T0 + 10);
        backups.configureRecovery(extensionId, WALLET, address(0x77), 3 days);
        vm.stopPrank();
        IKeyBackupRegistry.Wallet memory w = _wallet();
        vm.assertEq(w.pendingRecovery, address(0x77), "replaced");
        vm.assertEq(uint256(w.pendingMaxSilence), 3 days, "replaced silence");
        vm.assertEq(uint256(w.pendingFrom), T0 + 10 + SILENCE, "delayed by the silence in force");
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        backups.configureRecovery(extensionId, WALLET, stranger, 2 days);
        vm.expectRevert(
            abi.encodeWithSelector(IKeyBackupRegistry.UnknownWallet.selector, extensionId, bytes32(0))
        );
        vm.prank(extOwner);
        backups.configureRecovery(extensionId, bytes32(0), stranger, 2 days);
    }

    /// A change in force is the base of the next one's delay.
    function test_configureRecovery_nextDelayIsTheNewSilence() public {
        vm.startPrank(extOwner);
        backups.configureRecovery(extensionId, WALLET, stranger, 2 hours);
        vm.warp(T0 + SILENCE);
        backups.configureRecovery(extensionId, WALLET, recovery, 3 days);
        vm.stopPrank();
        IKeyBackupRegistry.Wallet memory w = _wallet();
        vm.assertEq(w.recovery, stranger, "first change in force");
        vm.assertEq(uint256(w.pendingFrom), T0 + SILENCE + 2 hours, "delayed by 2 hours");
    }

    function test_configureRecovery_revertsInRecovery() public {
        _submit(1);
        vm.warp(T0 + SILENCE + 1);
        vm.prank(recovery);
        backups.openRecovery(extensionId, WALLET);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.InRecovery.selector, extensionId, WALLET));
        vm.prank(extOwner);
        backups.configureRecovery(extensionId, WALLET, stranger, SILENCE);
    }

    // ---- backups ----

    function test_submitBackup_heartbeatAndFirstHandover() public {
        vm.roll(B0 + 1);
        (ActionResult memory r, bytes memory sig) = _backup(1, TEE_KEY);
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.KeyRecorded(extensionId, WALLET, KEY_ID, KEY_ADDRESS);
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.KeyHandover(
            extensionId, WALLET, TEE_ADDRESS, address(0), IKeyBackupRegistry.Custody.Tee
        );
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.BackupSubmitted(
            extensionId, WALLET, TEE_ADDRESS, 1, uint64(B0), KEY_ID, KEY_ADDRESS, _backupHash(1)
        );
        vm.prank(stranger); // anyone may relay
        backups.submitBackup(r, sig);
        IKeyBackupRegistry.Wallet memory w = _wallet();
        vm.assertEq(uint256(w.lastHeartbeat), T0, "heartbeat");
        vm.assertEq(uint256(w.referenceBlock), B0, "reference block");
        vm.assertEq(w.custodian, TEE_ADDRESS, "custodian");
        vm.assertEq(uint256(w.keyId), KEY_ID, "key id");
        vm.assertEq(w.keyAddress, KEY_ADDRESS, "key address");
        vm.assertEq(w.backupHash, _backupHash(1), "the record's backup hash");
    }

    /// The first backup records the key, once: later backups of the same key only renew the hash.
    function test_submitBackup_recordsTheKeyOnce() public {
        IKeyBackupRegistry.Wallet memory w = _wallet();
        vm.assertEq(w.keyAddress, address(0), "no key before the first backup");
        vm.assertEq(uint256(w.keyId), 0, "no key id");
        _submit(1);
        vm.roll(block.number + 1);
        (ActionResult memory r, bytes memory sig) = _backup(2, TEE_KEY);
        vm.recordLogs();
        backups.submitBackup(r, sig);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(logs.length, 1, "only BackupSubmitted");
        vm.assertEq(logs[0].topics[0], IKeyBackupRegistry.BackupSubmitted.selector, "the heartbeat");
        vm.assertEq(
            logs[0].data,
            abi.encode(uint64(2), uint64(block.number - 1), KEY_ID, KEY_ADDRESS, _backupHash(2)),
            "its record"
        );
        w = _wallet();
        vm.assertEq(uint256(w.keyId), KEY_ID, "key id kept");
        vm.assertEq(w.keyAddress, KEY_ADDRESS, "key address kept");
        vm.assertEq(w.backupHash, _backupHash(2), "the latest backup's hash");
    }

    /// A backup of another key (another address, or another key id of the wallet) is refused,
    /// and changes nothing.
    function test_submitBackup_revertsOnAnotherKey() public {
        _submit(1);
        vm.roll(block.number + 1);
        address other = address(0xBAD);
        _refusedAsAnotherKey(TEE_KEY, KEY_ID, other);
        _refusedAsAnotherKey(TEE_KEY, KEY_ID + 1, KEY_ADDRESS);
        _refusedAsAnotherKey(TEE_KEY, KEY_ID + 1, other);
        IKeyBackupRegistry.Wallet memory w = _wallet();
        vm.assertEq(uint256(w.sequence), 1, "sequence unchanged");
        vm.assertEq(w.backupHash, _backupHash(1), "hash unchanged");
        (ActionResult memory r, bytes memory sig) = _backup(2, TEE_KEY);
        backups.submitBackup(r, sig);
        vm.assertEq(uint256(_wallet().sequence), 2, "the same key's backup is accepted");
    }

    /// After recovery, another production TEE takes custody with a backup of the same key; one
    /// holding another key does not (recovery cannot be used to swap the wallet's key).
    function test_closeRecovery_newTeeTakesCustodyOnlyWithTheSameKey() public {
        address tee2 = _secondTee();
        _submit(1);
        _recoverAndClose();
        vm.roll(block.number + 1);
        _refusedAsAnotherKey(TEE2_KEY, KEY_ID, address(0xBAD));
        _refusedAsAnotherKey(TEE2_KEY, KEY_ID + 1, KEY_ADDRESS);
        IKeyBackupRegistry.Wallet memory w = _wallet();
        vm.assertTrue(w.custody == IKeyBackupRegistry.Custody.None, "nobody holds it yet");
        vm.assertEq(w.custodian, recovery, "custodian unchanged");
        (ActionResult memory r, bytes memory sig) = _backup(2, TEE2_KEY);
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.KeyHandover(
            extensionId, WALLET, tee2, recovery, IKeyBackupRegistry.Custody.Tee
        );
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.BackupSubmitted(
            extensionId, WALLET, tee2, 2, uint64(block.number - 1), KEY_ID, KEY_ADDRESS, _backupHash(2)
        );
        backups.submitBackup(r, sig);
        w = _wallet();
        vm.assertTrue(w.custody == IKeyBackupRegistry.Custody.Tee, "a TEE holds it");
        vm.assertEq(w.custodian, tee2, "the new TEE");
        vm.assertEq(w.keyAddress, KEY_ADDRESS, "the same key");
    }

    /// Without recovery too: a second production TEE's backup of another key does not take custody.
    function test_submitBackup_anotherTeeWithAnotherKeyKeepsCustody() public {
        _secondTee();
        _submit(1);
        vm.roll(block.number + 1);
        _refusedAsAnotherKey(TEE2_KEY, KEY_ID, address(0xBAD));
        vm.assertEq(_wallet().custodian, TEE_ADDRESS, "custody stays");
    }

    /// A record with no key address or no backup hash is not a backup record.
    function test_submitBackup_revertsOnZeroKeyAddressOrHash() public {
        vm.roll(block.number + 1);
        (ActionResult memory r, bytes memory sig) =
            _backupWith(1, TEE_KEY, _record(KEY_ID, address(0), _backupHash(1)));
        vm.expectRevert(IKeyBackupRegistry.BackupResultInvalid.selector);
        backups.submitBackup(r, sig);
        (r, sig) = _backupWith(1, TEE_KEY, _record(KEY_ID, KEY_ADDRESS, bytes32(0)));
        vm.expectRevert(IKeyBackupRegistry.BackupResultInvalid.selector);
        backups.submitBackup(r, sig);
        vm.assertEq(_wallet().keyAddress, address(0), "no key recorded");
        // key id zero is a key id like any other
        (r, sig) = _backupWith(1, TEE_KEY, _record(0, KEY_ADDRESS, _backupHash(1)));
        backups.submitBackup(r, sig);
        vm.assertEq(_wallet().keyAddress, KEY_ADDRESS, "recorded");
    }

    /// A record that does not decode as (uint64, address, bytes32) reverts: too short, or a
    /// key id or address out of range.
    function test_submitBackup_revertsOnMalformedRecord() public {
        vm.roll(block.number + 1);
        bytes memory full = _record(KEY_ID, KEY_ADDRESS, _backupHash(1));
        bytes memory short = new bytes(95);
        for (uint256 i; i < short.length; ++i) {
            short[i] = full[i];
        }
        (ActionResult memory r, bytes memory sig) = _backupWith(1, TEE_KEY, short);
        vm.expectRevert();
        backups.submitBackup(r, sig);
        (r, sig) = _backupWith(1, TEE_KEY, hex"c1c2c3");
        vm.expectRevert();
        backups.submitBackup(r, sig);
        (r, sig) = _backupWith(1, TEE_KEY, abi.encode(uint256(1) << 64, KEY_ADDRESS, _backupHash(1)));
        vm.expectRevert();
        backups.submitBackup(r, sig);
        (r, sig) = _backupWith(1, TEE_KEY, abi.encode(KEY_ID, uint256(1) << 160, _backupHash(1)));
        vm.expectRevert();
        backups.submitBackup(r, sig);
        vm.assertEq(uint256(_wallet().sequence), 0, "nothing accepted");
    }

    function test_backupId_layout() public view {
        vm.assertEq(backups.backupId(extensionId, WALLET, 7), _id(extensionId, WALLET, 7), "backupId");
    }

    function test_submitBackup_revertsWhenStale() public {
        _submit(2);
        vm.roll(block.number + 1);
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

    /// Review item 8: the signed fields bind the operation — status, tag and id, not only the
    /// data's first word (another operation's result could carry such data).
    function test_submitBackup_revertsWhenResultNotABackup() public {
        (ActionResult memory good,) = _backup(1, TEE_KEY);
        ActionResult memory r = _copy(good);
        r.status = 0;
        _expectInvalid(r);
        r = _copy(good);
        r.submissionTag = "threshold";
        _expectInvalid(r);
        r = _copy(good);
        r.id = keccak256(abi.encode(uint256(14), address(sender), uint256(1))); // an instruction's id
        _expectInvalid(r);
        r = _copy(good);
        r.id = _id(extensionId, WALLET, 2); // another sequence's id
        _expectInvalid(r);
        r = _copy(good);
        r.data = _dataOf(bytes32("OTHER"), address(backups));
        _expectInvalid(r);
        r = _copy(good);
        r.data = _dataOf(bytes32("FCC_KEY_BACKUP_V2"), address(1));
        _expectInvalid(r);
        // the unsigned fields do not matter
        r = _copy(good);
        r.opType = "ANYTHING";
        backups.submitBackup(r, _signResult(TEE_KEY, r));
    }

    /// @dev Backup 1's data with `domain` and `registry` in place of the real ones.
    function _dataOf(bytes32 domain, address registry) internal view returns (bytes memory) {
        return abi.encode(
            domain,
            registry,
            extensionId,
            WALLET,
            uint64(1),
            uint64(0),
            bytes32(0),
            _record(KEY_ID, KEY_ADDRESS, _backupHash(1))
        );
    }

    function _copy(ActionResult memory r) internal pure returns (ActionResult memory c) {
        c = abi.decode(abi.encode(r), (ActionResult));
    }

    function _expectInvalid(ActionResult memory r) internal {
        bytes memory sig = _signResult(TEE_KEY, r);
        vm.expectRevert(IKeyBackupRegistry.BackupResultInvalid.selector);
        backups.submitBackup(r, sig);
    }

    /// Review item 4: a backup the TEE signed before dying, hoarded and relayed after its
    /// reference block left the 256-block window, does not keep the wallet alive.
    function test_submitBackup_hoardedBackupCannotPostponeRecovery() public {
        _submit(1);
        uint64 ref = uint64(block.number);
        (ActionResult memory hoarded, bytes memory sig) = _backupAt(2, ref, _hashOf(ref), TEE_KEY);
        // the TEE dies; the holder waits for the deadline
        vm.warp(T0 + SILENCE);
        vm.roll(ref + 257);
        vm.expectRevert(
            abi.encodeWithSelector(IKeyBackupRegistry.BackupReferenceInvalid.selector, ref, _hashOf(ref))
        );
        backups.submitBackup(hoarded, sig);
        vm.warp(T0 + SILENCE + 1);
        vm.prank(recovery);
        backups.openRecovery(extensionId, WALLET);
        vm.assertTrue(_wallet().custody == IKeyBackupRegistry.Custody.Recovery, "recovered");
    }

    /// The reference may be up to 256 blocks old (blockhash's window), not 257.
    function test_submitBackup_referenceWindowEdges() public {
        uint64 ref = uint64(B0);
        bytes32 h = _hashOf(ref);
        (ActionResult memory r, bytes memory sig) = _backupAt(1, ref, h, TEE_KEY);
        vm.roll(ref + 257);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.BackupReferenceInvalid.selector, ref, h));
        backups.submitBackup(r, sig);
        vm.roll(ref + 256);
        vm.setBlockhash(ref, h);
        backups.submitBackup(r, sig);
        vm.assertEq(uint256(_wallet().referenceBlock), ref, "oldest block accepted");
    }

    function test_submitBackup_revertsWhenReferenceUnknown() public {
        uint64 ref = uint64(B0 - 1);
        _hashOf(ref);
        // a hash that is not the block's
        (ActionResult memory r, bytes memory sig) = _backupAt(1, ref, keccak256("forged"), TEE_KEY);
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeyBackupRegistry.BackupReferenceInvalid.selector, ref, keccak256("forged")
            )
        );
        backups.submitBackup(r, sig);
        // the current block (its hash is not known yet) and a future one with a zero hash
        (r, sig) = _backupAt(1, uint64(B0), keccak256("guess"), TEE_KEY);
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeyBackupRegistry.BackupReferenceInvalid.selector, uint64(B0), keccak256("guess")
            )
        );
        backups.submitBackup(r, sig);
        (r, sig) = _backupAt(1, uint64(B0 + 10), bytes32(0), TEE_KEY);
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeyBackupRegistry.BackupReferenceInvalid.selector, uint64(B0 + 10), bytes32(0)
            )
        );
        backups.submitBackup(r, sig);
    }

    function test_submitBackup_revertsWhenReferenceNotNewer() public {
        _submit(1);
        uint64 last = uint64(block.number - 1);
        vm.roll(block.number + 5);
        (ActionResult memory r, bytes memory sig) = _backupAt(2, last, _hashOf(last), TEE_KEY);
        vm.expectRevert(
            abi.encodeWithSelector(IKeyBackupRegistry.BackupReferenceNotNewer.selector, last, last)
        );
        backups.submitBackup(r, sig);
        (r, sig) = _backupAt(2, last - 1, _hashOf(last - 1), TEE_KEY);
        vm.expectRevert(
            abi.encodeWithSelector(IKeyBackupRegistry.BackupReferenceNotNewer.selector, last - 1, last)
        );
        backups.submitBackup(r, sig);
        (r, sig) = _backupAt(2, last + 1, _hashOf(last + 1), TEE_KEY);
        backups.submitBackup(r, sig);
        vm.assertEq(uint256(_wallet().referenceBlock), last + 1, "the next block");
    }

    // ---- recovery ----

    function test_openRecovery_afterSilence() public {
        _submit(1);
        vm.warp(T0 + SILENCE + 1);
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.KeyHandover(
            extensionId, WALLET, recovery, TEE_ADDRESS, IKeyBackupRegistry.Custody.Recovery
        );
        vm.prank(recovery);
        backups.openRecovery(extensionId, WALLET);
        vm.assertTrue(_wallet().custody == IKeyBackupRegistry.Custody.Recovery, "recovery");
        // backups wait until recovery is closed
        vm.roll(block.number + 1);
        (ActionResult memory r, bytes memory sig) = _backup(2, TEE_KEY);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.InRecovery.selector, extensionId, WALLET));
        backups.submitBackup(r, sig);
    }

    function test_openRecovery_revertsWhenHeartbeatFresh() public {
        _submit(1);
        vm.warp(T0 + SILENCE); // exactly maxSilence: still fresh
        vm.expectRevert(
            abi.encodeWithSelector(IKeyBackupRegistry.HeartbeatNotStale.selector, uint64(T0), SILENCE)
        );
        vm.prank(recovery);
        backups.openRecovery(extensionId, WALLET);
    }

    function test_openRecovery_revertsWhenUnauthorised() public {
        _submit(1);
        vm.warp(T0 + SILENCE + 1);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, extOwner));
        vm.prank(extOwner);
        backups.openRecovery(extensionId, WALLET);
    }

    function test_openRecovery_revertsBeforeFirstBackup() public {
        vm.warp(T0 + SILENCE + 1);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, recovery));
        vm.prank(recovery);
        backups.openRecovery(extensionId, WALLET);
    }

    function test_closeRecovery_nextBackupHandsBackToTee() public {
        _submit(1);
        vm.warp(T0 + SILENCE + 1);
        vm.prank(recovery);
        backups.openRecovery(extensionId, WALLET);
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, extOwner));
        vm.prank(extOwner);
        backups.closeRecovery(extensionId, WALLET);
        vm.prank(recovery);
        backups.closeRecovery(extensionId, WALLET);
        vm.expectRevert(
            abi.encodeWithSelector(IKeyBackupRegistry.NotInRecovery.selector, extensionId, WALLET)
        );
        vm.prank(recovery);
        backups.closeRecovery(extensionId, WALLET);
        vm.roll(block.number + 1);
        (ActionResult memory r, bytes memory sig) = _backup(2, TEE_KEY);
        vm.expectEmit(true, true, true, true, address(backups));
        emit IKeyBackupRegistry.KeyHandover(
            extensionId, WALLET, TEE_ADDRESS, recovery, IKeyBackupRegistry.Custody.Tee
        );
        backups.submitBackup(r, sig);
    }

    /// A change of recovery address that comes into force during recovery does not take the
    /// key from the custodian who opened it.
    function test_closeRecovery_byTheCustodianAfterARecoveryChange() public {
        _submit(1);
        vm.warp(T0 + 10);
        vm.prank(extOwner);
        backups.configureRecovery(extensionId, WALLET, stranger, SILENCE); // in force at T0 + 10 + SILENCE
        vm.warp(T0 + SILENCE + 1);
        vm.prank(recovery);
        backups.openRecovery(extensionId, WALLET);
        vm.warp(T0 + SILENCE + 10);
        vm.assertEq(_wallet().recovery, stranger, "the change is in force");
        vm.expectRevert(abi.encodeWithSelector(IKeyBackupRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        backups.closeRecovery(extensionId, WALLET);
        vm.prank(recovery);
        backups.closeRecovery(extensionId, WALLET);
    }
}
