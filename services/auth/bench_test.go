package auth

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/secretbox/secretboxtest"
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

// BenchmarkReleaseContentKeys is the key server's decision at the domain
// level, on its cache-hit path: one holder, one video, its keys sealed
// under a KEK and the holder decision served by the access checker (a
// fake that answers at once, as a cached decision does). "store" reads
// and unseals the keys from SQLite on every call, as before the key cache;
// "cached" takes them from the cache (contentKeyCache). cached-x, on the
// "cached" run, is its speed over the last "store" run's.
func BenchmarkReleaseContentKeys(b *testing.B) {
	const id = "vid_01J0000000000000000000000B"
	holder := newWallet(b)
	videos := &fakeVideos{videos: map[string]*metadatav1.Video{id: readyVideo(id, nftPolicy)}}
	kek := secretboxtest.Keyring(b, 1)
	svc, err := New(Config{Domain: testDomain, URI: testURI, DataDir: b.TempDir(), KEK: kek},
		&fakeWallets{}, &fakeAccess{allowed: map[common.Address]bool{holder.addr: true}}, videos,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	ctx := context.Background()
	if _, err := svc.EnsureContentKeys(ctx, id, 0); err != nil {
		b.Fatal(err)
	}
	var storeRate float64
	for _, c := range []struct {
		name string
		ttl  time.Duration
	}{{"store", 0}, {"cached", contentKeyCacheTTL}} {
		b.Run(c.name, func(b *testing.B) {
			// A zero TTL: every entry has expired when read.
			svc.keyCache = newContentKeyCache(svc.cfg.Now, c.ttl, maxCachedContentKeys)
			b.ReportAllocs()
			for b.Loop() {
				keys, grant, err := svc.ReleaseContentKeys(ctx, id, holder.addr.Hex())
				if err != nil || len(keys) != 2 || grant != authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER {
					b.Fatal(keys, grant, err)
				}
			}
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "req/s")
			if c.ttl == 0 {
				storeRate = rate
			} else if storeRate > 0 {
				b.ReportMetric(rate/storeRate, "cached-x")
			}
		})
	}
}
