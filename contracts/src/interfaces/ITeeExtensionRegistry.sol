// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ITeeExtensionRegistry
/// @notice Extensions (an application of FCC with its own TEE code), their owners, and the code
/// versions their machines may run. A code version is a measurement: `codeHash =
/// keccak256(measurement)` of the 48-byte SNP launch digest or TDX MRTD (SHA-384 of the ROM
/// for the `plain` test platform), allowed on a set of platforms. An extension may also have a
/// governance: the signers (and how many of them must sign) who direct where its wallet keys
/// move between its TEEs; its machines commit the one they booted with as `governanceHash`.
interface ITeeExtensionRegistry {
    /// @notice A code version of an extension.
    struct CodeVersion {
        string version;
        bool enabled;
        uint64 addedAt;
    }

    /// @notice Emitted when an extension is created.
    event ExtensionCreated(uint256 indexed extensionId, address indexed owner, string name);
    /// @notice Emitted when an extension changes owner.
    event ExtensionOwnerChanged(
        uint256 indexed extensionId, address indexed previousOwner, address indexed newOwner
    );
    /// @notice Emitted when a code version is added, with the platforms it may run on.
    event TeeVersionAdded(
        uint256 indexed extensionId, bytes32 indexed codeHash, string version, bytes32[] platforms
    );
    /// @notice Emitted when a code version is disabled (permanently).
    event TeeVersionDisabled(uint256 indexed extensionId, bytes32 indexed codeHash);
    /// @notice Emitted when the registry owner adds a platform name.
    event PlatformAdded(bytes32 indexed platform);
    /// @notice Emitted when the registry owner changes.
    event RegistryOwnerChanged(address indexed previousOwner, address indexed newOwner);
    /// @notice Emitted when an extension's governance is set (`clearGovernance`: hash zero, no
    /// signers, threshold zero).
    event GovernanceSet(
        uint256 indexed extensionId, bytes32 governanceHash, address[] signers, uint256 threshold
    );

    /// @notice The caller is not the extension's owner.
    error NotExtensionOwner(uint256 extensionId, address caller);
    /// @notice The caller is not the registry's owner.
    error NotRegistryOwner(address caller);
    /// @notice No extension has this id.
    error UnknownExtension(uint256 extensionId);
    /// @notice The extension already has this code hash (a disabled version cannot be re-added).
    error CodeVersionExists(uint256 extensionId, bytes32 codeHash);
    /// @notice The extension has no such code version.
    error UnknownCodeVersion(uint256 extensionId, bytes32 codeHash);
    /// @notice The code version was already disabled.
    error CodeVersionAlreadyDisabled(uint256 extensionId, bytes32 codeHash);
    /// @notice The platform name is not registered (or is zero).
    error UnknownPlatform(bytes32 platform);
    /// @notice The platform is already registered.
    error PlatformExists(bytes32 platform);
    /// @notice A code version needs at least one platform, a non-zero code hash and a version string.
    error CodeVersionInvalid();
    /// @notice The zero address cannot own anything.
    error ZeroAddress();
    /// @notice A governance needs 1 to `MAX_GOVERNANCE_SIGNERS` signers (`count` given).
    error GovernanceSignersInvalid(uint256 count);
    /// @notice A governance's threshold must be 1 to its number of signers.
    error GovernanceThresholdInvalid(uint256 threshold, uint256 signers);
    /// @notice A governance signer is the zero address or listed twice.
    error GovernanceSignerInvalid(address signer);

    /// @notice Creates an extension owned by the caller.
    /// @return extensionId the new id (ids start at 1).
    function createExtension(string calldata name) external returns (uint256 extensionId);

    /// @notice Hands the extension to `newOwner` (owner only).
    function transferExtensionOwnership(uint256 extensionId, address newOwner) external;

    /// @notice Allows a code version on `platforms` (extension owner only).
    /// @param codeHash keccak256 of the 48-byte measurement.
    function addTeeVersion(
        uint256 extensionId,
        string calldata version,
        bytes32 codeHash,
        bytes32[] calldata platforms
    ) external;

    /// @notice Disables a code version for good (extension owner only). Machines running it stop
    /// being accepted at once: every check reads this flag.
    function disableTeeVersion(uint256 extensionId, bytes32 codeHash) external;

    /// @notice Sets the extension's governance (extension owner only): `threshold` distinct
    /// `signers` must sign a machine path list. Validated as the TEE validates its boot-time
    /// governance (fcc-core's `Governance::new`): 1 to `MAX_GOVERNANCE_SIGNERS` (16) signers, none
    /// zero, none listed twice, threshold 1 to their number. The order is kept: the hash is over
    /// the list as given, as the TEE hashes its list in the order its operator configured, so
    /// set it in that order. Machines already registered keep the governance they booted with;
    /// new registrations must carry the new hash.
    function setGovernance(uint256 extensionId, address[] calldata signers, uint256 threshold) external;

    /// @notice Removes the extension's governance (extension owner only): `governanceHash`
    /// becomes zero, so only machines booted without governance register from now on.
    function clearGovernance(uint256 extensionId) external;

    /// @notice Registers a platform name such as `bytes32("sev-snp")` (registry owner only).
    function addPlatform(bytes32 platform) external;

    /// @notice The owner of an extension (zero if none).
    function extensionOwner(uint256 extensionId) external view returns (address);

    /// @notice A code version of an extension.
    function codeVersion(uint256 extensionId, bytes32 codeHash) external view returns (CodeVersion memory);

    /// @notice Whether `codeHash` is an enabled version of the extension allowed on `platform`.
    function isCodeAllowed(uint256 extensionId, bytes32 codeHash, bytes32 platform)
        external
        view
        returns (bool);

    /// @notice The extension's governance as a TEE commits it in its registration data:
    /// `keccak256(abi.encode(address[] signers, uint256 threshold))`, zero without governance.
    /// `TeeMachineRegistry.register` accepts only machines carrying this hash.
    function governanceHash(uint256 extensionId) external view returns (bytes32);

    /// @notice Whether `platform` is a registered platform name.
    function isPlatform(bytes32 platform) external view returns (bool);

    /// @notice The number of extensions created so far (the highest id).
    function extensionCount() external view returns (uint256);
}
