// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

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

    /// @notice A registered machine. `teeId` (the map key) is the address of its public key.
    struct Machine {
        Status status;
        address operator;
        uint256 extensionId;
        bytes32 codeHash;
        bytes32 platform;
        string proxyUrl;
        bytes publicKey;
        /// Productive until then (unix seconds): set by `toProduction`, moved by
        /// `confirmAvailability`.
        uint64 availableUntil;
    }

    /// @notice Emitted on registration (and re-registration of a pending machine).
    event TeeMachineRegistered(
        address indexed teeId,
        uint256 indexed extensionId,
        address indexed operator,
        bytes32 codeHash,
        bytes32 platform,
        string proxyUrl,
        bytes publicKey
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

    /// @notice The public key is not 64 bytes `x ‖ y`.
    error PublicKeyInvalid();
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
    /// @notice Only its operator or the extension owner may pause a machine still available.
    error StillAvailable(address teeId, uint64 availableUntil);

    /// @notice Registers (or, while pending and by the same operator, re-registers) a machine.
    /// @param publicKey the TEE identity key, 64 bytes `x ‖ y` (docs/PROTOCOL.md §7).
    /// @param codeHash keccak256 of the machine's 48-byte measurement.
    /// @return teeId the address of `publicKey`.
    function register(
        uint256 extensionId,
        bytes calldata publicKey,
        bytes32 codeHash,
        bytes32 platform,
        string calldata proxyUrl
    ) external returns (address teeId);

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

    /// @notice Takes a production machine out of service: its operator or the extension owner at
    /// any time, anyone once its availability lapsed.
    function pause(address teeId) external;

    /// @notice Returns a paused machine to production (its operator or the extension owner); one
    /// whose availability lapsed stays unproductive until the providers confirm it again.
    function resume(address teeId) external;

    /// @notice Bans a machine for good (the extension owner).
    function ban(address teeId) external;

    /// @notice The machine record.
    function machine(address teeId) external view returns (Machine memory);

    /// @notice Whether `teeId` is a production machine of the extension whose code version is
    /// still enabled and whose availability has not lapsed.
    function isProductionTee(uint256 extensionId, address teeId) external view returns (bool);

    /// @notice The extension's production machines (including any whose code was disabled since).
    function productionMachines(uint256 extensionId) external view returns (address[] memory);

    /// @notice A productive machine of the extension (`isProductionTee`), drawn from
    /// `keccak(blockhash(block.number - 1), extensionId, salt)`. Not secure randomness: the block
    /// proposer and anyone simulating the call can predict or steer it (see README).
    function selectProductionMachine(uint256 extensionId, bytes32 salt) external view returns (address teeId);

    /// @notice The challenge and signed data of a registration: `keccak(abi.encode(
    /// bytes32("FCC_TEE_REGISTRATION_V1"), chainId, registry, teeId, operator, extensionId,
    /// codeHash, platform, keccak(proxyUrl)))`. The attestation's REPORT_DATA[32..64] must equal it.
    function registrationHash(address teeId) external view returns (bytes32);

    /// @notice The message hash data providers sign through the relay (docs/PROTOCOL.md §16) to move
    /// `teeId` to production: `keccak(bytes32("TEE_MACHINE_PRODUCTION") ‖ uint256 chainId ‖
    /// registrationHash(teeId))`.
    function productionHash(address teeId) external view returns (bytes32);
}
