// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title StreamGate Items: a minimal demo ERC-1155 for the StreamGate dev chain and tests.
/// @notice Not for production: no URI metadata beyond a fixed string.
///         The deployer is the owner and the only account that may mint.
interface IERC1155Receiver {
    function onERC1155Received(address operator, address from, uint256 id, uint256 value, bytes calldata data)
        external
        returns (bytes4);
    function onERC1155BatchReceived(
        address operator,
        address from,
        uint256[] calldata ids,
        uint256[] calldata values,
        bytes calldata data
    ) external returns (bytes4);
}

contract StreamGateItems {
    event TransferSingle(
        address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value
    );
    event TransferBatch(
        address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values
    );
    event ApprovalForAll(address indexed account, address indexed operator, bool approved);

    address public owner;

    mapping(uint256 => mapping(address => uint256)) private _balances;
    mapping(address => mapping(address => bool)) private _operators;

    constructor() {
        owner = msg.sender;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0xd9b67a26; // ERC-1155
    }

    function uri(uint256) external pure returns (string memory) {
        return "streamgate://items/{id}";
    }

    function balanceOf(address account, uint256 id) public view returns (uint256) {
        require(account != address(0), "ERC1155: zero address");
        return _balances[id][account];
    }

    function balanceOfBatch(address[] calldata accounts, uint256[] calldata ids)
        external
        view
        returns (uint256[] memory balances)
    {
        require(accounts.length == ids.length, "ERC1155: length mismatch");
        balances = new uint256[](accounts.length);
        for (uint256 i = 0; i < accounts.length; i++) {
            balances[i] = balanceOf(accounts[i], ids[i]);
        }
    }

    function setApprovalForAll(address operator, bool approved) external {
        _operators[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function isApprovedForAll(address account, address operator) public view returns (bool) {
        return _operators[account][operator];
    }

    /// @notice Mints `amount` of token `id` to `to`. Owner only.
    function mint(address to, uint256 id, uint256 amount) external {
        require(msg.sender == owner, "StreamGateItems: not owner");
        require(to != address(0), "ERC1155: mint to zero address");
        _balances[id][to] += amount;
        emit TransferSingle(msg.sender, address(0), to, id, amount);
        _checkSingle(msg.sender, address(0), to, id, amount, "");
    }

    function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes calldata data) external {
        require(to != address(0), "ERC1155: transfer to zero address");
        require(msg.sender == from || isApprovedForAll(from, msg.sender), "ERC1155: not authorized");
        uint256 balance = _balances[id][from];
        require(balance >= value, "ERC1155: insufficient balance");
        _balances[id][from] = balance - value;
        _balances[id][to] += value;
        emit TransferSingle(msg.sender, from, to, id, value);
        _checkSingle(msg.sender, from, to, id, value, data);
    }

    function safeBatchTransferFrom(
        address from,
        address to,
        uint256[] calldata ids,
        uint256[] calldata values,
        bytes calldata data
    ) external {
        require(ids.length == values.length, "ERC1155: length mismatch");
        require(to != address(0), "ERC1155: transfer to zero address");
        require(msg.sender == from || isApprovedForAll(from, msg.sender), "ERC1155: not authorized");
        for (uint256 i = 0; i < ids.length; i++) {
            uint256 balance = _balances[ids[i]][from];
            require(balance >= values[i], "ERC1155: insufficient balance");
            _balances[ids[i]][from] = balance - values[i];
            _balances[ids[i]][to] += values[i];
        }
        emit TransferBatch(msg.sender, from, to, ids, values);
        if (to.code.length > 0) {
            bytes4 ret = IERC1155Receiver(to).onERC1155BatchReceived(msg.sender, from, ids, values, data);
            require(ret == IERC1155Receiver.onERC1155BatchReceived.selector, "ERC1155: receiver rejected");
        }
    }

    function _checkSingle(address operator, address from, address to, uint256 id, uint256 value, bytes memory data)
        private
    {
        if (to.code.length > 0) {
            bytes4 ret = IERC1155Receiver(to).onERC1155Received(operator, from, id, value, data);
            require(ret == IERC1155Receiver.onERC1155Received.selector, "ERC1155: receiver rejected");
        }
    }
}
