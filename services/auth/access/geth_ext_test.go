package access_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/streamgate/streamgate/internal/devchain/bindings"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/auth/access"
	"github.com/streamgate/streamgate/services/auth/chain"
)

// gethBinary finds geth on PATH or in $(go env GOPATH)/bin, where
// scripts/install-geth.sh puts it. A missing geth fails the test: it must
// not skip in CI.
func gethBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("geth"); err == nil {
		return p
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(dir, "bin", "geth")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatalf("geth not found on PATH or in %s/bin: run scripts/install-geth.sh (go install github.com/ethereum/go-ethereum/cmd/geth@v1.17.10)", build.Default.GOPATH)
	return ""
}

func freePortT(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startGethDev runs `geth --dev` on loopback in a temp datadir and returns
// its HTTP JSON-RPC URL once it answers.
func startGethDev(t *testing.T) string {
	t.Helper()
	bin := gethBinary(t)
	port := freePortT(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--dev",
		"--datadir", t.TempDir(),
		"--http", "--http.addr", "127.0.0.1", "--http.port", strconv.Itoa(port), "--http.api", "eth,net,web3",
		"--authrpc.port", strconv.Itoa(freePortT(t)), "--port", "0", "--ipcdisable", "--nodiscover", "--maxpeers", "0",
		"--verbosity", "2")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start geth: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("geth --dev exited: %v\n%s", err, logs.String())
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		c, err := ethclient.DialContext(ctx, url)
		if err == nil {
			_, err = c.ChainID(ctx)
			c.Close()
		}
		cancel()
		if err == nil {
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("geth --dev not answering on %s within 60s: %v\n%s", url, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAgainstGethDev runs the policy checks and EIP-1271 against a real
// node, `geth --dev`, rather than the simulated backend: fund a fresh key
// from the dev account, deploy the demo ERC-721 and an EIP-1271 wallet,
// mint, and evaluate.
func TestAgainstGethDev(t *testing.T) {
	ctx := t.Context()
	url := startGethDev(t)
	rc, err := rpc.DialContext(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ec := ethclient.NewClient(rc)
	chainID, err := ec.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Fund a fresh key from geth's unlocked dev account.
	key, owner := newWallet(t)
	var dev []common.Address
	if err := rc.CallContext(ctx, &dev, "eth_accounts"); err != nil || len(dev) == 0 {
		t.Fatalf("eth_accounts = %v, %v", dev, err)
	}
	var fundTx common.Hash
	if err := rc.CallContext(ctx, &fundTx, "eth_sendTransaction", map[string]any{
		"from": dev[0], "to": owner, "value": (*hexutil.Big)(new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18))),
	}); err != nil {
		t.Fatalf("fund from the dev account: %v", err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := bind.WaitMined(waitCtx, ec, fundTx); err != nil {
		t.Fatalf("funding not mined: %v", err)
	}

	deploy := func(bin string, input []byte) common.Address {
		t.Helper()
		opts := bind.NewKeyedTransactor(key, chainID)
		opts.Context = waitCtx
		addr, tx, err := bind.DeployContract(opts, common.FromHex(bin), ec, input)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bind.WaitDeployed(waitCtx, ec, tx.Hash()); err != nil {
			t.Fatal(err)
		}
		return addr
	}
	send := func(to common.Address, data []byte) *types.Receipt {
		t.Helper()
		opts := bind.NewKeyedTransactor(key, chainID)
		opts.Context = waitCtx
		pass := bindings.NewStreamGatePass()
		tx, err := bind.Transact(bind.NewBoundContract(to, pass.GetABI(), ec, ec, ec), opts, data)
		if err != nil {
			t.Fatal(err)
		}
		r, err := bind.WaitMined(waitCtx, ec, tx.Hash())
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("transaction %s reverted", tx.Hash().Hex())
		}
		return r
	}

	passAddr := deploy(bindings.StreamGatePassMetaData.Bin, nil)
	wallets := bindings.NewStreamGateWallet()
	accepting := deploy(bindings.StreamGateWalletMetaData.Bin, wallets.PackConstructor(owner, false))
	rejecting := deploy(bindings.StreamGateWalletMetaData.Bin, wallets.PackConstructor(owner, true))
	_, holder := newWallet(t)
	_, stranger := newWallet(t)
	pass := bindings.NewStreamGatePass()
	var tokenID *big.Int
	for _, l := range send(passAddr, pass.PackMint(holder)).Logs {
		if ev, err := pass.UnpackTransferEvent(l); err == nil && ev.To == holder {
			tokenID = ev.TokenId
		}
	}
	if tokenID == nil {
		t.Fatal("mint: no Transfer event in the receipt")
	}

	c, err := chain.New(chain.Config{Chains: map[uint64]string{chainID.Uint64(): url}, CallTimeout: 5 * time.Second}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ev := newEvaluator(t, c, access.Config{})
	rule := r721(passAddr, "", "")
	rule.ChainId = chainID.Uint64()
	owns := r721(passAddr, tokenID.String(), "")
	owns.ChainId = chainID.Uint64()
	for _, tt := range []struct {
		name string
		rule string
		addr common.Address
		want bool
	}{
		{"balanceOf > 0: holder", "balance", holder, true},
		{"balanceOf > 0: stranger", "balance", stranger, false},
		{"ownerOf(id): holder", "owner", holder, true},
		{"ownerOf(id): stranger", "owner", stranger, false},
	} {
		r := rule
		if tt.rule == "owner" {
			r = owns
		}
		d, err := ev.Check(ctx, all(r), tt.addr, true)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if d.Allowed != tt.want {
			t.Fatalf("%s: allowed = %v, want %v", tt.name, d.Allowed, tt.want)
		}
	}
	// ERC-165 catches a misconfigured standard: the pass is not an ERC-1155.
	wrong := r1155(passAddr, "1", "1")
	wrong.ChainId = chainID.Uint64()
	if _, err := ev.Check(ctx, all(wrong), holder, true); !errors.Is(err, access.ErrMisconfigured) {
		t.Fatalf("ERC-1155 rule on an ERC-721: err = %v, want ErrMisconfigured", err)
	}

	hash := common.BytesToHash(accounts.TextHash([]byte("streamgate wants you to sign in")))
	sig, err := crypto.Sign(hash[:], key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	for _, tt := range []struct {
		name   string
		wallet common.Address
		want   bool
	}{
		{"EIP-1271 wallet accepts its owner", accepting, true},
		{"EIP-1271 wallet that rejects", rejecting, false},
		{"an EOA is no EIP-1271 wallet", stranger, false},
	} {
		ok, err := c.IsValidSignature(ctx, chainID.Uint64(), tt.wallet, hash, sig)
		if err != nil || ok != tt.want {
			t.Fatalf("%s: IsValidSignature = %v, %v; want %v", tt.name, ok, err, tt.want)
		}
	}

	// The transfer watcher reads the Transfer log from the real node's
	// eth_getLogs.
	w, err := access.NewWatcher(access.WatcherConfig{
		Contracts: []access.ContractRef{{ChainID: chainID.Uint64(), Contract: passAddr}}, PollInterval: 100 * time.Millisecond,
	}, c, ev, discard())
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan [2]common.Address, 4)
	w.OnTransfer(func(_ context.Context, _ uint64, _, from, to common.Address, _ uint64) {
		select {
		case seen <- [2]common.Address{from, to}:
		default: // never block the watcher
		}
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() { stop(); <-done }()
	poll.Until(t, 30*time.Second, "watcher start", func() bool { return w.LastBlock(chainID.Uint64()) > 0 })
	var ownID *big.Int
	for _, l := range send(passAddr, pass.PackMint(owner)).Logs {
		if ev, err := pass.UnpackTransferEvent(l); err == nil && ev.To == owner {
			ownID = ev.TokenId
		}
	}
	send(passAddr, pass.PackTransferFrom(owner, stranger, ownID))
	want := [2]common.Address{owner, stranger}
	deadline := time.After(60 * time.Second)
	for {
		select {
		case got := <-seen:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatal("the watcher did not report the transfer within 60s")
		}
	}
}
