package auth

import (
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/services/auth/chain"
)

// startDevChain starts a dev chain sealing a block every 100 ms, with 1 ETH
// for gas in each funded wallet, and auth's chain client for it; both stop
// when the test ends.
func startDevChain(t *testing.T, funded ...wallet) (*devchain.Chain, *chain.Client) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	alloc := map[common.Address]*big.Int{}
	for _, w := range funded {
		alloc[w.addr] = big.NewInt(1e18)
	}
	dc, err := devchain.New(t.Context(), devchain.Config{BlockInterval: 100 * time.Millisecond, Alloc: alloc}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.Close)
	chains, err := chain.New(chain.Config{Chains: map[uint64]string{devchain.ChainID: dc.RPCURL()}, CallTimeout: 10 * time.Second}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(chains.Close)
	return dc, chains
}
