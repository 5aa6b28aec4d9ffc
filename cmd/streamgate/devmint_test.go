package main

import (
	"bytes"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/devchain/bindings"
)

func TestDevMint(t *testing.T) {
	ctx := t.Context()
	dc, err := devchain.New(ctx, devchain.Config{BlockInterval: 100 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	ec, err := ethclient.DialContext(ctx, dc.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	viewer := common.HexToAddress("0x00000000000000000000000000000000000000b2")
	pass, items := bindings.NewStreamGatePass(), bindings.NewStreamGateItems()
	balance := func(contract common.Address, data []byte, unpack func([]byte) (*big.Int, error)) int64 {
		t.Helper()
		out, err := ec.CallContract(ctx, ethereum.CallMsg{To: &contract, Data: data}, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := unpack(out)
		if err != nil {
			t.Fatal(err)
		}
		return n.Int64()
	}

	for _, tt := range []struct {
		name string
		args []string
		want string // in stdout
	}{
		{"erc721", []string{"--to", viewer.Hex(), "--rpc", dc.RPCURL()}, "minted StreamGatePass (ERC-721) #"},
		{"erc1155", []string{"--to", strings.ToLower(viewer.Hex()), "--rpc", dc.RPCURL(), "--standard", "erc1155", "--token-id", "4", "--amount", "2"},
			"minted 2 of StreamGateItems (ERC-1155) id 4 to " + viewer.Hex()},
	} {
		var stdout, stderr bytes.Buffer
		if err := runDevMint(ctx, tt.args, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v\nstderr: %s", tt.name, err, stderr.String())
		}
		if !strings.Contains(stdout.String(), tt.want) {
			t.Fatalf("%s: stdout = %q, want %q", tt.name, stdout.String(), tt.want)
		}
	}
	if n := balance(dc.PassAddress(), pass.PackBalanceOf(viewer), pass.UnpackBalanceOf); n != 1 {
		t.Fatalf("pass balance = %d, want 1", n)
	}
	if n := balance(dc.ItemsAddress(), items.PackBalanceOf(viewer, big.NewInt(4)), items.UnpackBalanceOf); n != 2 {
		t.Fatalf("items balance = %d, want 2", n)
	}
}

func TestDevMintRefuses(t *testing.T) {
	addr := "0x00000000000000000000000000000000000000b2"
	for _, tt := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no --to", nil, true, "--to is required"},
		{"bad address", []string{"--to", "0x1234"}, true, "--to"},
		{"bad checksum", []string{"--to", "0x70997970c51812dc3A010C7d01b50e0d17dc79C8"}, true, "checksum"},
		{"zero address", []string{"--to", "0x0000000000000000000000000000000000000000"}, true, "zero address"},
		{"unknown standard", []string{"--to", addr, "--standard", "erc20"}, true, "--standard"},
		{"token id on erc721", []string{"--to", addr, "--token-id", "3"}, true, "erc1155 only"},
		{"negative token id", []string{"--to", addr, "--standard", "erc1155", "--token-id", "-1"}, true, "--token-id"},
		{"zero amount", []string{"--to", addr, "--standard", "erc1155", "--amount", "0"}, true, "--amount"},
		{"huge amount", []string{"--to", addr, "--standard", "erc1155", "--amount", strings.Repeat("9", 80)}, true, "--amount"},
		{"stray argument", []string{"--to", addr, "extra"}, true, ""},
		{"no chain there", []string{"--to", addr, "--rpc", "http://127.0.0.1:1", "--timeout", "5s"}, false, "streamgate dev"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runDevMint(t.Context(), tt.args, &stdout, &stderr)
			if err == nil {
				t.Fatal("accepted")
			}
			if (err == errUsage) != tt.usage {
				t.Fatalf("err = %v, want usage error %v", err, tt.usage)
			}
			if msg := err.Error() + stderr.String(); !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q / stderr %q, want %q", err, stderr.String(), tt.want)
			}
		})
	}
}
