// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IFlareRelay} from "./IFlareRelay.sol";

/// @title ITeeMachineRegistry
/// @notice TEE machines: registered by their operator (pending), moved to production by data
/// providers' signatures over the registration (they check the hardware attestation off-chain),
/// kept available by their periodic confirmations (they check the TEE is current: its policy the
/// Relay's latest), paused — by anyone once its availability lapsed —, banned, and drawn at random
/// for an extension's instructions. A machine whose availability lapsed is not productive: its
/// results are refused and it is not drawn.
interface ITeeMachineRegistry {
    /// @notice A machine's life cycle. `Banned` is final.
    enum Status {
        None,
        Pending,
        Production,
        Paused,
        Banned
    }

    /// @notice Who paused a paused machine: only that role may resume it (`Anyone`: a machine
    /// that was not productive, paused by a third party; its owner or extension owner resumes).
    enum PauseRole {
        None,
        Anyone,
        Owner,
        ExtensionOwner
    }

    /// @notice A secp256k1 public key (Flare's `PublicKey`).
    struct PublicKey {
        bytes32 x;
        bytes32 y;
    }

    /// @notice An ECDSA signature (Flare's `Signature`): `v` 27/28 (or 0/1), low `s`.
    struct Signature {
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice What a TEE signs to be registered (Flare's `IMachineManager.TeeMachineData`): its
    /// operator-fixed extension and owner, the code and platform it measured, its key. The TEE
    /// signs `Payload{TEE_MACHINE_REGISTER, chainId, keccak(abi.encode(data))}` (EIP-191).
    struct TeeMachineData {
        uint256 extensionId;
        address initialOwner;
        bytes32 codeHash;
        bytes32 platform;
        PublicKey publicKey;
        /// The extension governance the TEE's operator fixed at boot (who directs where its
        /// wallet keys move): `keccak256(abi.encode(address[] signers, uint256 threshold))`, zero
        /// without governance. `register` requires the extension's current
        /// `ITeeExtensionRegistry.governanceHash`; a later change of the extension's governance
        /// does not touch machines already registered (they keep the one they booted with).
        bytes32 governanceHash;
    }

    /// @notice A machine as an attestation request names it (Flare's
    /// `TeeMachineWithAttestationData`); `initialTeeId` is always zero here (no replication).
    struct TeeMachineWithAttestationData {
        address teeId;
        address initialTeeId;
        string url;
        bytes32 codeHash;
        bytes32 platform;
    }

    /// @notice The F_REG/TEE_ATTESTATION instruction's message (Flare's `TeeAttestation`).
    struct TeeAttestation {
        TeeMachineWithAttestationData teeMachine;
        bytes32 challenge;
    }

    /// @notice A registered machine. `teeId` (the map key) is the address of its public key.
    struct Machine {
        Status status;
        /// Who registered it (`initialOwner`, which the TEE signed) and may pause or resume it.
        address owner;
        /// Its proxy's signing address (Flare's `teeProxyId`).
        address proxyId;
        uint256 extensionId;
        bytes32 codeHash;
        bytes32 platform;
        /// The extension governance the TEE booted with and signed (the extension's at
        /// registration): the providers compare the TEE's attested registration data with it.
        bytes32 governanceHash;
        string proxyUrl;
        bytes publicKey;
        /// Productive until then (unix seconds): set by `toProduction`, moved by
        /// `confirmAvailability`.
        uint64 availableUntil;
        /// The challenge of the registration's F_REG/TEE_ATTESTATION instruction, drawn on chain.
        bytes32 challenge;
        /// That instruction's id.
        bytes32 attestationInstructionId;
    }

    /// @notice Emitted on registration (and re-registration of a pending machine); the
    /// F_REG/TEE_ATTESTATION instruction `attestationInstructionId` asks it for evidence over
    /// `challenge`.
    event TeeMachineRegistered(
        address indexed teeId,
        uint256 indexed extensionId,
        address indexed owner,
        address proxyId,
        bytes32 codeHash,
        bytes32 platform,
        string proxyUrl,
        bytes32 challenge,
        bytes32 attestationInstructionId
    );
    /// @notice Emitted when data providers of `rewardEpochId`'s policy move a machine to production.
    event TeeMachineToProduction(address indexed teeId, uint256 indexed extensionId, uint256 rewardEpochId);
    /// @notice Emitted when data providers of `rewardEpochId`'s policy confirm a machine is
    /// available (current) until `availableUntil`.
    event TeeMachineAvailabilityConfirmed(
        address indexed teeId, uint64 availableUntil, uint256 rewardEpochId
    );
    /// @notice Emitted when a machine is paused.
    event TeeMachinePaused(address indexed teeId, address indexed by);
    /// @notice Emitted when a paused machine returns to production.
    event TeeMachineResumed(address indexed teeId, address indexed by);
    /// @notice Emitted when a machine is banned.
    event TeeMachineBanned(address indexed teeId, address indexed by);
    /// @notice Emitted when the registry follows a new relay, as voters of `rewardEpochId`'s
    /// policy on the old one decided.
    event RelayChanged(address indexed oldRelay, address indexed newRelay, uint256 rewardEpochId);

    /// @notice The registration is not signed by the TEE whose key it carries (`recovered` signed it).
    error RegistrationSignatureInvalid(address recovered);
    /// @notice The registration's `governanceHash` (`given`) is not the extension's current
    /// governance hash (`expected`, zero when it has none).
    error GovernanceHashInvalid(bytes32 given, bytes32 expected);
    /// @notice The proxy id must be non-zero and the URL 1 to `MAX_URL_LEN` bytes long.
    error ProxyInvalid();
    /// @notice The instruction sender is set once, by the deployer, before any registration.
    error InstructionSenderInvalid();
    /// @notice The code version is not enabled for that extension and platform.
    error CodeNotAllowed(uint256 extensionId, bytes32 codeHash, bytes32 platform);
    /// @notice The machine's state does not allow the call.
    error MachineStatusInvalid(address teeId, Status status);
    /// @notice The caller may not act on this machine.
    error NotAuthorised(address caller);
    /// @notice The relay has no signing policy yet.
    error NoSigningPolicy();
    /// @notice The signing policy is neither the relay's latest nor the one before.
    error SigningPolicyTooOld(uint256 rewardEpochId, uint256 lastInitializedRewardEpoch);
    /// @notice The extension has no production machine running an allowed code version.
    error NoProductionMachine(uint256 extensionId);
    /// @notice Only its operator or the extension owner may pause a machine still productive
    /// (available, on an enabled code version).
    error StillAvailable(address teeId, uint64 availableUntil);
    /// @notice The new relay is zero or the current one.
    error RelayInvalid(address newRelay);
    /// @notice The new relay's latest reward epoch is before the current relay's.
    error RelayBehind(uint256 newLastEpoch, uint256 lastEpoch);

    /// @notice Registers (or, while pending and by the same owner, re-registers) a machine, as
    /// Flare's `MachineManagerFacet.register` does: the caller must be `data.initialOwner`, the
    /// TEE must have signed `data` (`machineDataDigest`), `data.governanceHash` must equal the
    /// extension's `governanceHash` at this moment (`GovernanceHashInvalid`; both zero without
    /// governance), the code version must be enabled for the extension and platform. A later
    /// change of the extension's governance leaves registered machines as they are: they keep
    /// the governance they booted with (a pending one re-registering must match the new hash).
    /// Sends the machine an F_REG/TEE_ATTESTATION instruction with a challenge drawn on chain;
    /// the data providers check its answer before `toProduction`.
    /// @param signature the TEE's signature over `machineDataDigest(data)`.
    /// @param proxyId the proxy's signing address.
    /// @param proxyUrl the proxy's public URL.
    /// @return teeId the address of `data.publicKey`.
    function register(
        TeeMachineData calldata data,
        Signature calldata signature,
        address proxyId,
        string calldata proxyUrl
    ) external returns (address teeId);

    /// @notice What a TEE signs to be registered: EIP-191 of `keccak(abi.encode(
    /// bytes32("TEE_MACHINE_REGISTER"), chainId, keccak(abi.encode(data))))` (docs/PROTOCOL.md §7).
    function machineDataDigest(TeeMachineData calldata data) external view returns (bytes32);

    /// @notice Binds the instruction sender that carries the registry's attestation requests
    /// (once, by the deployer: the sender is deployed after the registry it reads).
    function setInstructionSender(address sender) external;

    /// @notice Moves a pending machine to production: `relayMessage` (docs/PROTOCOL.md §16) carries
    /// `productionHash(teeId)` with data-provider signatures of weight > its policy's threshold, as
    /// the relay's `verifyCustomSignature` checks; the policy must be the relay's latest or the one
    /// before.
    function toProduction(address teeId, bytes calldata relayMessage) external;

    /// @notice Extends a production machine's availability to now + `availabilityPeriod`:
    /// `relayMessage` carries `availabilityHash(teeId)` (which moves with every confirmation, so a
    /// message confirms once) with data-provider signatures of weight > its policy's threshold;
    /// the policy must be the relay's latest or the one before. Providers sign only after
    /// checking the TEE's fresh statement: its active policy the Relay's latest.
    function confirmAvailability(address teeId, bytes calldata relayMessage) external;

    /// @notice How long a confirmation (or the move to production) keeps a machine available.
    function availabilityPeriod() external view returns (uint64);

    /// @notice What providers sign to confirm `teeId`'s availability:
    /// `keccak(abi.encode(bytes32("TEE_MACHINE_AVAILABLE"), chainId, keccak(abi.encode(
    /// registrationHash(teeId), availableUntil))))` — `payloadHash` over the registration and the
    /// availability it extends.
    function availabilityHash(address teeId) external view returns (bytes32);

    /// @notice Takes a production machine out of service and out of the production list: its
    /// owner or the extension owner at any time, anyone once it is not productive (availability
    /// lapsed or code version disabled) — the permissionless prune of the list selection walks.
    function pause(address teeId) external;

    /// @notice Returns a paused machine to production: only the role that paused it (`pauseRole`;
    /// a pause by anyone, its owner or the extension owner). One whose availability lapsed stays
    /// unproductive until the providers confirm it again.
    function resume(address teeId) external;

    /// @notice Who paused `teeId` (`None` unless it is paused).
    function pauseRole(address teeId) external view returns (PauseRole);

    /// @notice The signing-policy source: DevRelay or Flare's Relay (`setRelay` follows a new one).
    function relay() external view returns (IFlareRelay);

    /// @notice Follows a redeployed relay: `relayMessage` carries `relayChangeHash(newRelay)`
    /// signed through the current relay by its latest or previous policy (as for `toProduction`),
    /// and `newRelay`'s latest reward epoch is not before the current relay's. Anyone may submit it.
    function setRelay(IFlareRelay newRelay, bytes calldata relayMessage) external;

    /// @notice What voters sign to move the registry to `newRelay`: `keccak(abi.encode(
    /// bytes32("FCC_RELAY_CHANGE"), chainId, keccak(abi.encode(registry, relay, newRelay))))`.
    function relayChangeHash(IFlareRelay newRelay) external view returns (bytes32);

    /// @notice Bans a machine that was in production for good (the extension owner). A pending
    /// registration cannot be banned: it proves nothing about the key, so a ban would only
    /// block the key's honest registration.
    function ban(address teeId) external;

    /// @notice The machine record.
    function machine(address teeId) external view returns (Machine memory);

    /// @notice Whether `teeId` is a production machine of the extension whose code version is
    /// still enabled and whose availability has not lapsed.
    function isProductionTee(uint256 extensionId, address teeId) external view returns (bool);

    /// @notice The extension's production machines (including any whose code was disabled or
    /// whose availability lapsed since, until someone pauses them).
    function productionMachines(uint256 extensionId) external view returns (address[] memory);

    /// @notice Position + 1 of `teeId` in its extension's `productionMachines` (0: not listed).
    function productionIndex(address teeId) external view returns (uint256);

    /// @notice A productive machine of the extension (`isProductionTee`), drawn from
    /// `keccak(blockhash(block.number - 1), extensionId, salt)`. Not secure randomness: the block
    /// proposer and anyone simulating the call can predict or steer it (see README).
    function selectProductionMachine(uint256 extensionId, bytes32 salt) external view returns (address teeId);

    /// @notice What the data providers vote on: `keccak(abi.encode(bytes32("FCC_TEE_REGISTRATION_V2"),
    /// chainId, registry, teeId, owner, proxyId, extensionId, codeHash, platform, keccak(proxyUrl),
    /// challenge))` — the registration and the challenge whose answer they checked.
    function registrationHash(address teeId) external view returns (bytes32);

    /// @notice The message hash data providers sign through the relay (docs/PROTOCOL.md §16) to move
    /// `teeId` to production: `keccak(bytes32("TEE_MACHINE_PRODUCTION") ‖ uint256 chainId ‖
    /// registrationHash(teeId))`.
    function productionHash(address teeId) external view returns (bytes32);
}
