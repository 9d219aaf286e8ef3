// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {DevRelay} from "../../src/DevRelay.sol";
import {KeyBackupRegistry} from "../../src/KeyBackupRegistry.sol";
import {TeeExtensionRegistry} from "../../src/TeeExtensionRegistry.sol";
import {TeeInstructionSender} from "../../src/TeeInstructionSender.sol";
import {TeeMachineRegistry} from "../../src/TeeMachineRegistry.sol";
import {TeeResultVerifier} from "../../src/TeeResultVerifier.sol";
import {ITeeMachineRegistry} from "../../src/interfaces/ITeeMachineRegistry.sol";
import {ActionResult} from "../../src/types/ActionResult.sol";
import {FccTest} from "./FccTest.sol";
import {Vm} from "./Vm.sol";

/// @notice The whole contract set deployed as on a devnet: a chain-bound DevRelay with a
/// three-voter policy (weights 300, 200, 500; threshold 500), one extension with one SNP code
/// version, and the TEE of docs/PROTOCOL.md §7 (secret key 2) registered by `operator` (its
/// signed owner) behind the proxy `proxyId`.
abstract contract Fixture is FccTest {
    address internal governance = address(0x60);
    address internal extOwner = address(0xE0);
    address internal operator = address(0x0B);
    address internal stranger = address(0x5742);
    address internal proxyId = address(0x9A);

    uint256 internal constant VOTER_A = 101; // weight 300
    uint256 internal constant VOTER_B = 102; // weight 200
    uint256 internal constant VOTER_C = 103; // weight 500
    uint24 internal constant EPOCH = 7;
    /// @dev DevRelay's message finalization window (reward epochs).
    uint256 internal constant WINDOW = 2;
    /// @dev How long a machine stays available without confirmation.
    uint64 internal constant PERIOD = 365 days;

    bytes32 internal constant SNP = "sev-snp";
    bytes32 internal constant TDX = "tdx";
    bytes32 internal constant PLAIN = "plain";
    bytes internal constant MEASUREMENT =
        hex"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";
    bytes32 internal codeHash = keccak256(MEASUREMENT);
    string internal constant URL = "https://proxy.example:8080";

    DevRelay internal relay;
    TeeExtensionRegistry internal extensions;
    TeeMachineRegistry internal machines;
    TeeResultVerifier internal verifier;
    TeeInstructionSender internal sender;
    KeyBackupRegistry internal backups;
    uint256 internal extensionId;

    function setUp() public virtual {
        vm.chainId(14);
        relay = new DevRelay(governance, DevRelay.HashScheme.ChainBound, WINDOW);
        bytes32[] memory platforms = new bytes32[](3);
        (platforms[0], platforms[1], platforms[2]) = (SNP, TDX, PLAIN);
        extensions = new TeeExtensionRegistry(governance, platforms);
        machines = new TeeMachineRegistry(extensions, relay, PERIOD);
        verifier = new TeeResultVerifier(machines);
        sender = new TeeInstructionSender(extensions, machines, relay);
        machines.setInstructionSender(address(sender));
        backups = new KeyBackupRegistry(extensions, verifier);

        vm.prank(governance);
        relay.setSigningPolicy(_threeVoterPolicy(EPOCH));

        vm.startPrank(extOwner);
        extensionId = extensions.createExtension("fdc2");
        extensions.addTeeVersion(extensionId, "v1", codeHash, _platforms(SNP));
        vm.stopPrank();
    }

    function _threeVoterPolicy(uint24 epoch) internal pure returns (bytes memory) {
        uint16[] memory w = new uint16[](3);
        (w[0], w[1], w[2]) = (300, 200, 500);
        return _policy(epoch, 500, VOTER_A, w);
    }

    function _platforms(bytes32 p) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](1);
        list[0] = p;
    }

    /// @dev The registration data of the TEE with secret key `key`: the fixture's extension,
    /// owner `operator`, code and platform.
    function _machineData(uint256 key) internal returns (ITeeMachineRegistry.TeeMachineData memory) {
        Vm.Wallet memory w = vm.createWallet(key);
        return ITeeMachineRegistry.TeeMachineData({
            extensionId: extensionId,
            initialOwner: operator,
            codeHash: codeHash,
            platform: SNP,
            publicKey: ITeeMachineRegistry.PublicKey(bytes32(w.publicKeyX), bytes32(w.publicKeyY)),
            governanceHash: bytes32(0)
        });
    }

    /// @dev The TEE's signature over `data`, computed here independently of the registry:
    /// EIP-191(keccak(bytes32("TEE_MACHINE_REGISTER") ‖ uint256 14 ‖ keccak(abi.encode(data)))).
    function _signData(uint256 key, ITeeMachineRegistry.TeeMachineData memory data)
        internal
        pure
        returns (ITeeMachineRegistry.Signature memory)
    {
        bytes32 payload = keccak256(
            abi.encode(bytes32("TEE_MACHINE_REGISTER"), uint256(14), keccak256(abi.encode(data)))
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(key, keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", payload)));
        return ITeeMachineRegistry.Signature(v, r, s);
    }

    /// @dev `data` registered by its owner with the signature of secret key `key`.
    function _registerAs(uint256 key, ITeeMachineRegistry.TeeMachineData memory data)
        internal
        returns (address)
    {
        vm.prank(data.initialOwner);
        return machines.register(data, _signData(key, data), proxyId, URL);
    }

    function _register() internal returns (address) {
        return _registerAs(TEE_KEY, _machineData(TEE_KEY));
    }

    /// @dev Registers the example TEE and moves it to production with voters A and C (800 > 500).
    function _production() internal returns (address teeId) {
        teeId = _register();
        machines.toProduction(teeId, _productionMessage(teeId, EPOCH, _idx(0, 2)));
    }

    /// @dev A relay message of the three-voter policy of `epoch` carrying `productionHash(teeId)`,
    /// signed by the voters at `indices` (0: A, 1: B, 2: C).
    function _productionMessage(address teeId, uint24 epoch, uint256[] memory indices)
        internal
        view
        returns (bytes memory)
    {
        return _signedMessage(machines.productionHash(teeId), epoch, indices);
    }

    /// @dev A relay message of the three-voter policy of `epoch` carrying `messageHash`, signed
    /// by the voters at `indices` (0: A, 1: B, 2: C).
    function _signedMessage(bytes32 messageHash, uint24 epoch, uint256[] memory indices)
        internal
        pure
        returns (bytes memory)
    {
        return _customRelayMessage(
            _threeVoterPolicy(epoch),
            messageHash,
            _relaySignatures(_customDigest(messageHash), VOTER_A, indices)
        );
    }

    /// @dev What voters sign for a custom message on the fixture's relay (chain-bound, chain 14),
    /// computed here independently of DevRelay: EIP-191(keccak(14 ‖ keccak(01 00000000 00 ‖ h))).
    function _customDigest(bytes32 messageHash) internal pure returns (bytes32) {
        bytes32 inner = keccak256(abi.encodePacked(uint8(1), uint32(0), uint8(0), messageHash));
        return keccak256(
            abi.encodePacked("\x19Ethereum Signed Message:\n32", keccak256(abi.encode(uint256(14), inner)))
        );
    }

    function _result(bytes32 id, bytes memory data) internal pure returns (ActionResult memory r) {
        r.id = id;
        r.submissionTag = "threshold";
        r.status = 1;
        r.data = data;
    }

    function _signResult(uint256 key, ActionResult memory r) internal view returns (bytes memory) {
        bytes32 resultHash =
            keccak256(abi.encodePacked(keccak256(r.data), r.id, keccak256(bytes(r.submissionTag)), r.status));
        bytes32 hfs = keccak256(abi.encode(bytes32("TEE_ACTION_RESULT"), block.chainid, resultHash));
        return _sign(key, keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", hfs)));
    }
}
