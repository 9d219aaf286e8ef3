// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ITeeExtensionRegistry} from "./interfaces/ITeeExtensionRegistry.sol";

/// @title TeeExtensionRegistry
/// @notice Extensions, their owners and the code versions (measurements) their TEE machines may
/// run, per platform, and their governance (who directs where wallet keys move between their
/// TEEs). The registry owner only curates the list of platform names.
contract TeeExtensionRegistry is ITeeExtensionRegistry {
    /// @notice Platform name of AMD SEV-SNP machines (codeHash over the SNP launch digest).
    bytes32 public constant PLATFORM_SEV_SNP = "sev-snp";
    /// @notice Platform name of Intel TDX machines (codeHash over MRTD).
    bytes32 public constant PLATFORM_TDX = "tdx";
    /// @notice Platform name of test machines without hardware (codeHash over the ROM's SHA-384).
    bytes32 public constant PLATFORM_PLAIN = "plain";
    /// @notice Most signers of a governance (fcc-core's `MAX_GOVERNANCE_SIGNERS`: a TEE refuses
    /// a longer list at boot).
    uint256 public constant MAX_GOVERNANCE_SIGNERS = 16;

    /// @notice Who may add platform names.
    address public registryOwner;
    /// @inheritdoc ITeeExtensionRegistry
    uint256 public extensionCount;

    mapping(uint256 extensionId => address) private _owners;
    mapping(uint256 extensionId => mapping(bytes32 codeHash => CodeVersion)) private _versions;
    mapping(uint256 extensionId => mapping(bytes32 codeHash => mapping(bytes32 platform => bool))) private
        _allowedOn;
    mapping(bytes32 platform => bool) private _platforms;
    mapping(uint256 extensionId => bytes32) private _governanceHashes;

    modifier onlyExtensionOwner(uint256 extensionId) {
        if (_owners[extensionId] != msg.sender) revert NotExtensionOwner(extensionId, msg.sender);
        _;
    }

    /// @param owner the registry owner.
    /// @param platforms the platform names known from the start (e.g. sev-snp and tdx; add
    /// `plain` only on test deployments: it has no hardware attestation).
    constructor(address owner, bytes32[] memory platforms) {
        if (owner == address(0)) revert ZeroAddress();
        registryOwner = owner;
        emit RegistryOwnerChanged(address(0), owner);
        for (uint256 i; i < platforms.length; ++i) {
            _addPlatform(platforms[i]);
        }
    }

    /// @inheritdoc ITeeExtensionRegistry
    function createExtension(string calldata name) external returns (uint256 extensionId) {
        extensionId = ++extensionCount;
        _owners[extensionId] = msg.sender;
        emit ExtensionCreated(extensionId, msg.sender, name);
    }

    /// @inheritdoc ITeeExtensionRegistry
    function transferExtensionOwnership(uint256 extensionId, address newOwner)
        external
        onlyExtensionOwner(extensionId)
    {
        if (newOwner == address(0)) revert ZeroAddress();
        _owners[extensionId] = newOwner;
        emit ExtensionOwnerChanged(extensionId, msg.sender, newOwner);
    }

    /// @inheritdoc ITeeExtensionRegistry
    function addTeeVersion(
        uint256 extensionId,
        string calldata version,
        bytes32 codeHash,
        bytes32[] calldata platforms
    ) external onlyExtensionOwner(extensionId) {
        if (codeHash == bytes32(0) || platforms.length == 0 || bytes(version).length == 0) {
            revert CodeVersionInvalid();
        }
        CodeVersion storage stored = _versions[extensionId][codeHash];
        if (stored.addedAt != 0) revert CodeVersionExists(extensionId, codeHash);
        for (uint256 i; i < platforms.length; ++i) {
            if (!_platforms[platforms[i]]) revert UnknownPlatform(platforms[i]);
            _allowedOn[extensionId][codeHash][platforms[i]] = true;
        }
        stored.version = version;
        stored.enabled = true;
        stored.addedAt = uint64(block.timestamp);
        emit TeeVersionAdded(extensionId, codeHash, version, platforms);
    }

    /// @inheritdoc ITeeExtensionRegistry
    function disableTeeVersion(uint256 extensionId, bytes32 codeHash)
        external
        onlyExtensionOwner(extensionId)
    {
        CodeVersion storage stored = _versions[extensionId][codeHash];
        if (stored.addedAt == 0) revert UnknownCodeVersion(extensionId, codeHash);
        if (!stored.enabled) revert CodeVersionAlreadyDisabled(extensionId, codeHash);
        stored.enabled = false;
        emit TeeVersionDisabled(extensionId, codeHash);
    }

    /// @inheritdoc ITeeExtensionRegistry
    function setGovernance(uint256 extensionId, address[] calldata signers, uint256 threshold)
        external
        onlyExtensionOwner(extensionId)
    {
        bytes32 hash = _governanceHashOf(signers, threshold);
        _governanceHashes[extensionId] = hash;
        emit GovernanceSet(extensionId, hash, signers, threshold);
    }

    /// @inheritdoc ITeeExtensionRegistry
    function clearGovernance(uint256 extensionId) external onlyExtensionOwner(extensionId) {
        delete _governanceHashes[extensionId];
        emit GovernanceSet(extensionId, bytes32(0), new address[](0), 0);
    }

    /// @inheritdoc ITeeExtensionRegistry
    function addPlatform(bytes32 platform) external {
        if (msg.sender != registryOwner) revert NotRegistryOwner(msg.sender);
        _addPlatform(platform);
    }

    /// @notice Hands the registry to `newOwner` (registry owner only).
    function transferRegistryOwnership(address newOwner) external {
        if (msg.sender != registryOwner) revert NotRegistryOwner(msg.sender);
        if (newOwner == address(0)) revert ZeroAddress();
        registryOwner = newOwner;
        emit RegistryOwnerChanged(msg.sender, newOwner);
    }

    /// @inheritdoc ITeeExtensionRegistry
    function extensionOwner(uint256 extensionId) external view returns (address) {
        return _owners[extensionId];
    }

    /// @inheritdoc ITeeExtensionRegistry
    function codeVersion(uint256 extensionId, bytes32 codeHash) external view returns (CodeVersion memory) {
        return _versions[extensionId][codeHash];
    }

    /// @inheritdoc ITeeExtensionRegistry
    function isCodeAllowed(uint256 extensionId, bytes32 codeHash, bytes32 platform)
        external
        view
        returns (bool)
    {
        return _versions[extensionId][codeHash].enabled && _allowedOn[extensionId][codeHash][platform];
    }

    /// @inheritdoc ITeeExtensionRegistry
    function governanceHash(uint256 extensionId) external view returns (bytes32) {
        return _governanceHashes[extensionId];
    }

    /// @inheritdoc ITeeExtensionRegistry
    function isPlatform(bytes32 platform) external view returns (bool) {
        return _platforms[platform];
    }

    /// @notice `codeHash` of a 48-byte measurement (SNP launch digest, TDX MRTD, or the ROM's
    /// SHA-384 for `plain`): `keccak256(measurement)`.
    function codeHashOf(bytes calldata measurement) external pure returns (bytes32) {
        if (measurement.length != 48) revert CodeVersionInvalid();
        return keccak256(measurement);
    }

    /// @notice `governanceHash` of a governance (validated as `setGovernance` does), for an
    /// operator to check the one it boots a TEE with: `keccak256(abi.encode(signers, threshold))`.
    function governanceHashOf(address[] calldata signers, uint256 threshold) external pure returns (bytes32) {
        return _governanceHashOf(signers, threshold);
    }

    /// @dev Validates a governance as fcc-core's `Governance::new` does and hashes it as
    /// `Governance::hash` does, the signers in the order given (the TEE keeps its operator's order).
    function _governanceHashOf(address[] calldata signers, uint256 threshold) private pure returns (bytes32) {
        uint256 n = signers.length;
        if (n == 0 || n > MAX_GOVERNANCE_SIGNERS) revert GovernanceSignersInvalid(n);
        if (threshold == 0 || threshold > n) revert GovernanceThresholdInvalid(threshold, n);
        for (uint256 i; i < n; ++i) {
            address signer = signers[i];
            if (signer == address(0)) revert GovernanceSignerInvalid(signer);
            for (uint256 j; j < i; ++j) {
                if (signers[j] == signer) revert GovernanceSignerInvalid(signer);
            }
        }
        return keccak256(abi.encode(signers, threshold));
    }

    function _addPlatform(bytes32 platform) private {
        if (platform == bytes32(0)) revert UnknownPlatform(platform);
        if (_platforms[platform]) revert PlatformExists(platform);
        _platforms[platform] = true;
        emit PlatformAdded(platform);
    }
}
