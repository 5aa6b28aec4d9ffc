package node_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
	"github.com/streamgate/streamgate/internal/testing/pgtest"
	"github.com/streamgate/streamgate/internal/testing/s3test"
	"github.com/streamgate/streamgate/node"
	"github.com/streamgate/streamgate/services/auth/siwe"
)

// benchTusChunkBytes is the size of one tus PATCH, as `streamgate upload`
// sends them (cmd/streamgate: uploadChunkBytes).
const benchTusChunkBytes = 16 << 20

// BenchmarkTusUploadS3VsMultipartPUT measures issue #17's target: a tus
// upload of a 500 MiB file through the gateway to upload on PostgreSQL and
// S3 (versitygw on loopback) reaches at least 0.8x the throughput of one
// plain multipart upload of the same bytes straight to the same S3 server.
//
// Both sides send one stream at a time, as a client with one connection
// does:
//
//   - put: blob.S3.Put of the file (the media store's own client from
//     blob.Open, the one tusd's s3store uses): CreateMultipartUpload,
//     16 MiB parts (tusd's part size here, services/upload: tusS3PartSize)
//     sent one after the other, CompleteMultipartUpload.
//   - tus: what `streamgate upload` does, signed in with SIWE:
//     CreateUpload through the gateway, a HEAD of the tus URL, then 16 MiB
//     PATCHes one at a time, until the last one is answered (tusd has then
//     completed the multipart upload and the service has marked it
//     received). The validation that follows (the copy into the media
//     store and the probe, which refuses these random bytes) is waited for
//     outside the timing, so that it does not overlap the next transfer.
//
// gateway, auth, metadata and upload run in this process with node.Run
// (as TestUploadInstancesOnPostgresAndS3 does), on embedded etcd and NATS,
// a PostgreSQL started for the benchmark and a simulated chain for SIWE.
// Each op is STREAMGATE_BENCH_UPLOAD_ROUNDS (default 3) rounds of one put
// and one tus upload, their order swapping every round. Metrics: the median
// MiB/s of each side and the median of the rounds' ratios tus/put (ratio,
// aim >= 0.8). The size is STREAMGATE_BENCH_UPLOAD_MB MiB (default 500; 64
// with -short); the bytes are a seeded pseudo-random file on disk.
// STREAMGATE_BENCH_TUS_CHUNK_MB sets the PATCH size in MiB instead of the
// CLI's.
//
//	go test -run '^$' -bench BenchmarkTusUploadS3VsMultipartPUT -count 1 -timeout 30m ./node/
func BenchmarkTusUploadS3VsMultipartPUT(b *testing.B) {
	size := int64(benchEnvInt(b, "STREAMGATE_BENCH_UPLOAD_MB", map[bool]int{false: 500, true: 64}[testing.Short()])) << 20
	rounds := benchEnvInt(b, "STREAMGATE_BENCH_UPLOAD_ROUNDS", 3)
	chunk := int64(benchEnvInt(b, "STREAMGATE_BENCH_TUS_CHUNK_MB", benchTusChunkBytes>>20)) << 20
	ctx := b.Context()
	src := filepath.Join(b.TempDir(), "upload.bin")
	writeBenchFile(b, src, size)

	etcdSrv, _ := etcdservertest.Start(b)
	natsSrv := natsservertest.Start(b)
	s3Srv := s3test.Start(b)
	s3Srv.SetEnv(b)
	dev, err := devchain.New(ctx, devchain.Config{BlockInterval: time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(dev.Close)
	settings := node.Settings{
		DataDir:        b.TempDir(),
		PublicBaseURL:  "http://127.0.0.1:8080",
		DatabaseURL:    pgtest.Start(b).NewDatabase(b),
		BlobURL:        s3Srv.URL("media"),
		Chains:         map[uint64]string{devchain.ChainID: dev.RPCURL()},
		MaxUploadBytes: uint64(size),
	}
	addrs, _, err := startNode(b, etcdSrv.Endpoint(), natsSrv.ClientURL(), settings, "gateway", "auth", "metadata", "upload")
	if err != nil {
		b.Fatal(err)
	}
	gateway := "http://" + addrs["gateway"]
	store, err := blob.Open(ctx, s3Srv.URL("bench"))
	if err != nil {
		b.Fatal(err)
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}

	put := func(round int) time.Duration {
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		objKey := fmt.Sprintf("put/%d", round)
		started := time.Now()
		n, err := store.Put(ctx, objKey, f)
		took := time.Since(started)
		if err != nil || n != size {
			b.Fatalf("put: %d bytes, %v", n, err)
		}
		if err := store.Delete(ctx, objKey); err != nil {
			b.Fatal(err)
		}
		return took
	}
	tus := func(round int) time.Duration {
		// Signed in afresh each round (untimed), so that a long run
		// never outlives the access token.
		token := benchSignIn(b, gateway, key)
		bearer := connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", "Bearer "+token)
				return next(ctx, req)
			}
		}))
		client := uploadv1connect.NewUploadServiceClient(http.DefaultClient, gateway, bearer)
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		httpClient := &http.Client{} // the CLI's: the default transport
		defer httpClient.CloseIdleConnections()

		started := time.Now()
		res, err := client.CreateUpload(ctx, connect.NewRequest(&uploadv1.CreateUploadRequest{
			RequestId: fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), round), Title: "bench",
			SizeBytes: uint64(size), ContentType: "video/mp4", Filename: "upload.mp4",
		}))
		if err != nil {
			b.Fatalf("create upload: %v", err)
		}
		up := res.Msg.GetUpload()
		// The tus URL is on the public base URL; the gateway listens on
		// its own port.
		u, err := url.Parse(up.GetTusUrl())
		if err != nil {
			b.Fatal(err)
		}
		u.Host = addrs["gateway"]
		tusURL := u.String()
		offset := benchTusHead(b, httpClient, tusURL, token)
		for offset < size {
			n := min(chunk, size-offset)
			offset = benchTusPatch(b, httpClient, tusURL, token, io.NewSectionReader(f, offset, n), offset, n)
		}
		took := time.Since(started)

		// Untimed: let validation (a copy of the whole file within S3,
		// then the probe) end before the next transfer starts.
		deadline := time.Now().Add(10 * time.Minute)
		for {
			res, err := client.GetUpload(ctx, connect.NewRequest(&uploadv1.GetUploadRequest{UploadId: up.GetId()}))
			if err != nil {
				b.Fatalf("get upload: %v", err)
			}
			st := res.Msg.GetUpload().GetState()
			if st != uploadv1.UploadState_UPLOAD_STATE_VALIDATING && st != uploadv1.UploadState_UPLOAD_STATE_UPLOADING {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("upload %s still %v after 10 minutes", up.GetId(), st)
			}
			time.Sleep(200 * time.Millisecond)
		}
		return took
	}

	mib := float64(size) / (1 << 20)
	var putRates, tusRates, ratios []float64
	for b.Loop() {
		for r := range rounds {
			round := len(ratios)
			var tp, tt time.Duration
			// Alternate which goes first, so that drift in the machine's
			// load (and the page cache's state) falls on both.
			if round%2 == 0 {
				tp, tt = put(round), tus(round)
			} else {
				tt, tp = tus(round), put(round)
			}
			pr, tr := mib/tp.Seconds(), mib/tt.Seconds()
			putRates, tusRates, ratios = append(putRates, pr), append(tusRates, tr), append(ratios, tr/pr)
			b.Logf("round %d (%s first): put %.1f MiB/s, tus %.1f MiB/s, ratio %.2f", r+1, map[bool]string{true: "put", false: "tus"}[round%2 == 0], pr, tr, tr/pr)
		}
	}
	b.ReportMetric(median(putRates), "put-MiB/s")
	b.ReportMetric(median(tusRates), "tus-MiB/s")
	b.ReportMetric(median(ratios), "ratio")
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

func benchEnvInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// writeBenchFile writes size seeded pseudo-random (incompressible, the
// same every run) bytes to path, one MiB at a time.
func writeBenchFile(b *testing.B, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{'s', 't', 'r', 'e', 'a', 'm', 'g', 'a', 't', 'e'})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		chunk := buf[:min(int64(len(buf)), left)]
		_, _ = rng.Read(chunk)
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// benchSignIn signs in with key through the gateway (Sign-In with
// Ethereum, as `streamgate login` does) and returns the access token.
func benchSignIn(b *testing.B, gateway string, key *ecdsa.PrivateKey) string {
	ctx := b.Context()
	client := authv1connect.NewAuthServiceClient(http.DefaultClient, gateway)
	ch, err := client.CreateChallenge(ctx, connect.NewRequest(&authv1.CreateChallengeRequest{
		Address: crypto.PubkeyToAddress(key.PublicKey).Hex(), ChainId: devchain.ChainID,
	}))
	if err != nil {
		b.Fatalf("create challenge: %v", err)
	}
	sig, err := siwe.SignEIP191(ch.Msg.GetMessage(), key)
	if err != nil {
		b.Fatal(err)
	}
	res, err := client.SignIn(ctx, connect.NewRequest(&authv1.SignInRequest{Message: ch.Msg.GetMessage(), Signature: hexutil.Encode(sig)}))
	if err != nil {
		b.Fatalf("sign in: %v", err)
	}
	return res.Msg.GetAccessToken()
}

func benchTusRequest(b *testing.B, method, tusURL, token string, body io.Reader) *http.Request {
	req, err := http.NewRequestWithContext(b.Context(), method, tusURL, body)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// benchTusHead returns the server's offset of the upload.
func benchTusHead(b *testing.B, c *http.Client, tusURL, token string) int64 {
	resp, err := c.Do(benchTusRequest(b, http.MethodHead, tusURL, token, nil))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if resp.StatusCode/100 != 2 || err != nil {
		b.Fatalf("HEAD %s: %s, Upload-Offset %q", tusURL, resp.Status, resp.Header.Get("Upload-Offset"))
	}
	return off
}

// benchTusPatch sends n bytes at offset and returns the server's new offset.
func benchTusPatch(b *testing.B, c *http.Client, tusURL, token string, body io.Reader, offset, n int64) int64 {
	req := benchTusRequest(b, http.MethodPatch, tusURL, token, body)
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	resp, err := c.Do(req)
	if err != nil {
		b.Fatalf("PATCH at %d: %v", offset, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	next, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if resp.StatusCode/100 != 2 || err != nil || next != offset+n {
		b.Fatalf("PATCH at %d: %s, Upload-Offset %q: %s", offset, resp.Status, resp.Header.Get("Upload-Offset"), strings.TrimSpace(string(msg)))
	}
	return next
}
