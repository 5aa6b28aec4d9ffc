// Code generated via abigen V2 - DO NOT EDIT.
// This file is a generated binding and any manual changes will be lost.

package bindings

import (
	"bytes"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Reference imports to suppress errors if they are not otherwise used.
var (
	_ = bytes.Equal
	_ = errors.New
	_ = big.NewInt
	_ = common.Big1
	_ = types.BloomLookup
	_ = abi.ConvertType
)

// StreamGatePassMetaData contains all meta data concerning the StreamGatePass contract.
var StreamGatePassMetaData = bind.MetaData{
	ABI: "[{\"inputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"constructor\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"owner\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"approved\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"uint256\",\"name\":\"tokenId\",\"type\":\"uint256\"}],\"name\":\"Approval\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"owner\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"bool\",\"name\":\"approved\",\"type\":\"bool\"}],\"name\":\"ApprovalForAll\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"uint256\",\"name\":\"tokenId\",\"type\":\"uint256\"}],\"name\":\"Transfer\",\"type\":\"event\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"tokenId\",\"type\":\"uint256\"}],\"name\":\"approve\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"account\",\"type\":\"address\"}],\"name\":\"balanceOf\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"tokenId\",\"type\":\"uint256\"}],\"name\":\"getApproved\",\"outputs\":[{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"holder\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"}],\"name\":\"isApprovedForAll\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"}],\"name\":\"mint\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"tokenId\",\"type\":\"uint256\"}],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"name\",\"outputs\":[{\"internalType\":\"string\",\"name\":\"\",\"type\":\"string\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"nextTokenId\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"owner\",\"outputs\":[{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"tokenId\",\"type\":\"uint256\"}],\"name\":\"ownerOf\",\"outputs\":[{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"tokenId\",\"type\":\"uint256\"}],\"name\":\"safeTransferFrom\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"tokenId\",\"type\":\"uint256\"},{\"internalType\":\"bytes\",\"name\":\"data\",\"type\":\"bytes\"}],\"name\":\"safeTransferFrom\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"},{\"internalType\":\"bool\",\"name\":\"approved\",\"type\":\"bool\"}],\"name\":\"setApprovalForAll\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes4\",\"name\":\"interfaceId\",\"type\":\"bytes4\"}],\"name\":\"supportsInterface\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"pure\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"symbol\",\"outputs\":[{\"internalType\":\"string\",\"name\":\"\",\"type\":\"string\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"tokenId\",\"type\":\"uint256\"}],\"name\":\"transferFrom\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"}]",
	ID:  "StreamGatePass",
	Bin: "0x6080604052600180553480156012575f5ffd5b505f80546001600160a01b03191633179055610cdb806100315f395ff3fe608060405234801561000f575f5ffd5b50600436106100f0575f3560e01c80636a6278421161009357806395d89b411161006357806395d89b411461021f578063a22cb46514610244578063b88d4fde14610257578063e985e9c51461026a575f5ffd5b80636a627842146101d057806370a08231146101f157806375794a3c146102045780638da5cb5b1461020d575f5ffd5b8063095ea7b3116100ce578063095ea7b31461018257806323b872dd1461019757806342842e0e146101aa5780636352211e146101bd575f5ffd5b806301ffc9a7146100f457806306fdde031461011c578063081812fc14610157575b5f5ffd5b6101076101023660046109c8565b6102a5565b60405190151581526020015b60405180910390f35b61014a6040518060400160405280600f81526020016e53747265616d47617465205061737360881b81525081565b6040516101139190610a18565b61016a610165366004610a2a565b6102db565b6040516001600160a01b039091168152602001610113565b610195610190366004610a5c565b610301565b005b6101956101a5366004610a84565b6103eb565b6101956101b8366004610a84565b610611565b61016a6101cb366004610a2a565b610630565b6101e36101de366004610abe565b610694565b604051908152602001610113565b6101e36101ff366004610abe565b6107e3565b6101e360015481565b5f5461016a906001600160a01b031681565b61014a6040518060400160405280600681526020016553475041535360d01b81525081565b610195610252366004610ad7565b61084c565b610195610265366004610b24565b6108b7565b610107610278366004610c01565b6001600160a01b039182165f90815260056020908152604080832093909416825291909152205460ff1690565b5f6301ffc9a760e01b6001600160e01b0319831614806102d557506380ac58cd60e01b6001600160e01b03198316145b92915050565b5f6102e582610630565b50505f908152600460205260409020546001600160a01b031690565b5f61030b82610630565b9050336001600160a01b038216148061034657506001600160a01b0381165f90815260056020908152604080832033845290915290205460ff165b6103905760405162461bcd60e51b8152602060048201526016602482015275115490cdcc8c4e881b9bdd08185d5d1a1bdc9a5e995960521b60448201526064015b60405180910390fd5b5f8281526004602052604080822080546001600160a01b0319166001600160a01b0387811691821790925591518593918516917f8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b92591a4505050565b5f6103f582610630565b9050836001600160a01b0316816001600160a01b03161461044d5760405162461bcd60e51b81526020600482015260126024820152714552433732313a2077726f6e672066726f6d60701b6044820152606401610387565b6001600160a01b0383166104a35760405162461bcd60e51b815260206004820181905260248201527f4552433732313a207472616e7366657220746f207a65726f20616464726573736044820152606401610387565b336001600160a01b03821614806104cf57505f828152600460205260409020546001600160a01b031633145b806104fc57506001600160a01b0381165f90815260056020908152604080832033845290915290205460ff165b6105415760405162461bcd60e51b8152602060048201526016602482015275115490cdcc8c4e881b9bdd08185d5d1a1bdc9a5e995960521b6044820152606401610387565b5f82815260046020908152604080832080546001600160a01b03191690556001600160a01b038716835260039091528120805460019290610583908490610c46565b90915550506001600160a01b0383165f9081526003602052604081208054600192906105b0908490610c59565b90915550505f8281526002602052604080822080546001600160a01b0319166001600160a01b0387811691821790925591518593918816917fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef91a450505050565b61062b83838360405180602001604052805f8152506108b7565b505050565b5f818152600260205260408120546001600160a01b0316806102d55760405162461bcd60e51b815260206004820152601960248201527f4552433732313a206e6f6e6578697374656e7420746f6b656e000000000000006044820152606401610387565b5f80546001600160a01b031633146106ee5760405162461bcd60e51b815260206004820152601960248201527f53747265616d47617465506173733a206e6f74206f776e6572000000000000006044820152606401610387565b6001600160a01b0382166107445760405162461bcd60e51b815260206004820152601c60248201527f4552433732313a206d696e7420746f207a65726f2061646472657373000000006044820152606401610387565b60018054905f61075383610c6c565b909155505f81815260026020908152604080832080546001600160a01b0319166001600160a01b03881690811790915583526003909152812080549293506001929091906107a2908490610c59565b909155505060405181906001600160a01b038416905f907fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef908290a4919050565b5f6001600160a01b0382166108315760405162461bcd60e51b81526020600482015260146024820152734552433732313a207a65726f206164647265737360601b6044820152606401610387565b506001600160a01b03165f9081526003602052604090205490565b335f8181526005602090815260408083206001600160a01b03871680855290835292819020805460ff191686151590811790915590519081529192917f17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31910160405180910390a35050565b6108c28484846103eb565b6001600160a01b0383163b156109aa57604051630a85bd0160e11b81525f906001600160a01b0385169063150b7a0290610906903390899088908890600401610c84565b6020604051808303815f875af1158015610922573d5f5f3e3d5ffd5b505050506040513d601f19601f820116820180604052508101906109469190610cc0565b90506001600160e01b03198116630a85bd0160e11b146109a85760405162461bcd60e51b815260206004820152601960248201527f4552433732313a2072656365697665722072656a6563746564000000000000006044820152606401610387565b505b50505050565b6001600160e01b0319811681146109c5575f5ffd5b50565b5f602082840312156109d8575f5ffd5b81356109e3816109b0565b9392505050565b5f81518084528060208401602086015e5f602082860101526020601f19601f83011685010191505092915050565b602081525f6109e360208301846109ea565b5f60208284031215610a3a575f5ffd5b5035919050565b80356001600160a01b0381168114610a57575f5ffd5b919050565b5f5f60408385031215610a6d575f5ffd5b610a7683610a41565b946020939093013593505050565b5f5f5f60608486031215610a96575f5ffd5b610a9f84610a41565b9250610aad60208501610a41565b929592945050506040919091013590565b5f60208284031215610ace575f5ffd5b6109e382610a41565b5f5f60408385031215610ae8575f5ffd5b610af183610a41565b915060208301358015158114610b05575f5ffd5b809150509250929050565b634e487b7160e01b5f52604160045260245ffd5b5f5f5f5f60808587031215610b37575f5ffd5b610b4085610a41565b9350610b4e60208601610a41565b925060408501359150606085013567ffffffffffffffff811115610b70575f5ffd5b8501601f81018713610b80575f5ffd5b803567ffffffffffffffff811115610b9a57610b9a610b10565b604051601f8201601f19908116603f0116810167ffffffffffffffff81118282101715610bc957610bc9610b10565b604052818152828201602001891015610be0575f5ffd5b816020840160208301375f6020838301015280935050505092959194509250565b5f5f60408385031215610c12575f5ffd5b610c1b83610a41565b9150610c2960208401610a41565b90509250929050565b634e487b7160e01b5f52601160045260245ffd5b818103818111156102d5576102d5610c32565b808201808211156102d5576102d5610c32565b5f60018201610c7d57610c7d610c32565b5060010190565b6001600160a01b03858116825284166020820152604081018390526080606082018190525f90610cb6908301846109ea565b9695505050505050565b5f60208284031215610cd0575f5ffd5b81516109e3816109b056",
}

// StreamGatePass is an auto generated Go binding around an Ethereum contract.
type StreamGatePass struct {
	abi abi.ABI
}

// GetABI returns the ABI associated with this contract binding.
func (c *StreamGatePass) GetABI() abi.ABI {
	return c.abi
}

// NewStreamGatePass creates a new instance of StreamGatePass.
func NewStreamGatePass() *StreamGatePass {
	parsed, err := StreamGatePassMetaData.ParseABI()
	if err != nil {
		panic(errors.New("invalid ABI: " + err.Error()))
	}
	return &StreamGatePass{abi: *parsed}
}

// Instance creates a wrapper for a deployed contract instance at the given address.
// Use this to create the instance object passed to abigen v2 library functions Call, Transact, etc.
func (c *StreamGatePass) Instance(backend bind.ContractBackend, addr common.Address) *bind.BoundContract {
	return bind.NewBoundContract(addr, c.abi, backend, backend, backend)
}

// PackApprove is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x095ea7b3.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function approve(address to, uint256 tokenId) returns()
func (streamGatePass *StreamGatePass) PackApprove(to common.Address, tokenId *big.Int) []byte {
	enc, err := streamGatePass.abi.Pack("approve", to, tokenId)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackApprove is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x095ea7b3.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function approve(address to, uint256 tokenId) returns()
func (streamGatePass *StreamGatePass) TryPackApprove(to common.Address, tokenId *big.Int) ([]byte, error) {
	return streamGatePass.abi.Pack("approve", to, tokenId)
}

// PackBalanceOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x70a08231.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function balanceOf(address account) view returns(uint256)
func (streamGatePass *StreamGatePass) PackBalanceOf(account common.Address) []byte {
	enc, err := streamGatePass.abi.Pack("balanceOf", account)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackBalanceOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x70a08231.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function balanceOf(address account) view returns(uint256)
func (streamGatePass *StreamGatePass) TryPackBalanceOf(account common.Address) ([]byte, error) {
	return streamGatePass.abi.Pack("balanceOf", account)
}

// UnpackBalanceOf is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x70a08231.
//
// Solidity: function balanceOf(address account) view returns(uint256)
func (streamGatePass *StreamGatePass) UnpackBalanceOf(data []byte) (*big.Int, error) {
	out, err := streamGatePass.abi.Unpack("balanceOf", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackGetApproved is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x081812fc.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function getApproved(uint256 tokenId) view returns(address)
func (streamGatePass *StreamGatePass) PackGetApproved(tokenId *big.Int) []byte {
	enc, err := streamGatePass.abi.Pack("getApproved", tokenId)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackGetApproved is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x081812fc.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function getApproved(uint256 tokenId) view returns(address)
func (streamGatePass *StreamGatePass) TryPackGetApproved(tokenId *big.Int) ([]byte, error) {
	return streamGatePass.abi.Pack("getApproved", tokenId)
}

// UnpackGetApproved is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x081812fc.
//
// Solidity: function getApproved(uint256 tokenId) view returns(address)
func (streamGatePass *StreamGatePass) UnpackGetApproved(data []byte) (common.Address, error) {
	out, err := streamGatePass.abi.Unpack("getApproved", data)
	if err != nil {
		return *new(common.Address), err
	}
	out0 := *abi.ConvertType(out[0], new(common.Address)).(*common.Address)
	return out0, nil
}

// PackIsApprovedForAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xe985e9c5.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function isApprovedForAll(address holder, address operator) view returns(bool)
func (streamGatePass *StreamGatePass) PackIsApprovedForAll(holder common.Address, operator common.Address) []byte {
	enc, err := streamGatePass.abi.Pack("isApprovedForAll", holder, operator)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackIsApprovedForAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xe985e9c5.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function isApprovedForAll(address holder, address operator) view returns(bool)
func (streamGatePass *StreamGatePass) TryPackIsApprovedForAll(holder common.Address, operator common.Address) ([]byte, error) {
	return streamGatePass.abi.Pack("isApprovedForAll", holder, operator)
}

// UnpackIsApprovedForAll is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xe985e9c5.
//
// Solidity: function isApprovedForAll(address holder, address operator) view returns(bool)
func (streamGatePass *StreamGatePass) UnpackIsApprovedForAll(data []byte) (bool, error) {
	out, err := streamGatePass.abi.Unpack("isApprovedForAll", data)
	if err != nil {
		return *new(bool), err
	}
	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)
	return out0, nil
}

// PackMint is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x6a627842.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function mint(address to) returns(uint256 tokenId)
func (streamGatePass *StreamGatePass) PackMint(to common.Address) []byte {
	enc, err := streamGatePass.abi.Pack("mint", to)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackMint is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x6a627842.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function mint(address to) returns(uint256 tokenId)
func (streamGatePass *StreamGatePass) TryPackMint(to common.Address) ([]byte, error) {
	return streamGatePass.abi.Pack("mint", to)
}

// UnpackMint is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x6a627842.
//
// Solidity: function mint(address to) returns(uint256 tokenId)
func (streamGatePass *StreamGatePass) UnpackMint(data []byte) (*big.Int, error) {
	out, err := streamGatePass.abi.Unpack("mint", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackName is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x06fdde03.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function name() view returns(string)
func (streamGatePass *StreamGatePass) PackName() []byte {
	enc, err := streamGatePass.abi.Pack("name")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackName is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x06fdde03.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function name() view returns(string)
func (streamGatePass *StreamGatePass) TryPackName() ([]byte, error) {
	return streamGatePass.abi.Pack("name")
}

// UnpackName is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x06fdde03.
//
// Solidity: function name() view returns(string)
func (streamGatePass *StreamGatePass) UnpackName(data []byte) (string, error) {
	out, err := streamGatePass.abi.Unpack("name", data)
	if err != nil {
		return *new(string), err
	}
	out0 := *abi.ConvertType(out[0], new(string)).(*string)
	return out0, nil
}

// PackNextTokenId is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x75794a3c.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function nextTokenId() view returns(uint256)
func (streamGatePass *StreamGatePass) PackNextTokenId() []byte {
	enc, err := streamGatePass.abi.Pack("nextTokenId")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackNextTokenId is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x75794a3c.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function nextTokenId() view returns(uint256)
func (streamGatePass *StreamGatePass) TryPackNextTokenId() ([]byte, error) {
	return streamGatePass.abi.Pack("nextTokenId")
}

// UnpackNextTokenId is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x75794a3c.
//
// Solidity: function nextTokenId() view returns(uint256)
func (streamGatePass *StreamGatePass) UnpackNextTokenId(data []byte) (*big.Int, error) {
	out, err := streamGatePass.abi.Unpack("nextTokenId", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackOwner is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x8da5cb5b.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function owner() view returns(address)
func (streamGatePass *StreamGatePass) PackOwner() []byte {
	enc, err := streamGatePass.abi.Pack("owner")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackOwner is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x8da5cb5b.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function owner() view returns(address)
func (streamGatePass *StreamGatePass) TryPackOwner() ([]byte, error) {
	return streamGatePass.abi.Pack("owner")
}

// UnpackOwner is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x8da5cb5b.
//
// Solidity: function owner() view returns(address)
func (streamGatePass *StreamGatePass) UnpackOwner(data []byte) (common.Address, error) {
	out, err := streamGatePass.abi.Unpack("owner", data)
	if err != nil {
		return *new(common.Address), err
	}
	out0 := *abi.ConvertType(out[0], new(common.Address)).(*common.Address)
	return out0, nil
}

// PackOwnerOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x6352211e.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function ownerOf(uint256 tokenId) view returns(address)
func (streamGatePass *StreamGatePass) PackOwnerOf(tokenId *big.Int) []byte {
	enc, err := streamGatePass.abi.Pack("ownerOf", tokenId)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackOwnerOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x6352211e.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function ownerOf(uint256 tokenId) view returns(address)
func (streamGatePass *StreamGatePass) TryPackOwnerOf(tokenId *big.Int) ([]byte, error) {
	return streamGatePass.abi.Pack("ownerOf", tokenId)
}

// UnpackOwnerOf is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x6352211e.
//
// Solidity: function ownerOf(uint256 tokenId) view returns(address)
func (streamGatePass *StreamGatePass) UnpackOwnerOf(data []byte) (common.Address, error) {
	out, err := streamGatePass.abi.Unpack("ownerOf", data)
	if err != nil {
		return *new(common.Address), err
	}
	out0 := *abi.ConvertType(out[0], new(common.Address)).(*common.Address)
	return out0, nil
}

// PackSafeTransferFrom is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x42842e0e.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function safeTransferFrom(address from, address to, uint256 tokenId) returns()
func (streamGatePass *StreamGatePass) PackSafeTransferFrom(from common.Address, to common.Address, tokenId *big.Int) []byte {
	enc, err := streamGatePass.abi.Pack("safeTransferFrom", from, to, tokenId)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSafeTransferFrom is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x42842e0e.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function safeTransferFrom(address from, address to, uint256 tokenId) returns()
func (streamGatePass *StreamGatePass) TryPackSafeTransferFrom(from common.Address, to common.Address, tokenId *big.Int) ([]byte, error) {
	return streamGatePass.abi.Pack("safeTransferFrom", from, to, tokenId)
}

// PackSafeTransferFrom0 is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xb88d4fde.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function safeTransferFrom(address from, address to, uint256 tokenId, bytes data) returns()
func (streamGatePass *StreamGatePass) PackSafeTransferFrom0(from common.Address, to common.Address, tokenId *big.Int, data []byte) []byte {
	enc, err := streamGatePass.abi.Pack("safeTransferFrom0", from, to, tokenId, data)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSafeTransferFrom0 is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xb88d4fde.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function safeTransferFrom(address from, address to, uint256 tokenId, bytes data) returns()
func (streamGatePass *StreamGatePass) TryPackSafeTransferFrom0(from common.Address, to common.Address, tokenId *big.Int, data []byte) ([]byte, error) {
	return streamGatePass.abi.Pack("safeTransferFrom0", from, to, tokenId, data)
}

// PackSetApprovalForAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xa22cb465.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function setApprovalForAll(address operator, bool approved) returns()
func (streamGatePass *StreamGatePass) PackSetApprovalForAll(operator common.Address, approved bool) []byte {
	enc, err := streamGatePass.abi.Pack("setApprovalForAll", operator, approved)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSetApprovalForAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xa22cb465.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function setApprovalForAll(address operator, bool approved) returns()
func (streamGatePass *StreamGatePass) TryPackSetApprovalForAll(operator common.Address, approved bool) ([]byte, error) {
	return streamGatePass.abi.Pack("setApprovalForAll", operator, approved)
}

// PackSupportsInterface is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x01ffc9a7.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function supportsInterface(bytes4 interfaceId) pure returns(bool)
func (streamGatePass *StreamGatePass) PackSupportsInterface(interfaceId [4]byte) []byte {
	enc, err := streamGatePass.abi.Pack("supportsInterface", interfaceId)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSupportsInterface is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x01ffc9a7.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function supportsInterface(bytes4 interfaceId) pure returns(bool)
func (streamGatePass *StreamGatePass) TryPackSupportsInterface(interfaceId [4]byte) ([]byte, error) {
	return streamGatePass.abi.Pack("supportsInterface", interfaceId)
}

// UnpackSupportsInterface is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x01ffc9a7.
//
// Solidity: function supportsInterface(bytes4 interfaceId) pure returns(bool)
func (streamGatePass *StreamGatePass) UnpackSupportsInterface(data []byte) (bool, error) {
	out, err := streamGatePass.abi.Unpack("supportsInterface", data)
	if err != nil {
		return *new(bool), err
	}
	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)
	return out0, nil
}

// PackSymbol is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x95d89b41.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function symbol() view returns(string)
func (streamGatePass *StreamGatePass) PackSymbol() []byte {
	enc, err := streamGatePass.abi.Pack("symbol")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSymbol is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x95d89b41.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function symbol() view returns(string)
func (streamGatePass *StreamGatePass) TryPackSymbol() ([]byte, error) {
	return streamGatePass.abi.Pack("symbol")
}

// UnpackSymbol is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x95d89b41.
//
// Solidity: function symbol() view returns(string)
func (streamGatePass *StreamGatePass) UnpackSymbol(data []byte) (string, error) {
	out, err := streamGatePass.abi.Unpack("symbol", data)
	if err != nil {
		return *new(string), err
	}
	out0 := *abi.ConvertType(out[0], new(string)).(*string)
	return out0, nil
}

// PackTransferFrom is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x23b872dd.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function transferFrom(address from, address to, uint256 tokenId) returns()
func (streamGatePass *StreamGatePass) PackTransferFrom(from common.Address, to common.Address, tokenId *big.Int) []byte {
	enc, err := streamGatePass.abi.Pack("transferFrom", from, to, tokenId)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackTransferFrom is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x23b872dd.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function transferFrom(address from, address to, uint256 tokenId) returns()
func (streamGatePass *StreamGatePass) TryPackTransferFrom(from common.Address, to common.Address, tokenId *big.Int) ([]byte, error) {
	return streamGatePass.abi.Pack("transferFrom", from, to, tokenId)
}

// StreamGatePassApproval represents a Approval event raised by the StreamGatePass contract.
type StreamGatePassApproval struct {
	Owner    common.Address
	Approved common.Address
	TokenId  *big.Int
	Raw      *types.Log // Blockchain specific contextual infos
}

const StreamGatePassApprovalEventName = "Approval"

// ContractEventName returns the user-defined event name.
func (StreamGatePassApproval) ContractEventName() string {
	return StreamGatePassApprovalEventName
}

// UnpackApprovalEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId)
func (streamGatePass *StreamGatePass) UnpackApprovalEvent(log *types.Log) (*StreamGatePassApproval, error) {
	event := "Approval"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != streamGatePass.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(StreamGatePassApproval)
	if len(log.Data) > 0 {
		if err := streamGatePass.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range streamGatePass.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// StreamGatePassApprovalForAll represents a ApprovalForAll event raised by the StreamGatePass contract.
type StreamGatePassApprovalForAll struct {
	Owner    common.Address
	Operator common.Address
	Approved bool
	Raw      *types.Log // Blockchain specific contextual infos
}

const StreamGatePassApprovalForAllEventName = "ApprovalForAll"

// ContractEventName returns the user-defined event name.
func (StreamGatePassApprovalForAll) ContractEventName() string {
	return StreamGatePassApprovalForAllEventName
}

// UnpackApprovalForAllEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event ApprovalForAll(address indexed owner, address indexed operator, bool approved)
func (streamGatePass *StreamGatePass) UnpackApprovalForAllEvent(log *types.Log) (*StreamGatePassApprovalForAll, error) {
	event := "ApprovalForAll"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != streamGatePass.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(StreamGatePassApprovalForAll)
	if len(log.Data) > 0 {
		if err := streamGatePass.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range streamGatePass.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// StreamGatePassTransfer represents a Transfer event raised by the StreamGatePass contract.
type StreamGatePassTransfer struct {
	From    common.Address
	To      common.Address
	TokenId *big.Int
	Raw     *types.Log // Blockchain specific contextual infos
}

const StreamGatePassTransferEventName = "Transfer"

// ContractEventName returns the user-defined event name.
func (StreamGatePassTransfer) ContractEventName() string {
	return StreamGatePassTransferEventName
}

// UnpackTransferEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)
func (streamGatePass *StreamGatePass) UnpackTransferEvent(log *types.Log) (*StreamGatePassTransfer, error) {
	event := "Transfer"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != streamGatePass.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(StreamGatePassTransfer)
	if len(log.Data) > 0 {
		if err := streamGatePass.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range streamGatePass.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}
