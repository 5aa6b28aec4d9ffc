package auth

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// BenchmarkSignIn is a whole SignIn at the domain level: parse, checks,
// nonce look-up, EIP-191 recovery, then the SQLite transaction that spends
// the nonce and opens the session, and signing the access token. The
// challenges are issued before the timer starts.
func BenchmarkSignIn(b *testing.B) {
	svc, err := New(Config{Domain: testDomain, URI: testURI, DataDir: b.TempDir(), MaxOpenChallenges: 1 << 30},
		&fakeWallets{wallets: map[common.Address]func(common.Hash, []byte) bool{}}, &fakeAccess{}, &fakeVideos{},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	ctx := context.Background()
	w := newWallet(b)
	msgs, sigs := make([]string, b.N), make([]string, b.N)
	for i := range b.N {
		c, err := svc.CreateChallenge(ctx, w.addr.Hex(), 1337)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i], sigs[i] = c.Message, w.sign(b, c.Message)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := svc.SignIn(ctx, msgs[i], sigs[i]); err != nil {
			b.Fatal(err)
		}
	}
}
