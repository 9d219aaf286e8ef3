// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {DevRelay} from "../src/DevRelay.sol";
import {TeeMachineRegistry} from "../src/TeeMachineRegistry.sol";
import {TeeInstructionSender} from "../src/TeeInstructionSender.sol";
import {IFlareRelay} from "../src/interfaces/IFlareRelay.sol";
import {ITeeInstructionSender} from "../src/interfaces/ITeeInstructionSender.sol";
import {ITeeMachineRegistry} from "../src/interfaces/ITeeMachineRegistry.sol";
import {FccSignatures} from "../src/libraries/FccSignatures.sol";
import {Fixture} from "./utils/Fixture.sol";
import {Vm} from "./utils/Vm.sol";

contract TeeMachineRegistryTest is Fixture {
    /// @dev docs/PROTOCOL.md §7: the example TEE's registration data (extension 1, owner 0x0B,
    /// the fixture's code hash, sev-snp), hashed and as signed on chain 14 — printed by fcc-core.
    bytes32 internal constant MACHINE_DATA_HASH =
        0x1c14fcbe41abacef22299cbc56d80c7f563df03744ccd050eab7dd79885943f2;
    bytes32 internal constant MACHINE_DATA_DIGEST =
        0x8889407560314ac9f5c9ac290084e7a08053e37b62b0b96c6826fb78353ee120;

    function test_register_pendingWithTeeIdOfKey() public {
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        bytes32 instructionId = keccak256(abi.encode(uint256(14), address(sender), uint256(1)));
        vm.expectEmit(true, true, true, false, address(machines));
        emit ITeeMachineRegistry.TeeMachineRegistered(
            TEE_ADDRESS, extensionId, operator, proxyId, codeHash, SNP, URL, bytes32(0), instructionId
        );
        address teeId = _registerAs(TEE_KEY, data);
        vm.assertEq(teeId, TEE_ADDRESS, "teeId");
        ITeeMachineRegistry.Machine memory m = machines.machine(teeId);
        vm.assertTrue(m.status == ITeeMachineRegistry.Status.Pending, "pending");
        vm.assertEq(m.owner, operator, "owner");
        vm.assertEq(m.proxyId, proxyId, "proxy id");
        vm.assertEq(m.proxyUrl, URL, "url");
        vm.assertEq(m.publicKey, TEE_PUBLIC_KEY, "key");
        vm.assertTrue(m.challenge != bytes32(0), "challenge drawn");
        vm.assertEq(m.attestationInstructionId, instructionId, "attestation instruction");
    }

    /// Registration sends the machine Flare's F_REG/TEE_ATTESTATION instruction with the challenge.
    function test_register_sendsTheAttestationRequest() public {
        vm.recordLogs();
        address teeId = _register();
        ITeeMachineRegistry.Machine memory m = machines.machine(teeId);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(logs.length, 2, "the instruction and the registration");
        vm.assertEq(logs[0].emitter, address(sender), "sent by the instruction sender");
        vm.assertEq(logs[0].topics[0], ITeeInstructionSender.TeeInstructionsSent.selector, "event");
        vm.assertEq(logs[0].topics[2], m.attestationInstructionId, "instruction id");
        (
            ITeeInstructionSender.TeeMachine[] memory targets,
            bytes32 opType,
            bytes32 opCommand,
            bytes memory message,
            address[] memory cosigners,
            uint64 threshold,,
            uint256 fee
        ) = abi.decode(
            logs[0].data,
            (ITeeInstructionSender.TeeMachine[], bytes32, bytes32, bytes, address[], uint64, address, uint256)
        );
        vm.assertEq(targets.length, 1, "one target");
        vm.assertEq(targets[0].teeId, teeId, "the machine");
        vm.assertEq(targets[0].teeProxyId, proxyId, "its proxy");
        vm.assertEq(targets[0].url, URL, "its url");
        vm.assertEq(opType, bytes32("F_REG"), "op type");
        vm.assertEq(opCommand, bytes32("TEE_ATTESTATION"), "op command");
        vm.assertEq(cosigners.length + threshold + fee, 0, "no cosigners, no fee");
        // Flare's abi.encode(TeeAttestation), built here field by field.
        bytes memory expected = abi.encode(
            ITeeMachineRegistry.TeeAttestation(
                ITeeMachineRegistry.TeeMachineWithAttestationData(teeId, address(0), URL, codeHash, SNP),
                m.challenge
            )
        );
        vm.assertEq(message, expected, "TeeAttestation message");
    }

    function test_register_sameOwnerMayUpdatePendingUnderANewChallenge() public {
        _register();
        bytes32 first = machines.machine(TEE_ADDRESS).challenge;
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        vm.prank(operator);
        machines.register(data, _signData(TEE_KEY, data), proxyId, "https://other");
        ITeeMachineRegistry.Machine memory m = machines.machine(TEE_ADDRESS);
        vm.assertEq(m.proxyUrl, "https://other", "url");
        vm.assertTrue(m.challenge != first, "a new challenge");
    }

    function test_register_revertsWhenOtherOwnerOverwrites() public {
        _register();
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        data.initialOwner = stranger;
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NotAuthorised.selector, stranger));
        _registerAs(TEE_KEY, data);
    }

    /// The squatting the TEE's signature stops: a key registered by someone it did not sign for.
    function test_register_revertsWhenCallerIsNotTheSignedOwner() public {
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        ITeeMachineRegistry.Signature memory sig = _signData(TEE_KEY, data);
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        machines.register(data, sig, proxyId, URL);
    }

    /// Review item 1: the TEE's signed data cannot be registered under another extension (nor
    /// for another owner) — what a squatter would need to ban the key from there.
    function test_register_revertsWhenSignedDataMovedToAnotherExtension() public {
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        ITeeMachineRegistry.Signature memory sig = _signData(TEE_KEY, data);
        vm.startPrank(stranger);
        uint256 squat = extensions.createExtension("squat");
        extensions.addTeeVersion(squat, "v1", codeHash, _platforms(SNP));
        data.extensionId = squat;
        data.initialOwner = stranger;
        vm.expectPartialRevert(ITeeMachineRegistry.RegistrationSignatureInvalid.selector);
        machines.register(data, sig, proxyId, URL);
        vm.stopPrank();
        // nor by the operator the TEE signed for, under an extension it did not sign
        data.initialOwner = operator;
        vm.expectPartialRevert(ITeeMachineRegistry.RegistrationSignatureInvalid.selector);
        vm.prank(operator);
        machines.register(data, sig, proxyId, URL);
        // the honest registration is untouched
        vm.assertEq(_register(), TEE_ADDRESS, "registered by its operator");
    }

    function test_register_revertsWithoutTheTeeSignature() public {
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.RegistrationSignatureInvalid.selector, vm.addr(TEE_KEY + 1)
            )
        );
        vm.prank(operator);
        machines.register(data, _signData(TEE_KEY + 1, data), proxyId, URL);
    }

    function test_register_revertsWhenSignedDataAltered() public {
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        ITeeMachineRegistry.Signature memory sig = _signData(TEE_KEY, data);
        data.extensionId = extensionId + 1;
        vm.expectPartialRevert(ITeeMachineRegistry.RegistrationSignatureInvalid.selector);
        vm.prank(operator);
        machines.register(data, sig, proxyId, URL);
    }

    function test_register_revertsOnHighS() public {
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        ITeeMachineRegistry.Signature memory sig = _signData(TEE_KEY, data);
        sig.s = bytes32(N - uint256(sig.s));
        sig.v = sig.v == 27 ? 28 : 27;
        vm.expectRevert(FccSignatures.SignatureHighS.selector);
        vm.prank(operator);
        machines.register(data, sig, proxyId, URL);
    }

    /// @dev Sets the extension's governance to `n` signers 0x…01.. with `threshold`; returns its hash.
    function _setGovernance(uint256 n, uint256 threshold) internal returns (bytes32) {
        address[] memory signers = new address[](n);
        for (uint256 i; i < n; ++i) {
            signers[i] = address(uint160(0x600 + i));
        }
        vm.prank(extOwner);
        extensions.setGovernance(extensionId, signers, threshold);
        bytes32 hash = keccak256(abi.encode(signers, threshold));
        vm.assertEq(extensions.governanceHash(extensionId), hash, "extension governance");
        return hash;
    }

    /// @dev The example TEE's registration data, booted with governance `hash`.
    function _governedData(uint256 key, bytes32 hash)
        internal
        returns (ITeeMachineRegistry.TeeMachineData memory data)
    {
        data = _machineData(key);
        data.governanceHash = hash;
    }

    function _expectGovernanceHashInvalid(bytes32 given, bytes32 expected) internal {
        vm.expectRevert(
            abi.encodeWithSelector(ITeeMachineRegistry.GovernanceHashInvalid.selector, given, expected)
        );
    }

    /// A TEE booted with the extension's governance registers (and its signature covers the hash).
    function test_register_withTheExtensionsGovernance() public {
        bytes32 g = _setGovernance(3, 2);
        ITeeMachineRegistry.TeeMachineData memory data = _governedData(TEE_KEY, g);
        vm.assertEq(_registerAs(TEE_KEY, data), TEE_ADDRESS, "registered");
        vm.assertTrue(machines.machine(TEE_ADDRESS).status == ITeeMachineRegistry.Status.Pending, "pending");
        vm.assertEq(machines.machine(TEE_ADDRESS).governanceHash, g, "recorded for the providers' check");
        // the hash is signed: the same signature over another hash does not recover to the TEE
        _setGovernance(2, 2);
        ITeeMachineRegistry.TeeMachineData memory other = _governedData(TEE_KEY + 1, g);
        ITeeMachineRegistry.Signature memory sig = _signData(TEE_KEY + 1, other);
        other.governanceHash = extensions.governanceHash(extensionId);
        vm.expectPartialRevert(ITeeMachineRegistry.RegistrationSignatureInvalid.selector);
        vm.prank(operator);
        machines.register(other, sig, proxyId, URL);
    }

    function test_register_revertsWhenGovernanceHashMismatches() public {
        bytes32 g = _setGovernance(3, 2);
        bytes32 other = keccak256(abi.encode(new address[](1), uint256(1)));
        _expectGovernanceHashInvalid(other, g);
        _registerAs(TEE_KEY, _governedData(TEE_KEY, other));
    }

    function test_register_revertsWithoutGovernanceWhenTheExtensionHasOne() public {
        bytes32 g = _setGovernance(1, 1);
        _expectGovernanceHashInvalid(bytes32(0), g);
        _register();
    }

    function test_register_revertsWithGovernanceWhenTheExtensionHasNone() public {
        _expectGovernanceHashInvalid(bytes32(uint256(1)), bytes32(0));
        _registerAs(TEE_KEY, _governedData(TEE_KEY, bytes32(uint256(1))));
        // nor once the extension's governance is cleared
        bytes32 g = _setGovernance(2, 1);
        vm.prank(extOwner);
        extensions.clearGovernance(extensionId);
        _expectGovernanceHashInvalid(g, bytes32(0));
        _registerAs(TEE_KEY, _governedData(TEE_KEY, g));
        vm.assertEq(_register(), TEE_ADDRESS, "a TEE without governance registers again");
    }

    /// A later change of the extension's governance leaves registered machines alone (they keep
    /// the governance they booted with); new registrations, and a pending one's re-registration,
    /// must carry the new hash.
    function test_register_governanceChangeKeepsRegisteredMachines() public {
        bytes32 g = _setGovernance(3, 2);
        address teeId = _registerAs(TEE_KEY, _governedData(TEE_KEY, g));
        machines.toProduction(teeId, _productionMessage(teeId, EPOCH, _idx(0, 2)));
        address pending = _registerAs(TEE_KEY + 1, _governedData(TEE_KEY + 1, g));
        bytes32 g2 = _setGovernance(3, 3);
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "still productive");
        vm.assertTrue(machines.machine(pending).status == ITeeMachineRegistry.Status.Pending, "still pending");
        machines.toProduction(pending, _productionMessage(pending, EPOCH, _idx(0, 2)));
        vm.assertTrue(machines.isProductionTee(extensionId, pending), "pending one reaches production");
        _expectGovernanceHashInvalid(g, g2);
        _registerAs(TEE_KEY + 2, _governedData(TEE_KEY + 2, g));
        vm.assertEq(
            _registerAs(TEE_KEY + 2, _governedData(TEE_KEY + 2, g2)), vm.addr(TEE_KEY + 2), "new governance"
        );
    }

    function test_register_pendingReRegistrationNeedsTheCurrentGovernance() public {
        bytes32 g = _setGovernance(2, 2);
        _registerAs(TEE_KEY, _governedData(TEE_KEY, g));
        vm.prank(extOwner);
        extensions.clearGovernance(extensionId);
        _expectGovernanceHashInvalid(g, bytes32(0));
        _registerAs(TEE_KEY, _governedData(TEE_KEY, g));
        vm.assertTrue(machines.machine(TEE_ADDRESS).status == ITeeMachineRegistry.Status.Pending, "kept");
    }

    function test_register_proxyBounds() public {
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        ITeeMachineRegistry.Signature memory sig = _signData(TEE_KEY, data);
        vm.startPrank(operator);
        vm.expectRevert(ITeeMachineRegistry.ProxyInvalid.selector);
        machines.register(data, sig, address(0), URL);
        vm.expectRevert(ITeeMachineRegistry.ProxyInvalid.selector);
        machines.register(data, sig, proxyId, "");
        vm.expectRevert(ITeeMachineRegistry.ProxyInvalid.selector);
        machines.register(data, sig, proxyId, string(new bytes(2049)));
        machines.register(data, sig, proxyId, string(new bytes(2048)));
        vm.stopPrank();
        vm.assertEq(bytes(machines.machine(TEE_ADDRESS).proxyUrl).length, 2048, "the longest URL");
    }

    function test_setInstructionSender_onceByTheDeployer() public {
        TeeMachineRegistry registry = new TeeMachineRegistry(extensions, relay, PERIOD);
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        ITeeMachineRegistry.Signature memory sig = _signData(TEE_KEY, data);
        vm.expectRevert(ITeeMachineRegistry.InstructionSenderInvalid.selector);
        vm.prank(operator);
        registry.register(data, sig, proxyId, URL);
        vm.expectRevert(ITeeMachineRegistry.InstructionSenderInvalid.selector);
        vm.prank(stranger);
        registry.setInstructionSender(address(sender));
        vm.expectRevert(ITeeMachineRegistry.InstructionSenderInvalid.selector);
        registry.setInstructionSender(address(0));
        registry.setInstructionSender(address(sender));
        vm.expectRevert(ITeeMachineRegistry.InstructionSenderInvalid.selector);
        registry.setInstructionSender(address(sender));
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
        _register();
    }

    /// The digest the TEE signs, as fcc-core computes it (docs/PROTOCOL.md §7 vector).
    function test_machineDataDigest_matchesTheProtocolVector() public {
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        data.extensionId = 1;
        data.initialOwner = address(0x0B);
        data.codeHash = keccak256(MEASUREMENT);
        vm.assertEq(keccak256(abi.encode(data)), MACHINE_DATA_HASH, "keccak(abi.encode(TeeMachineData))");
        vm.assertEq(machines.machineDataDigest(data), MACHINE_DATA_DIGEST, "signing digest");
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
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        data.platform = TDX;
        vm.expectRevert(
            abi.encodeWithSelector(ITeeMachineRegistry.CodeNotAllowed.selector, extensionId, codeHash, TDX)
        );
        _registerAs(TEE_KEY, data);
    }

    function test_toProduction_withWeightAboveThreshold() public {
        address teeId = _register();
        vm.expectEmit(true, true, false, true, address(machines));
        emit ITeeMachineRegistry.TeeMachineToProduction(teeId, extensionId, EPOCH);
        machines.toProduction(teeId, _productionMessage(teeId, EPOCH, _idx(1, 2)));
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "production");
        vm.assertEq(machines.productionMachines(extensionId).length, 1, "listed");
    }

    function test_toProduction_hashLayout() public {
        address teeId = _register();
        bytes32 registration = keccak256(
            abi.encode(
                bytes32("FCC_TEE_REGISTRATION_V2"),
                uint256(14),
                address(machines),
                teeId,
                operator,
                proxyId,
                extensionId,
                codeHash,
                SNP,
                keccak256(bytes(URL)),
                machines.machine(teeId).challenge
            )
        );
        vm.assertEq(machines.registrationHash(teeId), registration, "registration");
        vm.assertEq(
            machines.productionHash(teeId),
            keccak256(abi.encode(bytes32("TEE_MACHINE_PRODUCTION"), uint256(14), registration)),
            "production hash"
        );
    }

    function test_toProduction_revertsAtExactlyThreshold() public {
        address teeId = _register();
        bytes memory m = _productionMessage(teeId, EPOCH, _idx(0, 1));
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.ThresholdNotReached.selector, uint256(500), uint256(500))
        );
        machines.toProduction(teeId, m);
    }

    function test_toProduction_revertsWhenSignerDuplicated() public {
        address teeId = _register();
        bytes memory m = _productionMessage(teeId, EPOCH, _idx(2, 2));
        vm.expectRevert(abi.encodeWithSelector(DevRelay.IndexOutOfOrder.selector, uint256(2), uint256(3)));
        machines.toProduction(teeId, m);
    }

    function test_toProduction_revertsWhenSignerUnknown() public {
        address teeId = _register();
        bytes32 h = machines.productionHash(teeId);
        bytes32 digest = relay.customSignatureDigest(h);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(4242, digest);
        bytes memory sigs = abi.encodePacked(uint16(2), v, r, s, uint16(1));
        (v, r, s) = vm.sign(VOTER_C, digest);
        sigs = abi.encodePacked(sigs, v, r, s, uint16(2));
        vm.expectRevert(
            abi.encodeWithSelector(
                DevRelay.WrongSignature.selector, uint256(1), vm.addr(4242), vm.addr(VOTER_B)
            )
        );
        machines.toProduction(teeId, _customRelayMessage(_threeVoterPolicy(EPOCH), h, sigs));
    }

    function test_toProduction_revertsWhenSignedForOtherMachine() public {
        address teeId = _register();
        address other = _productionOfKey(77);
        bytes memory m = _productionMessage(other, EPOCH, _idx(0, 2));
        vm.expectRevert(
            abi.encodeWithSelector(
                DevRelay.MessageHashMismatch.selector,
                machines.productionHash(other),
                machines.productionHash(teeId)
            )
        );
        machines.toProduction(teeId, m);
    }

    function test_toProduction_acceptsPreviousPolicyOnly() public {
        address teeId = _register();
        bytes memory signedByEpoch = _productionMessage(teeId, EPOCH, _idx(0, 2));
        vm.startPrank(governance);
        relay.setSigningPolicy(_threeVoterPolicy(EPOCH + 1));
        relay.setSigningPolicy(_threeVoterPolicy(EPOCH + 2));
        vm.stopPrank();
        // the relay still accepts EPOCH (within its window of 2), the registry does not
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.SigningPolicyTooOld.selector, uint256(EPOCH), uint256(EPOCH + 2)
            )
        );
        machines.toProduction(teeId, signedByEpoch);
        machines.toProduction(teeId, _productionMessage(teeId, EPOCH + 1, _idx(0, 2)));
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "previous policy accepted");
    }

    function test_toProduction_revertsWhenCodeVersionDisabled() public {
        address teeId = _register();
        bytes memory m = _productionMessage(teeId, EPOCH, _idx(0, 2));
        vm.prank(extOwner);
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.expectRevert(
            abi.encodeWithSelector(ITeeMachineRegistry.CodeNotAllowed.selector, extensionId, codeHash, SNP)
        );
        machines.toProduction(teeId, m);
    }

    function test_toProduction_revertsWhenNotPending() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector,
                TEE_ADDRESS,
                ITeeMachineRegistry.Status.None
            )
        );
        machines.toProduction(TEE_ADDRESS, "");
    }

    function test_toProduction_revertsWithoutPolicy() public {
        DevRelay empty = new DevRelay(governance, DevRelay.HashScheme.Legacy, WINDOW);
        TeeMachineRegistry registry = _registryOn(empty);
        _registerWith(registry);
        vm.expectRevert(ITeeMachineRegistry.NoSigningPolicy.selector);
        registry.toProduction(TEE_ADDRESS, "");
    }

    /// Flare's Relay verifies through a state-changing self-call, so its `verifyCustomSignature`
    /// is not view: the registry must call it as such (a relay that writes storage works).
    function test_toProduction_withNonViewRelay() public {
        StatefulRelay flareShaped = new StatefulRelay(relay);
        TeeMachineRegistry registry = _registryOn(flareShaped);
        address teeId = _registerWith(registry);
        bytes32 h = registry.productionHash(teeId);
        bytes memory m = _customRelayMessage(
            _threeVoterPolicy(EPOCH), h, _relaySignatures(relay.customSignatureDigest(h), VOTER_A, _idx(0, 2))
        );
        registry.toProduction(teeId, m);
        vm.assertTrue(registry.isProductionTee(extensionId, teeId), "production");
        vm.assertEq(flareShaped.verifications(), 1, "the relay wrote its state");
    }

    /// The registry's relay interface has Flare's Relay's selectors.
    function test_relayInterface_hasFlareSelectors() public pure {
        vm.assertTrue(
            IFlareRelay.verifyCustomSignature.selector == bytes4(0x9932185e), "verifyCustomSignature"
        );
        vm.assertTrue(IFlareRelay.toSigningPolicyHash.selector == bytes4(0x0c85bf07), "toSigningPolicyHash");
        vm.assertTrue(
            IFlareRelay.lastInitializedRewardEpochData.selector == bytes4(0x8af0c307),
            "lastInitializedRewardEpochData"
        );
        vm.assertTrue(IFlareRelay.relay.selector == bytes4(0xb59589d1), "relay");
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
        vm.assertTrue(machines.pauseRole(teeId) == ITeeMachineRegistry.PauseRole.Owner, "paused by its owner");
        vm.prank(operator);
        machines.resume(teeId);
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "resumed");
        vm.assertTrue(machines.pauseRole(teeId) == ITeeMachineRegistry.PauseRole.None, "role cleared");
    }

    /// Review item 7: only the role that paused a machine resumes it.
    function test_resume_onlyByThePausingRole() public {
        address teeId = _production();
        vm.prank(extOwner);
        machines.pause(teeId);
        vm.assertTrue(
            machines.pauseRole(teeId) == ITeeMachineRegistry.PauseRole.ExtensionOwner,
            "extension owner's pause"
        );
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NotAuthorised.selector, operator));
        vm.prank(operator);
        machines.resume(teeId);
        vm.prank(extOwner);
        machines.resume(teeId);
        // and the other way round: the extension owner does not undo the operator's pause
        vm.prank(operator);
        machines.pause(teeId);
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NotAuthorised.selector, extOwner));
        vm.prank(extOwner);
        machines.resume(teeId);
        vm.prank(operator);
        machines.resume(teeId);
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "resumed");
    }

    /// A new extension owner inherits the extension owner's pause.
    function test_resume_extensionOwnerPauseFollowsOwnership() public {
        address teeId = _production();
        vm.startPrank(extOwner);
        machines.pause(teeId);
        extensions.transferExtensionOwnership(extensionId, address(0xBEEF));
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NotAuthorised.selector, extOwner));
        machines.resume(teeId);
        vm.stopPrank();
        vm.prank(address(0xBEEF));
        machines.resume(teeId);
    }

    /// A machine paused by a third party (it was not productive) is resumed by either owner.
    function test_resume_afterAPauseByAnyone() public {
        address teeId = _production();
        vm.warp(uint256(machines.machine(teeId).availableUntil) + 1);
        vm.prank(stranger);
        machines.pause(teeId);
        vm.assertTrue(machines.pauseRole(teeId) == ITeeMachineRegistry.PauseRole.Anyone, "anyone's pause");
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NotAuthorised.selector, stranger));
        vm.prank(stranger);
        machines.resume(teeId);
        vm.prank(extOwner);
        machines.resume(teeId);
        vm.prank(extOwner);
        machines.pause(teeId);
        vm.prank(extOwner);
        machines.resume(teeId);
        vm.prank(operator);
        machines.pause(teeId);
        vm.prank(operator);
        machines.resume(teeId);
    }

    function test_pause_revertsWhenUnauthorised() public {
        address teeId = _production();
        uint64 until = machines.machine(teeId).availableUntil;
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.StillAvailable.selector, teeId, until));
        vm.prank(stranger);
        machines.pause(teeId);
    }

    // ---- availability ----

    /// @dev A relay message of the three-voter policy of `epoch` carrying `availabilityHash(teeId)`.
    function _availabilityMessage(address teeId, uint24 epoch, uint256[] memory indices)
        internal
        view
        returns (bytes memory)
    {
        return _signedMessage(machines.availabilityHash(teeId), epoch, indices);
    }

    function test_availability_lapsesAfterThePeriod() public {
        address teeId = _production();
        uint64 until = machines.machine(teeId).availableUntil;
        vm.assertEq(uint256(until), block.timestamp + PERIOD, "toProduction starts the period");
        vm.warp(until);
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "available to the last second");
        vm.assertEq(machines.selectProductionMachine(extensionId, bytes32(0)), teeId, "drawn");
        vm.warp(uint256(until) + 1);
        vm.assertFalse(machines.isProductionTee(extensionId, teeId), "lapsed");
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.NoProductionMachine.selector, extensionId));
        machines.selectProductionMachine(extensionId, bytes32(0));
    }

    function test_pause_byAnyoneOnceLapsed() public {
        address teeId = _production();
        vm.warp(uint256(machines.machine(teeId).availableUntil) + 1);
        vm.expectEmit(true, true, true, true, address(machines));
        emit ITeeMachineRegistry.TeeMachinePaused(teeId, stranger);
        vm.prank(stranger);
        machines.pause(teeId);
        vm.assertTrue(machines.machine(teeId).status == ITeeMachineRegistry.Status.Paused, "paused");
        vm.assertEq(machines.productionMachines(extensionId).length, 0, "unlisted");
    }

    /// Review item 9: anyone may take a machine whose code version was disabled out of the
    /// production list (the permissionless prune); a productive one stays the owners' to pause.
    function test_pause_byAnyoneOnceCodeDisabled() public {
        address teeId = _production();
        vm.prank(extOwner);
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.prank(stranger);
        machines.pause(teeId);
        vm.assertEq(machines.productionMachines(extensionId).length, 0, "pruned");
        vm.assertEq(machines.productionIndex(teeId), 0, "index cleared");
        vm.assertTrue(machines.pauseRole(teeId) == ITeeMachineRegistry.PauseRole.Anyone, "by anyone");
    }

    /// Selection walks the list: many machines on a disabled version cost gas on every draw
    /// until someone prunes them (each skipped one is a registry lookup and a call).
    function test_selectProductionMachine_gasWithManyDisabledMachines() public {
        uint256 n = 60;
        address[] memory stale = new address[](n);
        for (uint256 k; k < n; ++k) {
            stale[k] = _productionOfKey(2000 + k);
        }
        bytes32 v2 = keccak256("v2");
        vm.startPrank(extOwner);
        extensions.addTeeVersion(extensionId, "v2", v2, _platforms(SNP));
        extensions.disableTeeVersion(extensionId, codeHash);
        vm.stopPrank();
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(3000);
        data.codeHash = v2;
        address live = _registerAs(3000, data);
        machines.toProduction(live, _productionMessage(live, EPOCH, _idx(0, 2)));
        // the worst draw: every stale machine before the live one
        uint256 unpruned = _worstDrawGas(live);
        vm.startPrank(stranger);
        for (uint256 k; k < n; ++k) {
            machines.pause(stale[k]);
        }
        vm.stopPrank();
        vm.assertEq(machines.productionMachines(extensionId).length, 1, "only the live one listed");
        uint256 pruned = _worstDrawGas(live);
        // warm in one test transaction (157 k gas here, about 2.6 k per stale machine; more when
        // cold), against 4.3 k once pruned
        vm.assertTrue(unpruned > n * 2000, "unpruned: a lookup per stale machine");
        vm.assertTrue(pruned < 10_000, "pruned: one lookup");
    }

    /// @dev Gas of the draw that reaches `live` last (its salt found by trying).
    function _worstDrawGas(address live) internal view returns (uint256 worst) {
        for (uint256 salt; salt < 200; ++salt) {
            uint256 before = gasleft();
            address chosen = machines.selectProductionMachine(extensionId, bytes32(salt));
            uint256 used = before - gasleft();
            vm.assertEq(chosen, live, "the live one");
            if (used > worst) worst = used;
        }
    }

    function test_productionIndex_positionPlusOne() public {
        address a = _productionOfKey(1000);
        address b = _productionOfKey(1001);
        address c = _productionOfKey(1002);
        vm.assertEq(machines.productionIndex(a), 1, "a");
        vm.assertEq(machines.productionIndex(c), 3, "c");
        vm.prank(operator);
        machines.pause(a);
        // the last one moved into the gap
        vm.assertEq(machines.productionIndex(a), 0, "a unlisted");
        vm.assertEq(machines.productionIndex(c), 1, "c moved");
        vm.assertEq(machines.productionIndex(b), 2, "b stays");
        vm.assertEq(machines.productionMachines(extensionId)[0], c, "list");
    }

    function test_confirmAvailability_extendsOnce() public {
        address teeId = _production();
        vm.warp(block.timestamp + PERIOD - 10);
        bytes32 hashBefore = machines.availabilityHash(teeId);
        bytes memory message = _availabilityMessage(teeId, EPOCH, _idx(0, 2));
        uint64 until = uint64(block.timestamp) + PERIOD;
        vm.expectEmit(true, true, true, true, address(machines));
        emit ITeeMachineRegistry.TeeMachineAvailabilityConfirmed(teeId, until, EPOCH);
        machines.confirmAvailability(teeId, message);
        vm.assertEq(uint256(machines.machine(teeId).availableUntil), uint256(until), "extended");
        // The hash moved with the availability it extended: the same message does not confirm twice.
        vm.assertTrue(machines.availabilityHash(teeId) != hashBefore, "hash moved");
        vm.expectRevert();
        machines.confirmAvailability(teeId, message);
    }

    function test_availabilityHash_layout() public {
        address teeId = _production();
        bytes32 data =
            keccak256(abi.encode(machines.registrationHash(teeId), machines.machine(teeId).availableUntil));
        bytes32 want = keccak256(abi.encode(bytes32("TEE_MACHINE_AVAILABLE"), uint256(14), data));
        vm.assertEq(
            machines.availabilityHash(teeId), want, "payloadHash(TEE_MACHINE_AVAILABLE, chainId, data)"
        );
    }

    function test_confirmAvailability_revertsAtExactlyThreshold() public {
        address teeId = _production();
        // A + B = 500, not above the threshold 500.
        bytes memory message = _availabilityMessage(teeId, EPOCH, _idx(0, 1));
        vm.expectRevert();
        machines.confirmAvailability(teeId, message);
    }

    function test_confirmAvailability_revertsWhenNotInProduction() public {
        address teeId = _register();
        bytes memory message = _availabilityMessage(teeId, EPOCH, _idx(0, 2));
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector, teeId, ITeeMachineRegistry.Status.Pending
            )
        );
        machines.confirmAvailability(teeId, message);
    }

    function test_resume_afterLapse_staysUnproductiveUntilConfirmed() public {
        address teeId = _production();
        vm.warp(uint256(machines.machine(teeId).availableUntil) + 1);
        vm.prank(stranger);
        machines.pause(teeId);
        vm.prank(operator);
        machines.resume(teeId);
        vm.assertFalse(machines.isProductionTee(extensionId, teeId), "resumed but lapsed");
        machines.confirmAvailability(teeId, _availabilityMessage(teeId, EPOCH, _idx(0, 2)));
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "confirmed");
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
        _register();
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector, teeId, ITeeMachineRegistry.Status.Banned
            )
        );
        vm.prank(extOwner);
        machines.ban(teeId);
    }

    /// A pending registration cannot be banned (the key's honest registration would be blocked
    /// for good, in every extension); a paused machine can.
    function test_ban_onlyAfterProduction() public {
        address teeId = _register();
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector, teeId, ITeeMachineRegistry.Status.Pending
            )
        );
        vm.prank(extOwner);
        machines.ban(teeId);
        machines.toProduction(teeId, _productionMessage(teeId, EPOCH, _idx(0, 2)));
        vm.prank(operator);
        machines.pause(teeId);
        vm.prank(extOwner);
        machines.ban(teeId);
        vm.assertTrue(machines.machine(teeId).status == ITeeMachineRegistry.Status.Banned, "banned");
    }

    /// Neither its extension's owner nor another extension's can ban a pending record, which
    /// would block the key in every extension; the key still reaches production.
    function test_ban_pendingRefusedLeavesTheKeyFree() public {
        address teeId = _register();
        vm.prank(stranger);
        extensions.createExtension("other");
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.MachineStatusInvalid.selector, teeId, ITeeMachineRegistry.Status.Pending
            )
        );
        vm.prank(stranger);
        machines.ban(teeId);
        machines.toProduction(teeId, _productionMessage(teeId, EPOCH, _idx(0, 2)));
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "production");
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

    // ---- following a redeployed relay ----

    /// @dev A chain-bound DevRelay with the three-voter policy of `epochs[0..]` stored.
    function _newRelay(uint24 firstEpoch, uint24 lastEpoch) internal returns (DevRelay r) {
        r = new DevRelay(governance, DevRelay.HashScheme.ChainBound, WINDOW);
        vm.startPrank(governance);
        for (uint24 e = firstEpoch; e <= lastEpoch; ++e) {
            r.setSigningPolicy(_threeVoterPolicy(e));
        }
        vm.stopPrank();
    }

    /// Review item 10: the voters of the current relay move the registry (and the sender) to a
    /// redeployed one; machines then go to production with the new relay's policies.
    function test_setRelay_followsARedeployedRelay() public {
        DevRelay next = _newRelay(EPOCH, EPOCH + 1);
        bytes32 h = machines.relayChangeHash(next);
        vm.assertEq(
            h,
            keccak256(
                abi.encode(
                    bytes32("FCC_RELAY_CHANGE"),
                    uint256(14),
                    keccak256(abi.encode(address(machines), address(relay), address(next)))
                )
            ),
            "relayChangeHash layout"
        );
        vm.expectEmit(true, true, true, true, address(machines));
        emit ITeeMachineRegistry.RelayChanged(address(relay), address(next), EPOCH);
        vm.prank(stranger); // anyone may submit the voters' decision
        machines.setRelay(next, _signedMessage(h, EPOCH, _idx(0, 2)));
        vm.assertEq(address(machines.relay()), address(next), "registry follows");
        vm.assertEq(address(sender.relay()), address(next), "sender follows");
        // the old relay's epoch no longer counts: EPOCH + 1 exists only on the new one
        address teeId = _register();
        machines.toProduction(teeId, _productionMessage(teeId, EPOCH + 1, _idx(0, 2)));
        vm.assertTrue(machines.isProductionTee(extensionId, teeId), "production through the new relay");
    }

    function test_setRelay_revertsWhenNotSignedOrInvalid() public {
        DevRelay next = _newRelay(EPOCH, EPOCH);
        bytes32 h = machines.relayChangeHash(next);
        vm.expectRevert(
            abi.encodeWithSelector(DevRelay.ThresholdNotReached.selector, uint256(500), uint256(500))
        );
        machines.setRelay(next, _signedMessage(h, EPOCH, _idx(0, 1)));
        // signed for another relay
        DevRelay other = _newRelay(EPOCH, EPOCH);
        bytes32 otherHash = machines.relayChangeHash(other);
        bytes memory forOther = _signedMessage(otherHash, EPOCH, _idx(0, 2));
        vm.expectRevert(abi.encodeWithSelector(DevRelay.MessageHashMismatch.selector, otherHash, h));
        machines.setRelay(next, forOther);
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.RelayInvalid.selector, address(0)));
        machines.setRelay(DevRelay(address(0)), "");
        vm.expectRevert(abi.encodeWithSelector(ITeeMachineRegistry.RelayInvalid.selector, address(relay)));
        machines.setRelay(relay, "");
    }

    /// The new relay must not be behind the current one: its latest epoch equal is the edge.
    function test_setRelay_revertsWhenBehind() public {
        DevRelay behind = _newRelay(EPOCH - 1, EPOCH - 1);
        bytes32 h = machines.relayChangeHash(behind);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITeeMachineRegistry.RelayBehind.selector, uint256(EPOCH - 1), uint256(EPOCH)
            )
        );
        machines.setRelay(behind, _signedMessage(h, EPOCH, _idx(0, 2)));
        DevRelay level = _newRelay(EPOCH, EPOCH);
        machines.setRelay(level, _signedMessage(machines.relayChangeHash(level), EPOCH, _idx(0, 2)));
        vm.assertEq(address(machines.relay()), address(level), "same epoch accepted");
    }

    /// @dev A production machine with secret key `key`.
    function _productionOfKey(uint256 key) internal returns (address teeId) {
        teeId = _registerAs(key, _machineData(key));
        machines.toProduction(teeId, _productionMessage(teeId, EPOCH, _idx(1, 2)));
    }

    /// @dev A registry on `relay_` with its own instruction sender.
    function _registryOn(IFlareRelay relay_) internal returns (TeeMachineRegistry registry) {
        registry = new TeeMachineRegistry(extensions, relay_, PERIOD);
        registry.setInstructionSender(address(new TeeInstructionSender(extensions, registry, relay_)));
    }

    /// @dev The example TEE registered on `registry`.
    function _registerWith(TeeMachineRegistry registry) internal returns (address) {
        ITeeMachineRegistry.TeeMachineData memory data = _machineData(TEE_KEY);
        vm.prank(operator);
        return registry.register(data, _signData(TEE_KEY, data), proxyId, URL);
    }
}

/// @notice A relay with Flare's non-view `verifyCustomSignature`: it counts verifications in
/// storage and forwards everything to a DevRelay.
contract StatefulRelay is IFlareRelay {
    DevRelay internal immutable inner;
    uint256 public verifications;

    constructor(DevRelay inner_) {
        inner = inner_;
    }

    function verifyCustomSignature(bytes calldata relayMessage, bytes32 messageHash)
        external
        returns (uint256)
    {
        ++verifications;
        return inner.verifyCustomSignature(relayMessage, messageHash);
    }

    function toSigningPolicyHash(uint256 rewardEpochId) external view returns (bytes32) {
        return inner.toSigningPolicyHash(rewardEpochId);
    }

    function lastInitializedRewardEpochData() external view returns (uint32, uint32) {
        return inner.lastInitializedRewardEpochData();
    }

    function relay() external pure returns (bytes memory) {
        revert();
    }
}
