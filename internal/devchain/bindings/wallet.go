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

// StreamGateWalletMetaData contains all meta data concerning the StreamGateWallet contract.
var StreamGateWalletMetaData = bind.MetaData{
	ABI: "[{\"inputs\":[{\"internalType\":\"address\",\"name\":\"owner_\",\"type\":\"address\"},{\"internalType\":\"bool\",\"name\":\"rejectAll_\",\"type\":\"bool\"}],\"stateMutability\":\"nonpayable\",\"type\":\"constructor\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"hash\",\"type\":\"bytes32\"},{\"internalType\":\"bytes\",\"name\":\"signature\",\"type\":\"bytes\"}],\"name\":\"isValidSignature\",\"outputs\":[{\"internalType\":\"bytes4\",\"name\":\"\",\"type\":\"bytes4\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"owner\",\"outputs\":[{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"rejectAll\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bool\",\"name\":\"rejectAll_\",\"type\":\"bool\"}],\"name\":\"setRejectAll\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes4\",\"name\":\"interfaceId\",\"type\":\"bytes4\"}],\"name\":\"supportsInterface\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"pure\",\"type\":\"function\"}]",
	ID:  "StreamGateWallet",
	Bin: "0x6080604052348015600e575f5ffd5b50604051610535380380610535833981016040819052602b916059565b5f8054911515600160a01b026001600160a81b03199092166001600160a01b0390931692909217179055609d565b5f5f604083850312156069575f5ffd5b82516001600160a01b0381168114607e575f5ffd5b602084015190925080151581146092575f5ffd5b809150509250929050565b61048b806100aa5f395ff3fe608060405234801561000f575f5ffd5b5060043610610055575f3560e01c806301ffc9a7146100595780631626ba7e1461008157806347ce3253146100ad5780634e42757f146100c25780638da5cb5b146100d5575b5f5ffd5b61006c610067366004610351565b6100ff565b60405190151581526020015b60405180910390f35b61009461008f366004610378565b610135565b6040516001600160e01b03199091168152602001610078565b6100c06100bb3660046103ef565b6102d7565b005b5f5461006c90600160a01b900460ff1681565b5f546100e7906001600160a01b031681565b6040516001600160a01b039091168152602001610078565b5f6301ffc9a760e01b6001600160e01b03198316148061012f5750630b135d3f60e11b6001600160e01b03198316145b92915050565b5f8054600160a01b900460ff168061014e575060418214155b1561016257506001600160e01b03196102d0565b5f610170602082858761040e565b61017991610435565b90505f61018a60406020868861040e565b61019391610435565b90505f858560408181106101a9576101a9610452565b919091013560f81c915050601b8110156101cb576101c8601b82610466565b90505b8060ff16601b141580156101e357508060ff16601c14155b8061020d57507f7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a082115b1561022657506001600160e01b031992506102d0915050565b604080515f808252602082018084528a905260ff841692820192909252606081018590526080810184905260019060a0016020604051602081039080840390855afa158015610277573d5f5f3e3d5ffd5b5050604051601f1901519150506001600160a01b03811615806102a757505f546001600160a01b03828116911614155b156102c157506001600160e01b031993506102d092505050565b50630b135d3f60e11b93505050505b9392505050565b5f546001600160a01b031633146103345760405162461bcd60e51b815260206004820152601b60248201527f53747265616d4761746557616c6c65743a206e6f74206f776e65720000000000604482015260640160405180910390fd5b5f8054911515600160a01b0260ff60a01b19909216919091179055565b5f60208284031215610361575f5ffd5b81356001600160e01b0319811681146102d0575f5ffd5b5f5f5f6040848603121561038a575f5ffd5b83359250602084013567ffffffffffffffff8111156103a7575f5ffd5b8401601f810186136103b7575f5ffd5b803567ffffffffffffffff8111156103cd575f5ffd5b8660208284010111156103de575f5ffd5b939660209190910195509293505050565b5f602082840312156103ff575f5ffd5b813580151581146102d0575f5ffd5b5f5f8585111561041c575f5ffd5b83861115610428575f5ffd5b5050820193919092039150565b8035602083101561012f575f19602084900360031b1b1692915050565b634e487b7160e01b5f52603260045260245ffd5b60ff818116838216019081111561012f57634e487b7160e01b5f52601160045260245ffd",
}

// StreamGateWallet is an auto generated Go binding around an Ethereum contract.
type StreamGateWallet struct {
	abi abi.ABI
}

// GetABI returns the ABI associated with this contract binding.
func (c *StreamGateWallet) GetABI() abi.ABI {
	return c.abi
}

// NewStreamGateWallet creates a new instance of StreamGateWallet.
func NewStreamGateWallet() *StreamGateWallet {
	parsed, err := StreamGateWalletMetaData.ParseABI()
	if err != nil {
		panic(errors.New("invalid ABI: " + err.Error()))
	}
	return &StreamGateWallet{abi: *parsed}
}

// Instance creates a wrapper for a deployed contract instance at the given address.
// Use this to create the instance object passed to abigen v2 library functions Call, Transact, etc.
func (c *StreamGateWallet) Instance(backend bind.ContractBackend, addr common.Address) *bind.BoundContract {
	return bind.NewBoundContract(addr, c.abi, backend, backend, backend)
}

// PackConstructor is the Go binding used to pack the parameters required for
// contract deployment.
//
// Solidity: constructor(address owner_, bool rejectAll_) returns()
func (streamGateWallet *StreamGateWallet) PackConstructor(owner_ common.Address, rejectAll_ bool) []byte {
	enc, err := streamGateWallet.abi.Pack("", owner_, rejectAll_)
	if err != nil {
		panic(err)
	}
	return enc
}

// PackIsValidSignature is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x1626ba7e.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function isValidSignature(bytes32 hash, bytes signature) view returns(bytes4)
func (streamGateWallet *StreamGateWallet) PackIsValidSignature(hash [32]byte, signature []byte) []byte {
	enc, err := streamGateWallet.abi.Pack("isValidSignature", hash, signature)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackIsValidSignature is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x1626ba7e.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function isValidSignature(bytes32 hash, bytes signature) view returns(bytes4)
func (streamGateWallet *StreamGateWallet) TryPackIsValidSignature(hash [32]byte, signature []byte) ([]byte, error) {
	return streamGateWallet.abi.Pack("isValidSignature", hash, signature)
}

// UnpackIsValidSignature is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x1626ba7e.
//
// Solidity: function isValidSignature(bytes32 hash, bytes signature) view returns(bytes4)
func (streamGateWallet *StreamGateWallet) UnpackIsValidSignature(data []byte) ([4]byte, error) {
	out, err := streamGateWallet.abi.Unpack("isValidSignature", data)
	if err != nil {
		return *new([4]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([4]byte)).(*[4]byte)
	return out0, nil
}

// PackOwner is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x8da5cb5b.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function owner() view returns(address)
func (streamGateWallet *StreamGateWallet) PackOwner() []byte {
	enc, err := streamGateWallet.abi.Pack("owner")
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
func (streamGateWallet *StreamGateWallet) TryPackOwner() ([]byte, error) {
	return streamGateWallet.abi.Pack("owner")
}

// UnpackOwner is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x8da5cb5b.
//
// Solidity: function owner() view returns(address)
func (streamGateWallet *StreamGateWallet) UnpackOwner(data []byte) (common.Address, error) {
	out, err := streamGateWallet.abi.Unpack("owner", data)
	if err != nil {
		return *new(common.Address), err
	}
	out0 := *abi.ConvertType(out[0], new(common.Address)).(*common.Address)
	return out0, nil
}

// PackRejectAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x4e42757f.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function rejectAll() view returns(bool)
func (streamGateWallet *StreamGateWallet) PackRejectAll() []byte {
	enc, err := streamGateWallet.abi.Pack("rejectAll")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackRejectAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x4e42757f.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function rejectAll() view returns(bool)
func (streamGateWallet *StreamGateWallet) TryPackRejectAll() ([]byte, error) {
	return streamGateWallet.abi.Pack("rejectAll")
}

// UnpackRejectAll is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x4e42757f.
//
// Solidity: function rejectAll() view returns(bool)
func (streamGateWallet *StreamGateWallet) UnpackRejectAll(data []byte) (bool, error) {
	out, err := streamGateWallet.abi.Unpack("rejectAll", data)
	if err != nil {
		return *new(bool), err
	}
	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)
	return out0, nil
}

// PackSetRejectAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x47ce3253.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function setRejectAll(bool rejectAll_) returns()
func (streamGateWallet *StreamGateWallet) PackSetRejectAll(rejectAll bool) []byte {
	enc, err := streamGateWallet.abi.Pack("setRejectAll", rejectAll)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSetRejectAll is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x47ce3253.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function setRejectAll(bool rejectAll_) returns()
func (streamGateWallet *StreamGateWallet) TryPackSetRejectAll(rejectAll bool) ([]byte, error) {
	return streamGateWallet.abi.Pack("setRejectAll", rejectAll)
}

// PackSupportsInterface is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x01ffc9a7.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function supportsInterface(bytes4 interfaceId) pure returns(bool)
func (streamGateWallet *StreamGateWallet) PackSupportsInterface(interfaceId [4]byte) []byte {
	enc, err := streamGateWallet.abi.Pack("supportsInterface", interfaceId)
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
func (streamGateWallet *StreamGateWallet) TryPackSupportsInterface(interfaceId [4]byte) ([]byte, error) {
	return streamGateWallet.abi.Pack("supportsInterface", interfaceId)
}

// UnpackSupportsInterface is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x01ffc9a7.
//
// Solidity: function supportsInterface(bytes4 interfaceId) pure returns(bool)
func (streamGateWallet *StreamGateWallet) UnpackSupportsInterface(data []byte) (bool, error) {
	out, err := streamGateWallet.abi.Unpack("supportsInterface", data)
	if err != nil {
		return *new(bool), err
	}
	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)
	return out0, nil
}
