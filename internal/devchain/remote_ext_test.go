package devchain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/devchain/bindings"
)

func TestDemoAddressesAreDeterministic(t *testing.T) {
	dc, err := devchain.New(t.Context(), devchain.Config{BlockInterval: time.Hour}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if got := devchain.DemoPassAddress(); got != dc.PassAddress() {
		t.Fatalf("DemoPassAddress = %s, chain deployed it at %s", got.Hex(), dc.PassAddress().Hex())
	}
	if got := devchain.DemoItemsAddress(); got != dc.ItemsAddress() {
		t.Fatalf("DemoItemsAddress = %s, chain deployed it at %s", got.Hex(), dc.ItemsAddress().Hex())
	}
	if dc.Deployer() != devchain.DeployerAddress {
		t.Fatalf("DeployerAddress = %s, key gives %s", devchain.DeployerAddress.Hex(), dc.Deployer().Hex())
	}
}

func TestRemoteMinter(t *testing.T) {
	ctx := t.Context()
	dc, err := devchain.New(ctx, devchain.Config{BlockInterval: 100 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	m, err := devchain.DialMinter(ctx, dc.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	to := common.HexToAddress("0x00000000000000000000000000000000000000a1")

	got, err := m.MintPass(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ethclient.DialContext(ctx, dc.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	pass := bindings.NewStreamGatePass()
	out, err := ec.CallContract(ctx, ethereum.CallMsg{To: &got.Contract, Data: pass.PackOwnerOf(got.TokenID)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if owner, err := pass.UnpackOwnerOf(out); err != nil || owner != to {
		t.Fatalf("ownerOf(%s) = %s, %v; want %s", got.TokenID, owner.Hex(), err, to.Hex())
	}

	items := bindings.NewStreamGateItems()
	if _, err := m.MintItems(ctx, to, big.NewInt(7), big.NewInt(3)); err != nil {
		t.Fatal(err)
	}
	itemsAddr := devchain.DemoItemsAddress()
	out, err = ec.CallContract(ctx, ethereum.CallMsg{To: &itemsAddr, Data: items.PackBalanceOf(to, big.NewInt(7))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bal, err := items.UnpackBalanceOf(out); err != nil || bal.Int64() != 3 {
		t.Fatalf("balanceOf(id 7) = %v, %v; want 3", bal, err)
	}
	if _, err := m.MintItems(ctx, to, big.NewInt(7), big.NewInt(0)); err == nil {
		t.Fatal("minted an amount of 0")
	}
}

// TestDialMinterRefusesOtherChains: the well-known key is only ever used on
// chain 1337 with the demo contracts deployed.
func TestDialMinterRefusesOtherChains(t *testing.T) {
	for _, tt := range []struct {
		name, chainID, code string
	}{
		{"mainnet", "0x1", "0x6080"},
		{"1337 without the demo contracts", "0x539", "0x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req struct {
					ID     json.RawMessage `json:"id"`
					Method string          `json:"method"`
				}
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				var result string
				switch req.Method {
				case "eth_chainId":
					result = tt.chainID
				case "eth_getCode":
					result = tt.code
				default:
					t.Errorf("unexpected call %s", req.Method)
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%q}`, req.ID, result)
			}))
			defer srv.Close()
			m, err := devchain.DialMinter(t.Context(), srv.URL)
			if !errors.Is(err, devchain.ErrNotDevChain) {
				if m != nil {
					m.Close()
				}
				t.Fatalf("DialMinter = %v, want ErrNotDevChain", err)
			}
		})
	}
}
