package devchain_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"

	"github.com/streamgate/streamgate/internal/devchain/bindings"
)

// TestBindingsMatchBuild catches bindings left stale after a contract
// change: run contracts/generate.sh.
func TestBindingsMatchBuild(t *testing.T) {
	for name, md := range map[string]*bind.MetaData{
		"StreamGatePass":   &bindings.StreamGatePassMetaData,
		"StreamGateItems":  &bindings.StreamGateItemsMetaData,
		"StreamGateToken":  &bindings.StreamGateTokenMetaData,
		"StreamGateWallet": &bindings.StreamGateWalletMetaData,
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "contracts", "build", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var art struct {
				ABI      json.RawMessage `json:"abi"`
				Bytecode string          `json:"bytecode"`
			}
			if err := json.Unmarshal(raw, &art); err != nil {
				t.Fatal(err)
			}
			if art.Bytecode != md.Bin {
				t.Fatal("bytecode in contracts/build differs from the Go binding: run contracts/generate.sh")
			}
			var a, b any
			if err := json.Unmarshal(art.ABI, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(md.ABI), &b); err != nil {
				t.Fatal(err)
			}
			aj, _ := json.Marshal(a)
			bj, _ := json.Marshal(b)
			if string(aj) != string(bj) {
				t.Fatal("ABI in contracts/build differs from the Go binding: run contracts/generate.sh")
			}
		})
	}
}
