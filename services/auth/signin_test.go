package auth

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/services/auth/siwe"
)

func TestCreateChallenge(t *testing.T) {
	e := newEnv(t)
	w := newWallet(t)
	res, err := e.client.CreateChallenge(t.Context(), connect.NewRequest(&authv1.CreateChallengeRequest{Address: strings.ToLower(w.addr.Hex()), ChainId: 1337}))
	if err != nil {
		t.Fatal(err)
	}
	m, err := siwe.Parse(res.Msg.GetMessage())
	if err != nil {
		t.Fatal(err)
	}
	if m.Address != w.addr || m.Domain != testDomain || m.URI != testURI || m.Scheme != "http" || m.ChainID != 1337 || m.Nonce != res.Msg.GetNonce() {
		t.Errorf("message = %+v", m)
	}
	if len(m.Nonce) < 16 {
		t.Errorf("nonce %q shorter than 16", m.Nonce)
	}
	if got, want := res.Msg.GetExpireTime().AsTime(), e.clock.Now().Add(5*time.Minute); !got.Equal(want) {
		t.Errorf("expire_time = %v, want %v", got, want)
	}
	if other := e.challenge(w.addr); other.Nonce == m.Nonce {
		t.Error("two challenges share a nonce")
	}

	for name, req := range map[string]*authv1.CreateChallengeRequest{
		"bad address":   {Address: "0x123", ChainId: 1337},
		"bad checksum":  {Address: "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", ChainId: 1337},
		"unknown chain": {Address: w.addr.Hex(), ChainId: 1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.client.CreateChallenge(t.Context(), connect.NewRequest(req))
			wantCode(t, err, connect.CodeInvalidArgument)
		})
	}
	t.Run("too many open", func(t *testing.T) {
		w := newWallet(t)
		for range 16 {
			e.challenge(w.addr)
		}
		_, err := e.client.CreateChallenge(t.Context(), connect.NewRequest(&authv1.CreateChallengeRequest{Address: w.addr.Hex(), ChainId: 1337}))
		wantCode(t, err, connect.CodeResourceExhausted)
	})
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	w := newWallet(t)
	msg := e.challenge(w.addr).String()
	res, err := e.signIn(msg, w.sign(t, msg))
	if err != nil {
		t.Fatal(err)
	}
	s := res.GetSession()
	if s.GetAddress() != w.addr.Hex() || s.GetChainId() != 1337 || !strings.HasPrefix(s.GetId(), "ses_") {
		t.Errorf("session = %v", s)
	}
	if got, want := res.GetAccessTokenExpireTime().AsTime(), e.clock.Now().Add(15*time.Minute); !got.Equal(want) {
		t.Errorf("access expire = %v, want %v", got, want)
	}
	claims, err := authtoken.ParseSession(res.GetAccessToken(), e.svc.keys.lookup, authtoken.ParseOptions{Issuer: "streamgate-auth", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != w.addr.Hex() || claims.SessionID != s.GetId() {
		t.Errorf("claims = %+v", claims)
	}
	if !strings.HasPrefix(res.GetRefreshToken(), "rt_") {
		t.Errorf("refresh token = %q", res.GetRefreshToken())
	}
	// Only a hash of the refresh token is stored.
	var n int
	if err := e.svc.store.db.QueryRow(`SELECT count(*) FROM refresh_tokens WHERE hash = ?`, []byte(res.GetRefreshToken())).Scan(&n); err != nil || n != 0 {
		t.Errorf("refresh token stored in clear (n=%d, err=%v)", n, err)
	}
}

func TestSignInRejects(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxOpenChallenges = 100 })
	// The case attacks need an address whose checksum has both cases.
	w, other := mixedCaseWallet(t), newWallet(t)
	now := func() time.Time { return e.clock.Now() }

	// signed builds a fresh challenge for w, lets mutate change it, and
	// signs the result with w.
	signed := func(mutate func(m *siwe.Message)) (string, string) {
		m := e.challenge(w.addr)
		mutate(m)
		msg := m.String()
		return msg, w.sign(t, msg)
	}
	type tc struct {
		name     string
		msg, sig func() (string, string)
		code     connect.Code
		contains string
	}
	same := func(f func() (string, string)) func() (string, string) { return f }
	tests := []tc{
		{name: "wrong domain", msg: same(func() (string, string) { return signed(func(m *siwe.Message) { m.Domain = "evil.example" }) }), code: connect.CodeUnauthenticated, contains: "domain"},
		{name: "wrong URI", msg: same(func() (string, string) {
			return signed(func(m *siwe.Message) { m.URI = "http://127.0.0.1:8080/other" })
		}), code: connect.CodeUnauthenticated, contains: "URI"},
		{name: "wrong scheme", msg: same(func() (string, string) { return signed(func(m *siwe.Message) { m.Scheme = "https" }) }), code: connect.CodeUnauthenticated, contains: "scheme"},
		{name: "no scheme means https", msg: same(func() (string, string) { return signed(func(m *siwe.Message) { m.Scheme = "" }) }), code: connect.CodeUnauthenticated, contains: "scheme"},
		{name: "chain not allowed", msg: same(func() (string, string) { return signed(func(m *siwe.Message) { m.ChainID = 1 }) }), code: connect.CodeUnauthenticated, contains: "chain"},
		{name: "message expired", msg: same(func() (string, string) {
			return signed(func(m *siwe.Message) { m.ExpirationTime = siwe.FormatTime(now().Add(-time.Minute)) })
		}), code: connect.CodeUnauthenticated, contains: "expired"},
		{name: "not yet valid", msg: same(func() (string, string) {
			return signed(func(m *siwe.Message) { m.NotBefore = siwe.FormatTime(now().Add(10 * time.Minute)) })
		}), code: connect.CodeUnauthenticated, contains: "not valid yet"},
		{name: "issued too long ago", msg: same(func() (string, string) {
			return signed(func(m *siwe.Message) { m.IssuedAt = siwe.FormatTime(now().Add(-6 * time.Minute)) })
		}), code: connect.CodeUnauthenticated, contains: "issued-at"},
		{name: "issued in the future", msg: same(func() (string, string) {
			return signed(func(m *siwe.Message) { m.IssuedAt = siwe.FormatTime(now().Add(2 * time.Minute)) })
		}), code: connect.CodeUnauthenticated, contains: "issued-at"},
		{name: "unknown nonce", msg: same(func() (string, string) {
			return signed(func(m *siwe.Message) { m.Nonce = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" })
		}), code: connect.CodeUnauthenticated, contains: "not issued"},
		{name: "nonce issued for another address", msg: same(func() (string, string) {
			m := e.challenge(other.addr)
			m.Address = w.addr
			return m.String(), w.sign(t, m.String())
		}), code: connect.CodeUnauthenticated, contains: "another address"},
		{name: "tampered message", msg: same(func() (string, string) {
			m := e.challenge(w.addr)
			sig := w.sign(t, m.String())
			m.Statement = "Sign in to StreamGate and send all your NFTs."
			return m.String(), sig
		}), code: connect.CodeUnauthenticated, contains: "signature"},
		{name: "signature from another address", msg: same(func() (string, string) {
			msg := e.challenge(w.addr).String()
			return msg, other.sign(t, msg)
		}), code: connect.CodeUnauthenticated, contains: "signature"},
		{name: "signature with bad v", msg: same(func() (string, string) {
			msg := e.challenge(w.addr).String()
			sig := w.sign(t, msg)
			return msg, sig[:len(sig)-2] + "1d"
		}), code: connect.CodeUnauthenticated, contains: "signature"},
		{name: "malformed message", msg: same(func() (string, string) { return "hello", w.sign(t, "hello") }), code: connect.CodeInvalidArgument, contains: "malformed"},
		{name: "missing line", msg: same(func() (string, string) {
			msg := strings.Replace(e.challenge(w.addr).String(), "Version: 1\n", "", 1)
			return msg, w.sign(t, msg)
		}), code: connect.CodeInvalidArgument, contains: "Version"},
		{name: "lowercase address", msg: same(func() (string, string) {
			msg := strings.Replace(e.challenge(w.addr).String(), w.addr.Hex(), strings.ToLower(w.addr.Hex()), 1)
			return msg, w.sign(t, msg)
		}), code: connect.CodeInvalidArgument, contains: "EIP-55"},
		{name: "invalid checksum", msg: same(func() (string, string) {
			h := w.addr.Hex()
			flipped := []byte(h)
			for i := 2; i < len(flipped); i++ {
				if c := flipped[i]; c >= 'a' && c <= 'f' {
					flipped[i] = c - 'a' + 'A'
					break
				} else if c >= 'A' && c <= 'F' {
					flipped[i] = c - 'A' + 'a'
					break
				}
			}
			msg := strings.Replace(e.challenge(w.addr).String(), h, string(flipped), 1)
			return msg, w.sign(t, msg)
		}), code: connect.CodeInvalidArgument, contains: "EIP-55"},
		{name: "bad address", msg: same(func() (string, string) {
			msg := strings.Replace(e.challenge(w.addr).String(), w.addr.Hex(), "0xnotanaddress", 1)
			return msg, w.sign(t, msg)
		}), code: connect.CodeInvalidArgument, contains: "address"},
		{name: "oversized statement", msg: same(func() (string, string) {
			m := e.challenge(w.addr)
			msg := strings.Replace(m.String(), m.Statement, strings.Repeat("a", siwe.MaxStatementBytes+1), 1)
			return msg, w.sign(t, msg)
		}), code: connect.CodeInvalidArgument, contains: "statement"},
		{name: "message over 4 KiB", msg: same(func() (string, string) {
			msg := e.challenge(w.addr).String() + "\nResources:" + strings.Repeat("\n- https://example.com/aaaaaaaaaa", 150)
			return msg, w.sign(t, msg)
		}), code: connect.CodeInvalidArgument, contains: "4096"},
		{name: "signature over limit", msg: same(func() (string, string) {
			return e.challenge(w.addr).String(), "0x" + strings.Repeat("ab", MaxSignatureBytes+1)
		}), code: connect.CodeInvalidArgument, contains: "limit"},
		{name: "signature not hex", msg: same(func() (string, string) { return e.challenge(w.addr).String(), "0xzz" }), code: connect.CodeInvalidArgument, contains: "hex"},
		{name: "signature without 0x", msg: same(func() (string, string) {
			msg := e.challenge(w.addr).String()
			return msg, strings.TrimPrefix(w.sign(t, msg), "0x")
		}), code: connect.CodeInvalidArgument, contains: "0x"},
		{name: "signature odd length", msg: same(func() (string, string) { return e.challenge(w.addr).String(), "0xabc" }), code: connect.CodeInvalidArgument, contains: "even"},
		{name: "empty signature", msg: same(func() (string, string) { return e.challenge(w.addr).String(), "" }), code: connect.CodeInvalidArgument, contains: "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, sig := tt.msg()
			_, err := e.signIn(msg, sig)
			wantCode(t, err, tt.code)
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err = %q, want it to mention %q", err, tt.contains)
			}
		})
	}
}

func TestSignInNonce(t *testing.T) {
	e := newEnv(t)
	w := newWallet(t)

	t.Run("replayed", func(t *testing.T) {
		msg := e.challenge(w.addr).String()
		sig := w.sign(t, msg)
		if _, err := e.signIn(msg, sig); err != nil {
			t.Fatal(err)
		}
		_, err := e.signIn(msg, sig)
		wantCode(t, err, connect.CodeUnauthenticated)
		if !strings.Contains(err.Error(), "already used") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("concurrent replay: one winner", func(t *testing.T) {
		msg := e.challenge(w.addr).String()
		sig := w.sign(t, msg)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Go(func() {
				if _, err := e.signIn(msg, sig); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if connect.CodeOf(err) != connect.CodeUnauthenticated {
					t.Errorf("err = %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d sign-ins with one nonce, want 1", wins)
		}
	})
	t.Run("expired", func(t *testing.T) {
		m := e.challenge(w.addr)
		e.clock.Add(5*time.Minute + time.Second)
		// A message that is itself still valid: only the nonce expired.
		m.ExpirationTime = ""
		m.IssuedAt = siwe.FormatTime(e.clock.Now())
		_, err := e.signIn(m.String(), w.sign(t, m.String()))
		wantCode(t, err, connect.CodeUnauthenticated)
		if !strings.Contains(err.Error(), "nonce has expired") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("survives a restart", func(t *testing.T) {
		msg := e.challenge(w.addr).String()
		e.start()
		if _, err := e.signIn(msg, w.sign(t, msg)); err != nil {
			t.Fatalf("nonce issued before a restart: %v", err)
		}
	})
}

func TestSignInEIP1271(t *testing.T) {
	e := newEnv(t)
	contract := common.HexToAddress("0x1111111111111111111111111111111111111111")
	owner := newWallet(t)
	// A 2-of-n style wallet: accepts a signature made of the owner's
	// signature over the hash plus 35 bytes of extra data (100 bytes).
	extra := bytes.Repeat([]byte{0xee}, 35)
	e.wallets.wallets[contract] = func(hash common.Hash, sig []byte) bool {
		if len(sig) != 100 || !bytes.Equal(sig[65:], extra) {
			return false
		}
		signer, err := recoverHash(hash, sig[:65])
		return err == nil && signer == owner.addr
	}
	sign := func(msg string) string {
		s, _ := hexutil.Decode(owner.sign(t, msg))
		return hexutil.Encode(append(s, extra...))
	}

	t.Run("accepts", func(t *testing.T) {
		msg := e.challenge(contract).String()
		res, err := e.signIn(msg, sign(msg))
		if err != nil {
			t.Fatal(err)
		}
		if res.GetSession().GetAddress() != contract.Hex() {
			t.Errorf("session address = %s", res.GetSession().GetAddress())
		}
	})
	t.Run("65-byte signature also goes to the contract", func(t *testing.T) {
		// EIP-191 recovery yields the owner, not the contract: the
		// contract decides, and this one wants 100 bytes.
		msg := e.challenge(contract).String()
		_, err := e.signIn(msg, owner.sign(t, msg))
		wantCode(t, err, connect.CodeUnauthenticated)
	})
	t.Run("rejects", func(t *testing.T) {
		msg := e.challenge(contract).String()
		sign(msg)
		bad := hexutil.Encode(append(bytes.Repeat([]byte{1}, 65), extra...))
		_, err := e.signIn(msg, bad)
		wantCode(t, err, connect.CodeUnauthenticated)
	})
	t.Run("chain unreachable never grants", func(t *testing.T) {
		msg := e.challenge(contract).String()
		sig := sign(msg)
		e.wallets.mu.Lock()
		e.wallets.err = errChainDown
		e.wallets.mu.Unlock()
		_, err := e.signIn(msg, sig)
		wantCode(t, err, connect.CodeUnavailable)
		if strings.Contains(err.Error(), "8545") {
			t.Errorf("internal cause leaked: %v", err)
		}
		// The nonce was not spent: once the chain is back, it works.
		e.wallets.mu.Lock()
		e.wallets.err = nil
		e.wallets.mu.Unlock()
		if _, err := e.signIn(msg, sig); err != nil {
			t.Fatalf("after the chain came back: %v", err)
		}
	})
	t.Run("no chain call without a live nonce", func(t *testing.T) {
		e.wallets.mu.Lock()
		before := e.wallets.calls
		e.wallets.mu.Unlock()
		m := e.challenge(contract)
		m.Nonce = "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"
		_, err := e.signIn(m.String(), "0x"+strings.Repeat("00", 100))
		wantCode(t, err, connect.CodeUnauthenticated)
		e.wallets.mu.Lock()
		defer e.wallets.mu.Unlock()
		if e.wallets.calls != before {
			t.Errorf("a sign-in with an unknown nonce reached the chain")
		}
	})
}

// recoverHash is what a smart wallet does with an owner's signature.
func recoverHash(hash common.Hash, sig []byte) (common.Address, error) {
	s := append([]byte(nil), sig...)
	s[64] -= 27
	pub, err := crypto.SigToPub(hash.Bytes(), s)
	if err != nil {
		return common.Address{}, err
	}
	return crypto.PubkeyToAddress(*pub), nil
}
