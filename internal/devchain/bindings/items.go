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

// StreamGateItemsMetaData contains all meta data concerning the StreamGateItems contract.
var StreamGateItemsMetaData = bind.MetaData{
	ABI: "[{\"inputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"constructor\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"account\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"bool\",\"name\":\"approved\",\"type\":\"bool\"}],\"name\":\"ApprovalForAll\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256[]\",\"name\":\"ids\",\"type\":\"uint256[]\"},{\"indexed\":false,\"internalType\":\"uint256[]\",\"name\":\"values\",\"type\":\"uint256[]\"}],\"name\":\"TransferBatch\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"value\",\"type\":\"uint256\"}],\"name\":\"TransferSingle\",\"type\":\"event\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"account\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"}],\"name\":\"balanceOf\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address[]\",\"name\":\"accounts\",\"type\":\"address[]\"},{\"internalType\":\"uint256[]\",\"name\":\"ids\",\"type\":\"uint256[]\"}],\"name\":\"balanceOfBatch\",\"outputs\":[{\"internalType\":\"uint256[]\",\"name\":\"balances\",\"type\":\"uint256[]\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"account\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"}],\"name\":\"isApprovedForAll\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"}],\"name\":\"mint\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"owner\",\"outputs\":[{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256[]\",\"name\":\"ids\",\"type\":\"uint256[]\"},{\"internalType\":\"uint256[]\",\"name\":\"values\",\"type\":\"uint256[]\"},{\"internalType\":\"bytes\",\"name\":\"data\",\"type\":\"bytes\"}],\"name\":\"safeBatchTransferFrom\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"value\",\"type\":\"uint256\"},{\"internalType\":\"bytes\",\"name\":\"data\",\"type\":\"bytes\"}],\"name\":\"safeTransferFrom\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"},{\"internalType\":\"bool\",\"name\":\"approved\",\"type\":\"bool\"}],\"name\":\"setApprovalForAll\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes4\",\"name\":\"interfaceId\",\"type\":\"bytes4\"}],\"name\":\"supportsInterface\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"pure\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"name\":\"uri\",\"outputs\":[{\"internalType\":\"string\",\"name\":\"\",\"type\":\"string\"}],\"stateMutability\":\"pure\",\"type\":\"function\"}]",
	ID:  "StreamGateItems",
	Bin: "0x6080604052348015600e575f5ffd5b505f80546001600160a01b031916331790556111ef8061002d5f395ff3fe608060405234801561000f575f5ffd5b506004361061009a575f3560e01c80634e1273f4116100635780634e1273f4146101625780638da5cb5b14610182578063a22cb465146101ac578063e985e9c5146101bf578063f242432a146101d2575f5ffd5b8062fdd58e1461009e57806301ffc9a7146100c45780630e89341c146100e7578063156e29f61461013a5780632eb2c2d61461014f575b5f5ffd5b6100b16100ac366004610c4d565b6101e5565b6040519081526020015b60405180910390f35b6100d76100d2366004610c8d565b610263565b60405190151581526020016100bb565b61012d6100f5366004610caf565b5060408051808201909152601781527f73747265616d676174653a2f2f6974656d732f7b69647d000000000000000000602082015290565b6040516100bb9190610cf4565b61014d610148366004610d06565b610295565b005b61014d61015d366004610dbc565b6103e3565b610175610170366004610e7b565b6107bc565b6040516100bb9190610ee7565b5f54610194906001600160a01b031681565b6040516001600160a01b0390911681526020016100bb565b61014d6101ba366004610f29565b6108cd565b6100d76101cd366004610f62565b610938565b61014d6101e0366004610f93565b610965565b5f6001600160a01b0383166102395760405162461bcd60e51b8152602060048201526015602482015274455243313135353a207a65726f206164647265737360581b60448201526064015b60405180910390fd5b505f8181526001602090815260408083206001600160a01b03861684529091529020545b92915050565b5f6301ffc9a760e01b6001600160e01b03198316148061025d5750506001600160e01b031916636cdb3d1360e11b1490565b5f546001600160a01b031633146102ee5760405162461bcd60e51b815260206004820152601a60248201527f53747265616d476174654974656d733a206e6f74206f776e65720000000000006044820152606401610230565b6001600160a01b0383166103445760405162461bcd60e51b815260206004820152601d60248201527f455243313135353a206d696e7420746f207a65726f20616464726573730000006044820152606401610230565b5f8281526001602090815260408083206001600160a01b03871684529091528120805483929061037590849061101a565b909155505060408051838152602081018390526001600160a01b038516915f9133917fc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62910160405180910390a46103de335f85858560405180602001604052805f815250610b42565b505050565b84831461042d5760405162461bcd60e51b815260206004820152601860248201527708aa48662626a6a7440d8cadccee8d040dad2e6dac2e8c6d60431b6044820152606401610230565b6001600160a01b0387166104535760405162461bcd60e51b81526004016102309061102d565b336001600160a01b038916148061046f575061046f8833610938565b6104b55760405162461bcd60e51b8152602060048201526017602482015276115490cc4c4d4d4e881b9bdd08185d5d1a1bdc9a5e9959604a1b6044820152606401610230565b5f5b85811015610666575f60015f8989858181106104d5576104d561106e565b9050602002013581526020019081526020015f205f8b6001600160a01b03166001600160a01b031681526020019081526020015f2054905085858381811061051f5761051f61106e565b905060200201358110156105755760405162461bcd60e51b815260206004820152601d60248201527f455243313135353a20696e73756666696369656e742062616c616e63650000006044820152606401610230565b8585838181106105875761058761106e565b90506020020135816105999190611082565b60015f8a8a868181106105ae576105ae61106e565b9050602002013581526020019081526020015f205f8c6001600160a01b03166001600160a01b031681526020019081526020015f20819055508585838181106105f9576105f961106e565b9050602002013560015f8a8a868181106106155761061561106e565b9050602002013581526020019081526020015f205f8b6001600160a01b03166001600160a01b031681526020019081526020015f205f828254610658919061101a565b9091555050506001016104b7565b50866001600160a01b0316886001600160a01b0316336001600160a01b03167f4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb898989896040516106ba94939291906110c5565b60405180910390a46001600160a01b0387163b156107b25760405163bc197c8160e01b81525f906001600160a01b0389169063bc197c819061070e9033908d908c908c908c908c908c908c906004016110f6565b6020604051808303815f875af115801561072a573d5f5f3e3d5ffd5b505050506040513d601f19601f8201168201806040525081019061074e919061116e565b90506001600160e01b0319811663bc197c8160e01b146107b05760405162461bcd60e51b815260206004820152601a60248201527f455243313135353a2072656365697665722072656a65637465640000000000006044820152606401610230565b505b5050505050505050565b60608382146108085760405162461bcd60e51b815260206004820152601860248201527708aa48662626a6a7440d8cadccee8d040dad2e6dac2e8c6d60431b6044820152606401610230565b8367ffffffffffffffff81111561082157610821611189565b60405190808252806020026020018201604052801561084a578160200160208202803683370190505b5090505f5b848110156108c45761089f86868381811061086c5761086c61106e565b9050602002016020810190610881919061119d565b8585848181106108935761089361106e565b905060200201356101e5565b8282815181106108b1576108b161106e565b602090810291909101015260010161084f565b50949350505050565b335f8181526002602090815260408083206001600160a01b03871680855290835292819020805460ff191686151590811790915590519081529192917f17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31910160405180910390a35050565b6001600160a01b039182165f90815260026020908152604080832093909416825291909152205460ff1690565b6001600160a01b03851661098b5760405162461bcd60e51b81526004016102309061102d565b336001600160a01b03871614806109a757506109a78633610938565b6109ed5760405162461bcd60e51b8152602060048201526017602482015276115490cc4c4d4d4e881b9bdd08185d5d1a1bdc9a5e9959604a1b6044820152606401610230565b5f8481526001602090815260408083206001600160a01b038a16845290915290205483811015610a5f5760405162461bcd60e51b815260206004820152601d60248201527f455243313135353a20696e73756666696369656e742062616c616e63650000006044820152606401610230565b610a698482611082565b5f8681526001602090815260408083206001600160a01b038c81168552925280832093909355881681529081208054869290610aa690849061101a565b909155505060408051868152602081018690526001600160a01b0380891692908a169133917fc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62910160405180910390a4610b39338888888888888080601f0160208091040260200160405190810160405280939291908181526020018383808284375f92019190915250610b4292505050565b50505050505050565b6001600160a01b0384163b15610c2a5760405163f23a6e6160e01b81525f906001600160a01b0386169063f23a6e6190610b88908a908a908990899089906004016111b6565b6020604051808303815f875af1158015610ba4573d5f5f3e3d5ffd5b505050506040513d601f19601f82011682018060405250810190610bc8919061116e565b90506001600160e01b0319811663f23a6e6160e01b14610b395760405162461bcd60e51b815260206004820152601a60248201527f455243313135353a2072656365697665722072656a65637465640000000000006044820152606401610230565b505050505050565b80356001600160a01b0381168114610c48575f5ffd5b919050565b5f5f60408385031215610c5e575f5ffd5b610c6783610c32565b946020939093013593505050565b6001600160e01b031981168114610c8a575f5ffd5b50565b5f60208284031215610c9d575f5ffd5b8135610ca881610c75565b9392505050565b5f60208284031215610cbf575f5ffd5b5035919050565b5f81518084528060208401602086015e5f602082860101526020601f19601f83011685010191505092915050565b602081525f610ca86020830184610cc6565b5f5f5f60608486031215610d18575f5ffd5b610d2184610c32565b95602085013595506040909401359392505050565b5f5f83601f840112610d46575f5ffd5b50813567ffffffffffffffff811115610d5d575f5ffd5b6020830191508360208260051b8501011115610d77575f5ffd5b9250929050565b5f5f83601f840112610d8e575f5ffd5b50813567ffffffffffffffff811115610da5575f5ffd5b602083019150836020828501011115610d77575f5ffd5b5f5f5f5f5f5f5f5f60a0898b031215610dd3575f5ffd5b610ddc89610c32565b9750610dea60208a01610c32565b9650604089013567ffffffffffffffff811115610e05575f5ffd5b610e118b828c01610d36565b909750955050606089013567ffffffffffffffff811115610e30575f5ffd5b610e3c8b828c01610d36565b909550935050608089013567ffffffffffffffff811115610e5b575f5ffd5b610e678b828c01610d7e565b999c989b5096995094979396929594505050565b5f5f5f5f60408587031215610e8e575f5ffd5b843567ffffffffffffffff811115610ea4575f5ffd5b610eb087828801610d36565b909550935050602085013567ffffffffffffffff811115610ecf575f5ffd5b610edb87828801610d36565b95989497509550505050565b602080825282518282018190525f918401906040840190835b81811015610f1e578351835260209384019390920191600101610f00565b509095945050505050565b5f5f60408385031215610f3a575f5ffd5b610f4383610c32565b915060208301358015158114610f57575f5ffd5b809150509250929050565b5f5f60408385031215610f73575f5ffd5b610f7c83610c32565b9150610f8a60208401610c32565b90509250929050565b5f5f5f5f5f5f60a08789031215610fa8575f5ffd5b610fb187610c32565b9550610fbf60208801610c32565b94506040870135935060608701359250608087013567ffffffffffffffff811115610fe8575f5ffd5b610ff489828a01610d7e565b979a9699509497509295939492505050565b634e487b7160e01b5f52601160045260245ffd5b8082018082111561025d5761025d611006565b60208082526021908201527f455243313135353a207472616e7366657220746f207a65726f206164647265736040820152607360f81b606082015260800190565b634e487b7160e01b5f52603260045260245ffd5b8181038181111561025d5761025d611006565b8183525f6001600160fb1b038311156110ac575f5ffd5b8260051b80836020870137939093016020019392505050565b604081525f6110d8604083018688611095565b82810360208401526110eb818587611095565b979650505050505050565b6001600160a01b0389811682528816602082015260a0604082018190525f90611122908301888a611095565b8281036060840152611135818789611095565b90508281036080840152838152838560208301375f602085830101526020601f19601f8601168201019150509998505050505050505050565b5f6020828403121561117e575f5ffd5b8151610ca881610c75565b634e487b7160e01b5f52604160045260245ffd5b5f602082840312156111ad575f5ffd5b610ca882610c32565b6001600160a01b03868116825285166020820152604081018490526060810183905260a0608082018190525f906110eb90830184610cc656",
}

// StreamGateItems is an auto generated Go binding around an Ethereum contract.
type StreamGateItems struct {
	abi abi.ABI
}

// GetABI returns the ABI associated with this contract binding.
func (c *StreamGateItems) GetABI() abi.ABI {
	return c.abi
}

// NewStreamGateItems creates a new instance of StreamGateItems.
func NewStreamGateItems() *StreamGateItems {
	parsed, err := StreamGateItemsMetaData.ParseABI()
	if err != nil {
		panic(errors.New("invalid ABI: " + err.Error()))
	}
	return &StreamGateItems{abi: *parsed}
}

// Instance creates a wrapper for a deployed contract instance at the given address.
// Use this to create the instance object passed to abigen v2 library functions Call, Transact, etc.
func (c *StreamGateItems) Instance(backend bind.ContractBackend, addr common.Address) *bind.BoundContract {
	return bind.NewBoundContract(addr, c.abi, backend, backend, backend)
}

// PackBalanceOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x00fdd58e.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function balanceOf(address account, uint256 id) view returns(uint256)
func (streamGateItems *StreamGateItems) PackBalanceOf(account common.Address, id *big.Int) []byte {
	enc, err := streamGateItems.abi.Pack("balanceOf", account, id)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackBalanceOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x00fdd58e.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function balanceOf(address account, uint256 id) view returns(uint256)
func (streamGateItems *StreamGateItems) TryPackBalanceOf(account common.Address, id *big.Int) ([]byte, error) {
	return streamGateItems.abi.Pack("balanceOf", account, id)
}

// UnpackBalanceOf is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x00fdd58e.
//
// Solidity: function balanceOf(address account, uint256 id) view returns(uint256)
func (streamGateItems *StreamGateItems) UnpackBalanceOf(data []byte) (*big.Int, error) {
	out, err := streamGateItems.abi.Unpack("balanceOf", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackBalanceOfBatch is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x4e1273f4.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function balanceOfBatch(address[] accounts, uint256[] ids) view returns(uint256[] balances)
func (streamGateItems *StreamGateItems) PackBalanceOfBatch(accounts []common.Address, ids []*big.Int) []byte {
	enc, err := streamGateItems.abi.Pack("balanceOfBatch", accounts, ids)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackBalanceOfBatch is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x4e1273f4.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function balanceOfBatch(address[] accounts, uint256[] ids) view returns(uint256[] balances)
func (streamGateItems *StreamGateItems) TryPackBalanceOfBatch(accounts []common.Address, ids []*big.Int) ([]byte, error) {
	return streamGateItems.abi.Pack("balanceOfBatch", accounts, ids)
}

// UnpackBalanceOfBatch is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x4e1273f4.
//
// Solidity: function balanceOfBatch(address[] accounts, uint256[] ids) view returns(uint256[] balances)
func (streamGateItems *StreamGateItems) UnpackBalanceOfBatch(data []byte) ([]*big.Int, error) {
	out, err := streamGateItems.abi.Unpack("balanceOfBatch", data)
	if err != nil {
		return *new([]*big.Int), err
	}
	out0 := *abi.ConvertType(out[0], new([]*big.Int)).(*[]*big.Int)
	return out0, nil
}

// PackIsApprovedForAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xe985e9c5.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function isApprovedForAll(address account, address operator) view returns(bool)
func (streamGateItems *StreamGateItems) PackIsApprovedForAll(account common.Address, operator common.Address) []byte {
	enc, err := streamGateItems.abi.Pack("isApprovedForAll", account, operator)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackIsApprovedForAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xe985e9c5.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function isApprovedForAll(address account, address operator) view returns(bool)
func (streamGateItems *StreamGateItems) TryPackIsApprovedForAll(account common.Address, operator common.Address) ([]byte, error) {
	return streamGateItems.abi.Pack("isApprovedForAll", account, operator)
}

// UnpackIsApprovedForAll is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xe985e9c5.
//
// Solidity: function isApprovedForAll(address account, address operator) view returns(bool)
func (streamGateItems *StreamGateItems) UnpackIsApprovedForAll(data []byte) (bool, error) {
	out, err := streamGateItems.abi.Unpack("isApprovedForAll", data)
	if err != nil {
		return *new(bool), err
	}
	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)
	return out0, nil
}

// PackMint is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x156e29f6.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function mint(address to, uint256 id, uint256 amount) returns()
func (streamGateItems *StreamGateItems) PackMint(to common.Address, id *big.Int, amount *big.Int) []byte {
	enc, err := streamGateItems.abi.Pack("mint", to, id, amount)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackMint is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x156e29f6.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function mint(address to, uint256 id, uint256 amount) returns()
func (streamGateItems *StreamGateItems) TryPackMint(to common.Address, id *big.Int, amount *big.Int) ([]byte, error) {
	return streamGateItems.abi.Pack("mint", to, id, amount)
}

// PackOwner is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x8da5cb5b.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function owner() view returns(address)
func (streamGateItems *StreamGateItems) PackOwner() []byte {
	enc, err := streamGateItems.abi.Pack("owner")
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
func (streamGateItems *StreamGateItems) TryPackOwner() ([]byte, error) {
	return streamGateItems.abi.Pack("owner")
}

// UnpackOwner is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x8da5cb5b.
//
// Solidity: function owner() view returns(address)
func (streamGateItems *StreamGateItems) UnpackOwner(data []byte) (common.Address, error) {
	out, err := streamGateItems.abi.Unpack("owner", data)
	if err != nil {
		return *new(common.Address), err
	}
	out0 := *abi.ConvertType(out[0], new(common.Address)).(*common.Address)
	return out0, nil
}

// PackSafeBatchTransferFrom is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x2eb2c2d6.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] values, bytes data) returns()
func (streamGateItems *StreamGateItems) PackSafeBatchTransferFrom(from common.Address, to common.Address, ids []*big.Int, values []*big.Int, data []byte) []byte {
	enc, err := streamGateItems.abi.Pack("safeBatchTransferFrom", from, to, ids, values, data)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSafeBatchTransferFrom is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x2eb2c2d6.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] values, bytes data) returns()
func (streamGateItems *StreamGateItems) TryPackSafeBatchTransferFrom(from common.Address, to common.Address, ids []*big.Int, values []*big.Int, data []byte) ([]byte, error) {
	return streamGateItems.abi.Pack("safeBatchTransferFrom", from, to, ids, values, data)
}

// PackSafeTransferFrom is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf242432a.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes data) returns()
func (streamGateItems *StreamGateItems) PackSafeTransferFrom(from common.Address, to common.Address, id *big.Int, value *big.Int, data []byte) []byte {
	enc, err := streamGateItems.abi.Pack("safeTransferFrom", from, to, id, value, data)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSafeTransferFrom is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf242432a.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes data) returns()
func (streamGateItems *StreamGateItems) TryPackSafeTransferFrom(from common.Address, to common.Address, id *big.Int, value *big.Int, data []byte) ([]byte, error) {
	return streamGateItems.abi.Pack("safeTransferFrom", from, to, id, value, data)
}

// PackSetApprovalForAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xa22cb465.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function setApprovalForAll(address operator, bool approved) returns()
func (streamGateItems *StreamGateItems) PackSetApprovalForAll(operator common.Address, approved bool) []byte {
	enc, err := streamGateItems.abi.Pack("setApprovalForAll", operator, approved)
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
func (streamGateItems *StreamGateItems) TryPackSetApprovalForAll(operator common.Address, approved bool) ([]byte, error) {
	return streamGateItems.abi.Pack("setApprovalForAll", operator, approved)
}

// PackSupportsInterface is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x01ffc9a7.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function supportsInterface(bytes4 interfaceId) pure returns(bool)
func (streamGateItems *StreamGateItems) PackSupportsInterface(interfaceId [4]byte) []byte {
	enc, err := streamGateItems.abi.Pack("supportsInterface", interfaceId)
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
func (streamGateItems *StreamGateItems) TryPackSupportsInterface(interfaceId [4]byte) ([]byte, error) {
	return streamGateItems.abi.Pack("supportsInterface", interfaceId)
}

// UnpackSupportsInterface is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x01ffc9a7.
//
// Solidity: function supportsInterface(bytes4 interfaceId) pure returns(bool)
func (streamGateItems *StreamGateItems) UnpackSupportsInterface(data []byte) (bool, error) {
	out, err := streamGateItems.abi.Unpack("supportsInterface", data)
	if err != nil {
		return *new(bool), err
	}
	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)
	return out0, nil
}

// PackUri is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x0e89341c.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function uri(uint256 ) pure returns(string)
func (streamGateItems *StreamGateItems) PackUri(arg0 *big.Int) []byte {
	enc, err := streamGateItems.abi.Pack("uri", arg0)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackUri is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x0e89341c.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function uri(uint256 ) pure returns(string)
func (streamGateItems *StreamGateItems) TryPackUri(arg0 *big.Int) ([]byte, error) {
	return streamGateItems.abi.Pack("uri", arg0)
}

// UnpackUri is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x0e89341c.
//
// Solidity: function uri(uint256 ) pure returns(string)
func (streamGateItems *StreamGateItems) UnpackUri(data []byte) (string, error) {
	out, err := streamGateItems.abi.Unpack("uri", data)
	if err != nil {
		return *new(string), err
	}
	out0 := *abi.ConvertType(out[0], new(string)).(*string)
	return out0, nil
}

// StreamGateItemsApprovalForAll represents a ApprovalForAll event raised by the StreamGateItems contract.
type StreamGateItemsApprovalForAll struct {
	Account  common.Address
	Operator common.Address
	Approved bool
	Raw      *types.Log // Blockchain specific contextual infos
}

const StreamGateItemsApprovalForAllEventName = "ApprovalForAll"

// ContractEventName returns the user-defined event name.
func (StreamGateItemsApprovalForAll) ContractEventName() string {
	return StreamGateItemsApprovalForAllEventName
}

// UnpackApprovalForAllEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event ApprovalForAll(address indexed account, address indexed operator, bool approved)
func (streamGateItems *StreamGateItems) UnpackApprovalForAllEvent(log *types.Log) (*StreamGateItemsApprovalForAll, error) {
	event := "ApprovalForAll"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != streamGateItems.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(StreamGateItemsApprovalForAll)
	if len(log.Data) > 0 {
		if err := streamGateItems.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range streamGateItems.abi.Events[event].Inputs {
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

// StreamGateItemsTransferBatch represents a TransferBatch event raised by the StreamGateItems contract.
type StreamGateItemsTransferBatch struct {
	Operator common.Address
	From     common.Address
	To       common.Address
	Ids      []*big.Int
	Values   []*big.Int
	Raw      *types.Log // Blockchain specific contextual infos
}

const StreamGateItemsTransferBatchEventName = "TransferBatch"

// ContractEventName returns the user-defined event name.
func (StreamGateItemsTransferBatch) ContractEventName() string {
	return StreamGateItemsTransferBatchEventName
}

// UnpackTransferBatchEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values)
func (streamGateItems *StreamGateItems) UnpackTransferBatchEvent(log *types.Log) (*StreamGateItemsTransferBatch, error) {
	event := "TransferBatch"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != streamGateItems.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(StreamGateItemsTransferBatch)
	if len(log.Data) > 0 {
		if err := streamGateItems.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range streamGateItems.abi.Events[event].Inputs {
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

// StreamGateItemsTransferSingle represents a TransferSingle event raised by the StreamGateItems contract.
type StreamGateItemsTransferSingle struct {
	Operator common.Address
	From     common.Address
	To       common.Address
	Id       *big.Int
	Value    *big.Int
	Raw      *types.Log // Blockchain specific contextual infos
}

const StreamGateItemsTransferSingleEventName = "TransferSingle"

// ContractEventName returns the user-defined event name.
func (StreamGateItemsTransferSingle) ContractEventName() string {
	return StreamGateItemsTransferSingleEventName
}

// UnpackTransferSingleEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)
func (streamGateItems *StreamGateItems) UnpackTransferSingleEvent(log *types.Log) (*StreamGateItemsTransferSingle, error) {
	event := "TransferSingle"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != streamGateItems.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(StreamGateItemsTransferSingle)
	if len(log.Data) > 0 {
		if err := streamGateItems.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range streamGateItems.abi.Events[event].Inputs {
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
