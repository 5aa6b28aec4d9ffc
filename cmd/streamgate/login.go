package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/siwe"
)

// runLogin is `streamgate login (--key FILE | --dev) [--gateway URL]
// [--chain-id N]`: Sign-In with Ethereum through the gateway (CreateChallenge,
// sign the EIP-4361 message with EIP-191, SignIn), then store the session
// for the other client commands (see session.go: authorizeSession).
func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: streamgate login (--key FILE | --dev) [--gateway URL] [--chain-id N]")
		fmt.Fprintln(stderr, "\nSigns in with an Ethereum key (Sign-In with Ethereum) and stores the session\nfor the other commands.\n\nflags:")
		fs.PrintDefaults()
	}
	keyFile := fs.String("key", "", "file holding the wallet's private key as hex (0x optional)")
	dev := fs.Bool("dev", false, "sign in with the dev chain's demo wallet (streamgate dev only)")
	gateway := fs.String("gateway", "http://127.0.0.1:8080", "gateway URL")
	chainID := fs.Uint64("chain-id", devchain.ChainID, "EIP-155 chain id to sign in on (must be one the server allows)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the gateway")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 || (*keyFile == "") == !*dev {
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "streamgate login: give exactly one of --key FILE and --dev")
		}
		fs.Usage()
		return errUsage
	}
	gw, err := url.Parse(*gateway)
	if err != nil || (gw.Scheme != "http" && gw.Scheme != "https") || gw.Host == "" {
		fmt.Fprintf(stderr, "streamgate login: --gateway %q is not an http(s) URL\n", *gateway)
		return errUsage
	}

	var key *ecdsa.PrivateKey
	if *dev {
		key, err = crypto.HexToECDSA(devchain.DemoWalletKeyHex)
	} else {
		key, err = readKeyFile(*keyFile, stderr)
	}
	if err != nil {
		return err
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	base := strings.TrimSuffix(gw.String(), "/")
	client := authv1connect.NewAuthServiceClient(&http.Client{}, base)
	ch, err := client.CreateChallenge(ctx, connect.NewRequest(&authv1.CreateChallengeRequest{Address: addr.Hex(), ChainId: *chainID}))
	if err != nil {
		return fmt.Errorf("create challenge through %s: %w", base, err)
	}
	text := ch.Msg.GetMessage()
	// Check what we are about to sign, as a wallet does: a message for
	// another site, address or chain is refused.
	msg, err := siwe.Parse(text)
	if err != nil {
		return fmt.Errorf("the server sent an invalid EIP-4361 message: %w", err)
	}
	switch {
	case msg.Address != addr:
		return fmt.Errorf("refusing to sign: the message names %s, not %s", msg.Address.Hex(), addr.Hex())
	case msg.ChainID != *chainID:
		return fmt.Errorf("refusing to sign: the message is for chain %d, not %d", msg.ChainID, *chainID)
	case !strings.EqualFold(msg.Domain, gw.Host):
		return fmt.Errorf("refusing to sign: the message asks to sign in to %q, but --gateway is %q (use the gateway's public URL)", msg.Domain, gw.Host)
	}
	sig, err := siwe.SignEIP191(text, key)
	if err != nil {
		return err
	}
	res, err := client.SignIn(ctx, connect.NewRequest(&authv1.SignInRequest{Message: text, Signature: hexutil.Encode(sig)}))
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	s := &cliSession{
		Gateway:      base,
		Address:      addr.Hex(),
		ChainID:      *chainID,
		SessionID:    res.Msg.GetSession().GetId(),
		AccessToken:  res.Msg.GetAccessToken(),
		AccessExpiry: res.Msg.GetAccessTokenExpireTime().AsTime(),
		RefreshToken: res.Msg.GetRefreshToken(),
	}
	if e := res.Msg.GetSession().GetExpireTime(); e != nil {
		s.SessionExpiry = e.AsTime()
	}
	sessionMu.Lock()
	err = saveSession(s)
	sessionMu.Unlock()
	if err != nil {
		return fmt.Errorf("store the session: %w", err)
	}
	p, _ := sessionPath()
	fmt.Fprintf(stdout, "signed in as %s (chain %d) through %s\nsession stored in %s\n", addr.Hex(), *chainID, base, p)
	return nil
}

// maxKeyFileBytes bounds the key file read.
const maxKeyFileBytes = 4096

// readKeyFile reads a hex private key. A key file readable by others is
// used, with a warning.
func readKeyFile(path string, stderr io.Writer) (*ecdsa.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "warning: key file %s is readable by others (mode %v); chmod 600 it\n", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if len(b) > maxKeyFileBytes {
		return nil, errors.New("key file: too large to be a hex private key")
	}
	h := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), "0X")
	key, err := crypto.HexToECDSA(h)
	if err != nil {
		// The error must not echo the file's content.
		return nil, errors.New("key file: not a hex secp256k1 private key (64 hex digits)")
	}
	return key, nil
}
