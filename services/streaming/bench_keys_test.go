package streaming_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/secretbox"
	"github.com/streamgate/streamgate/internal/video"
	"github.com/streamgate/streamgate/services/auth"
	"github.com/streamgate/streamgate/services/auth/access"
	"github.com/streamgate/streamgate/services/gateway/edge"
	"github.com/streamgate/streamgate/services/streaming"
)

// encryptedPlaylist is a media playlist as the packager writes it for an
// encrypted rendition: the EXT-X-KEY is what makes streaming serve the
// rendition's segments without a token.
const encryptedPlaylist = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n" +
	`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="../licence",KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1"` + "\n" +
	"#EXT-X-MAP:URI=\"init.m4s\"\n#EXTINF:2.000,\nseg-00001.m4s\n#EXT-X-ENDLIST\n"

// BenchmarkEncryptedSegmentGET measures the segments of an encrypted
// rendition of a gated video fetched without a token, as any viewer (or a
// CDN) fetches them, against nginx serving the same file, with the same
// client and loop as BenchmarkSegmentGET. streaming-token is a clear gated
// video's segment with its token, the path encryption replaces.
//
// The ratios (streaming req/s over nginx req/s, medians of the -count runs)
// are the metrics of <size>/ratio-to-nginx: keyless-x, token-x.
// <size>/paired alternates nginx and keyless GETs under the same load and
// reports keyless-x as nginx's mean latency over streaming's: the ratio to
// read on a shared machine.
//
//	go test -run '^$' -bench BenchmarkEncryptedSegmentGET -benchtime 2s -count 3 ./services/streaming/
func BenchmarkEncryptedSegmentGET(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1MiB", 1 << 20}, {"2MiB", 2 << 20}} {
		const encSeg, clearSeg = "videos/vid_e/720p/seg-00001.m4s", "videos/vid_c/720p/seg-00001.m4s"
		store := segmentStore(b, size.n, encSeg, clearSeg)
		if _, err := store.Put(b.Context(), "videos/vid_e/720p/playlist.m3u8", strings.NewReader(encryptedPlaylist)); err != nil {
			b.Fatal(err)
		}
		e := newEnv(b, store, nil, readyVideo("vid_e", true), readyVideo("vid_c", true))
		nginx := startNginx(b, store.Dir())
		keyless := e.srv.URL + "/play/vid_e/720p/seg-00001.m4s"
		client := benchClient()
		// What is measured is the keyless path, not a refusal.
		res, err := client.Get(keyless)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			b.Fatalf("keyless GET: %d %q, want 200 public immutable", res.StatusCode, res.Header.Get("Cache-Control"))
		}
		rate := rates{}
		for _, tg := range []struct{ name, url string }{
			{"nginx", nginx + "/" + encSeg},
			{"streaming-keyless", keyless},
			{"streaming-token", e.srv.URL + "/play/vid_c/720p/seg-00001.m4s?token=" + e.token(b, "vid_c")},
		} {
			b.Run(size.name+"/"+tg.name, func(b *testing.B) {
				parallelGETs(b, client, tg.url, size.n)
				rate.record(b, tg.name)
			})
		}
		b.Run(size.name+"/paired", func(b *testing.B) {
			b.SetBytes(2 * int64(size.n))
			ng, kl := pairedParallel(b,
				func(context.Context) error { return getOK(client, nginx+"/"+encSeg, size.n) },
				func(context.Context) error { return getOK(client, keyless, size.n) })
			b.ReportMetric(micros(ng), "nginx-mean-us")
			b.ReportMetric(micros(kl), "keyless-mean-us")
			if kl > 0 {
				b.ReportMetric(float64(ng)/float64(kl), "keyless-x")
			}
		})
		client.CloseIdleConnections()
		b.Run(size.name+"/ratio-to-nginx", func(b *testing.B) {
			for b.Loop() {
			}
			if rate.median("nginx") == 0 {
				return // filtered out by -bench
			}
			b.ReportMetric(rate.median("streaming-keyless")/rate.median("nginx"), "keyless-x")
			b.ReportMetric(rate.median("streaming-token")/rate.median("nginx"), "token-x")
		})
	}
}

// BenchmarkLicence measures ClearKey licence requests (POST
// /play/{video}/licence) on their cache-hit path, through the whole chain
// in one process: the gateway's edge (admission, playback-token check,
// proxy) over an h2c transport to streaming's /play/ handler (token check,
// ClearKey parsing), whose Connect client calls a real auth Service's
// ReleaseContentKeys over h2c (SQLite store, keys sealed under a KEK, the
// real policy evaluator with its in-memory decision cache in front of a
// chain that counts its calls), which reads the video from a metadata
// Connect handler over h2c, as it does on every request. The same wallet asks for the same video's
// keys every time: the holder decision comes from the decision cache,
// which the benchmark checks (no chain call while timed). What is left
// out of the production path: discovery (etcd, the mesh's picker and
// breaker: see BenchmarkGetVideo for their cost), the services'
// interceptors, TLS.
//
// Sub-benchmarks, each b.RunParallel with 4 goroutines per core:
//   - gateway/licence: the licence request through the edge.
//   - gateway/segment-keyless: a tokenless GET of a 1 KiB segment of the
//     same encrypted rendition through the same edge: the baseline of the
//     HTTP path without the key server.
//   - direct/release: auth's ReleaseContentKeys from the Connect client
//     alone: the baseline of the key server's own cost.
//
// Each reports req/s and the p50 and p99 latency of its requests (µs);
// ratio reports licence req/s over each baseline's (medians of the -count
// runs): licence/segment-x, licence/release-x. paired/segment-licence and
// paired/release-licence alternate a baseline call and a licence request
// under the same load and report the same ratios from mean latencies: the
// ones to read on a shared machine.
//
//	go test -run '^$' -bench BenchmarkLicence -benchtime 2s -count 3 ./services/streaming/
func BenchmarkLicence(b *testing.B) {
	const id = "vid_k"
	store := segmentStore(b, 1<<10, "videos/"+id+"/720p/seg-00001.m4s")
	if _, err := store.Put(b.Context(), "videos/"+id+"/720p/playlist.m3u8", strings.NewReader(encryptedPlaylist)); err != nil {
		b.Fatal(err)
	}
	ks := startKeyServer(b, id)
	keys := authv1connect.NewAuthServiceClient(h2cClient(), "http://"+ks.addr)
	// The key server's own cache as deployed (LicenceCacheTTL's default).
	e := newEnvKeys(b, func(c *streaming.Config) { c.LicenceCacheTTL = 0 }, keys, store, nil, readyVideo(id, true))
	gw := startEdge(b, e, serveH2C(b, e.svc.HTTPHandlers()["/play/"]))
	tok := e.token(b, id)
	lic := gw + "/play/" + id + "/licence?token=" + tok
	kids := make([]string, 0, len(ks.keys))
	for _, k := range ks.keys {
		kids = append(kids, base64.RawURLEncoding.EncodeToString(k.GetKeyId()))
	}
	body := licenceBody(kids...)
	client := benchClient()
	defer client.CloseIdleConnections()

	licence := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, lic, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		if res.StatusCode != 200 || strings.Count(string(b), `"kid"`) != len(kids) {
			return fmt.Errorf("licence: %d %s, want 200 with %d keys", res.StatusCode, b, len(kids))
		}
		return nil
	}
	segment := func(context.Context) error {
		return getOK(client, gw+"/play/"+id+"/720p/seg-00001.m4s", 1<<10)
	}
	release := func(ctx context.Context) error {
		res, err := keys.ReleaseContentKeys(ctx, connect.NewRequest(&authv1.ReleaseContentKeysRequest{VideoId: id, Address: testAddr}))
		if err != nil {
			return err
		}
		if res.Msg.GetGrant() != authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER || len(res.Msg.GetKeys()) != len(kids) {
			return fmt.Errorf("release: %v, want the holder's %d keys", res.Msg, len(kids))
		}
		return nil
	}
	// Warm every path: connections, the edge's viewer cache, streaming's
	// video and encryption caches, and the holder decision (the one chain
	// read of the benchmark).
	for _, call := range []func(context.Context) error{licence, segment, release} {
		for range 20 {
			if err := call(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	}

	rate := rates{}
	for _, c := range []struct {
		name string
		call func(context.Context) error
	}{{"gateway/licence", licence}, {"gateway/segment-keyless", segment}, {"direct/release", release}} {
		b.Run(c.name, func(b *testing.B) {
			before := ks.chain.calls.Load()
			lat := timedParallel(b, c.call)
			rate.record(b, c.name)
			b.ReportMetric(micros(lat.quantile(0.50)), "p50-us")
			b.ReportMetric(micros(lat.quantile(0.99)), "p99-us")
			if n := ks.chain.calls.Load() - before; n != 0 {
				b.Errorf("%d chain calls while timed: not the cache-hit path", n)
			}
		})
	}
	b.Run("paired/segment-licence", func(b *testing.B) {
		seg, lic := pairedParallel(b, segment, licence)
		b.ReportMetric(micros(seg), "segment-mean-us")
		b.ReportMetric(micros(lic), "licence-mean-us")
		if lic > 0 {
			b.ReportMetric(float64(seg)/float64(lic), "licence/segment-x")
		}
	})
	b.Run("paired/release-licence", func(b *testing.B) {
		rel, lic := pairedParallel(b, release, licence)
		b.ReportMetric(micros(rel), "release-mean-us")
		b.ReportMetric(micros(lic), "licence-mean-us")
		if lic > 0 {
			b.ReportMetric(float64(rel)/float64(lic), "licence/release-x")
		}
	})
	b.Run("ratio", func(b *testing.B) {
		for b.Loop() {
		}
		if rate.median("gateway/segment-keyless") == 0 || rate.median("direct/release") == 0 {
			return // filtered out by -bench
		}
		b.ReportMetric(rate.median("gateway/licence")/rate.median("gateway/segment-keyless"), "licence/segment-x")
		b.ReportMetric(rate.median("gateway/licence")/rate.median("direct/release"), "licence/release-x")
	})
}

// latencies are the durations of a run's requests, from every goroutine.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, d...)
}

func (l *latencies) quantile(q float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return l.d[min(len(l.d)-1, int(q*float64(len(l.d))))]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// timedParallel runs call from b.RunParallel, 4 goroutines per core so
// that the client's waits do not leave a core idle, and times each call.
func timedParallel(b *testing.B, call func(context.Context) error) *latencies {
	lat := &latencies{}
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		defer func() { lat.add(mine) }()
		for pb.Next() {
			start := time.Now()
			if err := call(b.Context()); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
	})
	return lat
}

// keyServer is a real auth Service serving its Connect handler on loopback
// h2c, with one video whose content keys are made.
type keyServer struct {
	addr  string
	keys  []*authv1.ContentKey
	chain *countingChain
}

func startKeyServer(b *testing.B, id string) *keyServer {
	b.Helper()
	logger := slog.New(slog.DiscardHandler)
	kek, err := secretbox.New([]byte(strings.Repeat("k", secretbox.KeySize)))
	if err != nil {
		b.Fatal(err)
	}
	chain := &countingChain{}
	ev, err := access.NewEvaluator(access.Config{PositiveTTL: time.Hour}, chain, access.NewMemoryCache(nil, 0), logger)
	if err != nil {
		b.Fatal(err)
	}
	policy := &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
		ChainId: 1337, ContractAddress: "0x2222222222222222222222222222222222222222", Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
	}}}
	md := metadataVideos{videos: map[string]*metadatav1.Video{id: {Id: id, Status: metadatav1.VideoStatus_VIDEO_STATUS_READY, AccessPolicy: policy,
		CreatorAddress: "0x1111111111111111111111111111111111111111"}}}
	mdMux := http.NewServeMux()
	mdMux.Handle(metadatav1connect.NewMetadataServiceHandler(md, connect.WithCompressMinBytes(1024)))
	videos := video.FromMetadata(metadatav1connect.NewMetadataServiceClient(h2cClient(), "http://"+serveH2C(b, mdMux)))
	svc, err := auth.New(auth.Config{Domain: "127.0.0.1:8080", URI: "http://127.0.0.1:8080", AllowedChainIDs: []uint64{1337}, DataDir: b.TempDir(), KEK: kek},
		noContractWallets{}, evaluatorChecker{ev}, videos, logger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Close() })
	keys, err := svc.EnsureContentKeys(b.Context(), id, 0)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	// As internal/server builds every handler: small answers go
	// uncompressed.
	mux.Handle(svc.Handler(connect.WithCompressMinBytes(1024)))
	return &keyServer{addr: serveH2C(b, mux), keys: keys, chain: chain}
}

// startEdge puts the gateway's edge in front of the streaming instance at
// addr, with the rate limits off (one client is every viewer here), and
// returns its URL. The edge verifies playback tokens with e's key, as
// streaming does.
func startEdge(b *testing.B, e *env, addr string) string {
	b.Helper()
	logger := slog.New(slog.DiscardHandler)
	ver, err := authtoken.NewVerifier(&keySource{keys: []authtoken.SigningKey{e.key}}, authtoken.VerifierConfig{Issuer: issuer, Now: e.clock.Now}, logger)
	if err != nil {
		b.Fatal(err)
	}
	off := edge.RateLimit{Rate: -1}
	gw, err := edge.New(edge.Config{PerIP: off, PerPlayback: off, PerIdentity: off}, toInstance{addr: addr, next: h2cTransport()}, catalog.Default(), ver, logger)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	b.Cleanup(srv.Close)
	return srv.URL
}

// toInstance stands in for the mesh's transport: every service name
// resolves to the one instance at addr.
type toInstance struct {
	addr string
	next http.RoundTripper
}

func (t toInstance) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host = t.addr
	return t.next.RoundTrip(r)
}

// h2cTransport speaks HTTP/2 without TLS, as the mesh does between
// services.
func h2cTransport() *http.Transport {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{Protocols: p}
}

func h2cClient() *http.Client { return &http.Client{Transport: h2cTransport()} }

// serveH2C serves h on a loopback listener taking HTTP/1.1 and h2c, as a
// service instance does, and returns its address.
func serveH2C(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: h, Protocols: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	b.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// countingChain answers every balance with 1 at once and counts the reads
// that reach it: a decision served from the cache makes none.
type countingChain struct{ calls atomic.Int64 }

func (c *countingChain) HasChain(uint64) bool { return true }
func (c *countingChain) HeadBlock(context.Context, uint64) (uint64, error) {
	c.calls.Add(1)
	return 100, nil
}
func (c *countingChain) SupportsInterface(context.Context, uint64, common.Address, [4]byte, uint64) (bool, error) {
	c.calls.Add(1)
	return true, nil
}
func (c *countingChain) ERC20BalanceOf(context.Context, uint64, common.Address, common.Address, uint64) (*big.Int, error) {
	c.calls.Add(1)
	return big.NewInt(1), nil
}
func (c *countingChain) ERC721BalanceOf(context.Context, uint64, common.Address, common.Address, uint64) (*big.Int, error) {
	c.calls.Add(1)
	return big.NewInt(1), nil
}
func (c *countingChain) ERC721OwnerOf(context.Context, uint64, common.Address, *big.Int, uint64) (common.Address, error) {
	c.calls.Add(1)
	return common.Address{}, nil
}
func (c *countingChain) ERC1155BalanceOf(context.Context, uint64, common.Address, common.Address, *big.Int, uint64) (*big.Int, error) {
	c.calls.Add(1)
	return big.NewInt(1), nil
}

// evaluatorChecker is the evaluator as auth's AccessChecker (the binary's
// adapter also maps the evaluator's errors; none occur here).
type evaluatorChecker struct{ ev *access.Evaluator }

func (c evaluatorChecker) Check(ctx context.Context, p *authv1.AccessPolicy, addr common.Address, bypass bool) (*authv1.CheckAccessResponse, error) {
	d, err := c.ev.Check(ctx, p, addr, bypass)
	if err != nil {
		return nil, err
	}
	return d.Proto(), nil
}

// noContractWallets: no wallet here is a contract (sign-in is not measured).
type noContractWallets struct{}

func (noContractWallets) IsValidSignature(context.Context, uint64, common.Address, common.Hash, []byte) (bool, error) {
	return false, nil
}

// metadataVideos is the metadata service as auth reads a video from it on
// every key request (over the mesh in production): a fixed set of videos,
// so that the hop is measured, not metadata's database.
type metadataVideos struct {
	metadatav1connect.UnimplementedMetadataServiceHandler
	videos map[string]*metadatav1.Video
}

func (m metadataVideos) GetVideo(_ context.Context, req *connect.Request[metadatav1.GetVideoRequest]) (*connect.Response[metadatav1.GetVideoResponse], error) {
	v, ok := m.videos[req.Msg.GetVideoId()]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such video"))
	}
	return connect.NewResponse(&metadatav1.GetVideoResponse{Video: v}), nil
}
