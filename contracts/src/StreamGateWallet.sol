// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title StreamGate Wallet: a minimal EIP-1271 contract wallet for tests of contract-wallet sign-in.
/// @notice Not a usable wallet: it cannot execute calls. It only answers isValidSignature.
///         A signature is valid iff ecrecover(hash, signature) is the owner EOA and the wallet
///         was not deployed (or switched) to reject everything.
contract StreamGateWallet {
    bytes4 private constant MAGIC = 0x1626ba7e;
    bytes4 private constant INVALID = 0xffffffff;
    // secp256k1n / 2: signatures with a higher s are malleable and refused (EIP-2).
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    address public owner;
    bool public rejectAll;

    constructor(address owner_, bool rejectAll_) {
        owner = owner_;
        rejectAll = rejectAll_;
    }

    /// @notice Owner only: make the wallet refuse (or accept again) every signature.
    function setRejectAll(bool rejectAll_) external {
        require(msg.sender == owner, "StreamGateWallet: not owner");
        rejectAll = rejectAll_;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 || interfaceId == 0x1626ba7e;
    }

    /// @notice EIP-1271: returns 0x1626ba7e when `signature` (65 bytes r,s,v; v 27/28 or 0/1)
    ///         over `hash` recovers to the owner; 0xffffffff otherwise. Never reverts on bad input.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (rejectAll || signature.length != 65) {
            return INVALID;
        }
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) {
            v += 27;
        }
        if ((v != 27 && v != 28) || uint256(s) > HALF_N) {
            return INVALID;
        }
        address signer = ecrecover(hash, v, r, s);
        if (signer == address(0) || signer != owner) {
            return INVALID;
        }
        return MAGIC;
    }
}
