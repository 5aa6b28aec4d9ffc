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
	"github.com/streamgate/streamgate/services/auth/siwe"
)

// runLogin is `streamgate login (--key FILE | --dev) [--server URL]
// [--chain-id N] [--json]`: Sign-In with Ethereum through the gateway
// (CreateChallenge, sign the EIP-4361 message with EIP-191, SignIn), then
// store the session for the other client commands (see session.go:
// authorizeSession).
func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: streamgate login (--key FILE | --dev) [--server URL] [--chain-id N] [--json]")
		fmt.Fprintln(stderr, "\nSigns in with an Ethereum key (Sign-In with Ethereum) and stores the session\nfor the other commands.\n\nflags:")
		fs.PrintDefaults()
	}
	var c clientFlags
	c.register(fs, `print {"address","chain_id","server","session_file","session_expire_time"} as JSON`)
	keyFile := fs.String("key", "", "file holding the wallet's private key as hex (0x optional)")
	dev := fs.Bool("dev", false, "sign in with the dev chain's demo wallet (streamgate dev only)")
	chainID := fs.Uint64("chain-id", devchain.ChainID, "EIP-155 chain id to sign in on (must be one the server allows)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the server")
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
	base, err := c.base()
	if err != nil {
		fmt.Fprintf(stderr, "streamgate login: %v\n", err)
		return errUsage
	}
	return c.result(stdout, login(ctx, base, *keyFile, *dev, *chainID, *timeout, c.json, stdout, stderr))
}

func login(ctx context.Context, base, keyFile string, dev bool, chainID uint64, timeout time.Duration, asJSON bool, stdout, stderr io.Writer) error {
	var key *ecdsa.PrivateKey
	var err error
	if dev {
		key, err = crypto.HexToECDSA(devchain.DemoWalletKeyHex)
	} else {
		key, err = readKeyFile(keyFile, stderr)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, _ := url.Parse(base)
	s, err := signIn(ctx, base, u.Host, key, chainID)
	if err != nil {
		return err
	}
	sessionMu.Lock()
	err = saveSession(s)
	sessionMu.Unlock()
	if err != nil {
		return fmt.Errorf("store the session: %w", err)
	}
	p, _ := sessionPath()
	if asJSON {
		return printJSON(stdout, map[string]any{
			"address": s.Address, "chain_id": s.ChainID, "server": s.Gateway,
			"session_file": p, "session_expire_time": s.SessionExpiry.UTC().Format(time.RFC3339),
		})
	}
	_, err = fmt.Fprintf(stdout, "signed in as %s (chain %d) through %s\nsession stored in %s\n", s.Address, chainID, base, p)
	return err
}

// signIn runs Sign-In with Ethereum against the gateway at base and returns
// the session, without storing it. domain is the host the server must ask
// to sign in to (the public URL's): a message for another site, address or
// chain is refused before anything is signed, as a wallet would.
func signIn(ctx context.Context, base, domain string, key *ecdsa.PrivateKey, chainID uint64) (*cliSession, error) {
	addr := crypto.PubkeyToAddress(key.PublicKey)
	client := authv1connect.NewAuthServiceClient(&http.Client{}, base)
	ch, err := client.CreateChallenge(ctx, connect.NewRequest(&authv1.CreateChallengeRequest{Address: addr.Hex(), ChainId: chainID}))
	if err != nil {
		return nil, fmt.Errorf("create challenge through %s: %w", base, err)
	}
	text := ch.Msg.GetMessage()
	msg, err := siwe.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("the server sent an invalid EIP-4361 message: %w", err)
	}
	switch {
	case msg.Address != addr:
		return nil, fmt.Errorf("refusing to sign: the message names %s, not %s", msg.Address.Hex(), addr.Hex())
	case msg.ChainID != chainID:
		return nil, fmt.Errorf("refusing to sign: the message is for chain %d, not %d", msg.ChainID, chainID)
	case !strings.EqualFold(msg.Domain, domain):
		return nil, fmt.Errorf("refusing to sign: the message asks to sign in to %q, but --server is %q (use the server's public URL)", msg.Domain, domain)
	}
	sig, err := siwe.SignEIP191(text, key)
	if err != nil {
		return nil, err
	}
	res, err := client.SignIn(ctx, connect.NewRequest(&authv1.SignInRequest{Message: text, Signature: hexutil.Encode(sig)}))
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	s := &cliSession{
		Gateway:      base,
		Address:      addr.Hex(),
		ChainID:      chainID,
		SessionID:    res.Msg.GetSession().GetId(),
		AccessToken:  res.Msg.GetAccessToken(),
		AccessExpiry: res.Msg.GetAccessTokenExpireTime().AsTime(),
		RefreshToken: res.Msg.GetRefreshToken(),
	}
	if e := res.Msg.GetSession().GetExpireTime(); e != nil {
		s.SessionExpiry = e.AsTime()
	}
	return s, nil
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
