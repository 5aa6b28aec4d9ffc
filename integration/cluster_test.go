package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1/streamingv1connect"
	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1/transcoderv1connect"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/worker/v1/workerv1connect"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/meshtls"
)

// clusterState is the part of the launcher's cluster.json the test reads.
type clusterState struct {
	Plan     string   `json:"plan"`
	Public   string   `json:"public"`
	Gateways []string `json:"gateways"`
	NATS     []string `json:"nats"`
	S3Dir    string   `json:"s3_dir"`
	Chain    string   `json:"chain"`
	Pass     string   `json:"pass"`
	// dir is the cluster's data dir; its tls/ holds every certificate.
	dir       string
	Processes []struct {
		Name    string `json:"name"`
		Kind    string `json:"kind"`
		Service string `json:"service"`
		PID     int    `json:"pid"`
		Addr    string `json:"addr"`
		Admin   string `json:"admin"`
	} `json:"processes"`
}

func (c *clusterState) pid(t *testing.T, name string) int {
	t.Helper()
	for _, p := range c.Processes {
		if p.Name == name {
			return p.PID
		}
	}
	t.Fatalf("cluster.json names no process %q", name)
	return 0
}

// adminsOf maps each process of a service to its admin listener, where
// its metrics are.
func (c *clusterState) adminsOf(t *testing.T, service string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range c.Processes {
		if p.Service == service {
			if p.Admin == "" {
				t.Fatalf("cluster.json names no admin listener for %s", p.Name)
			}
			out[p.Name] = p.Admin
		}
	}
	return out
}

// meshMetricsRefused: a service's mesh listener serves no /metrics; they
// are on the admin listener. (Any answer but 200 will do: a mesh listener
// that takes TLS only refuses a plain request too.)
func (c *clusterState) meshMetricsRefused(t *testing.T, service string) {
	t.Helper()
	for _, p := range c.Processes {
		if p.Service != service {
			continue
		}
		res, err := http.Get("http://" + p.Addr + "/metrics")
		if err != nil {
			continue // refused
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Errorf("GET /metrics of %s's mesh listener: %s, want a refusal", p.Name, res.Status)
		}
	}
}

// startCluster runs `streamgate cluster` (make cluster) and waits for its
// ready line; it is interrupted at cleanup and must exit cleanly.
func startCluster(t *testing.T) *clusterState {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(streamgateBinary(t), "cluster", "--data-dir", dir, "--http-addr", freeAddr(t),
		"--chain-port", "0", "--no-seed", "--registry-ttl", "3s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			keep := filepath.Join(os.TempDir(), fmt.Sprintf("streamgate-cluster-logs-%d", time.Now().Unix()))
			if err := os.CopyFS(keep, os.DirFS(filepath.Join(dir, "logs"))); err == nil {
				t.Logf("the cluster's logs are kept in %s", keep)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("streamgate cluster exited with %v after SIGINT\nstderr:\n%s", err, stderr.String())
			}
		case <-time.After(90 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("streamgate cluster did not stop within 90s of SIGINT\nstderr:\n%s", stderr.String())
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "streamgate cluster ready" {
				ready <- true
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("streamgate cluster exited before ready\nstderr:\n%s", stderr.String())
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("streamgate cluster not ready within 5 minutes\nstderr:\n%s", stderr.String())
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c clusterState
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	// The processes run deploy/k8s/overlays/prod's args and environment
	// (streamgate cluster's built-in plan; deploy/k8s/check keeps it equal
	// to the overlay).
	if c.Plan != "deploy/k8s/overlays/prod" {
		t.Fatalf("cluster.json: plan %q, want deploy/k8s/overlays/prod", c.Plan)
	}
	if len(c.Gateways) != 2 || len(c.NATS) != 3 {
		t.Fatalf("cluster.json: %d gateways, %d NATS servers; want 2 and 3", len(c.Gateways), len(c.NATS))
	}
	return &c
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bearer sends a session's access token.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}
func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, s connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, s)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}
func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// signIn runs `streamgate login` through the public URL (the SIWE domain)
// and returns the session's access token.
func signIn(t *testing.T, public string, args ...string) bearer {
	t.Helper()
	return bearer(login(t, public, args...).AccessToken)
}

// cliSession is the session `streamgate login` keeps in session.json.
type cliSession struct {
	Address      string    `json:"address"`
	ChainID      uint64    `json:"chain_id"`
	AccessToken  string    `json:"access_token"`
	AccessExpiry time.Time `json:"access_token_expire_time"`
	RefreshToken string    `json:"refresh_token"`
}

// login runs `streamgate login` through the public URL and returns the
// session it saved.
func login(t *testing.T, public string, args ...string) cliSession {
	t.Helper()
	config := t.TempDir()
	login := exec.CommandContext(t.Context(), streamgateBinary(t), append([]string{"login", "--server", public}, args...)...)
	login.Env = append(os.Environ(), "XDG_CONFIG_HOME="+config)
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("streamgate login %v: %v\n%s", args, err, out)
	}
	raw, err := os.ReadFile(filepath.Join(config, "streamgate", "session.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s cliSession
	if err := json.Unmarshal(raw, &s); err != nil || s.AccessToken == "" {
		t.Fatalf("session.json: %v", err)
	}
	return s
}

// recovery is one kill and how long the system took to get over it.
type recovery struct {
	what    string
	after   time.Duration
	measure string
}

// prober calls idempotent RPCs through one gateway all along and records
// every call that fails with anything but the answer it expects.
type prober struct {
	mu       sync.Mutex
	calls    int
	failures []string
	slowest  time.Duration
}

func (p *prober) record(name string, d time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	p.slowest = max(p.slowest, d)
	if err != nil {
		p.failures = append(p.failures, fmt.Sprintf("%s at %s: %v", name, time.Now().Format("15:04:05.000"), err))
	}
}

// TestCluster runs the local cluster (`make cluster`) and kills one of each
// part while a video goes through it: the upload is cut on one gateway and
// resumed on the other, a transcoder, a NATS server and an etcd member die
// during the transcode, then one instance each of metadata, auth,
// streaming and the gateway. The video must still become READY exactly
// once and play, a Transfer seen by the surviving auth instance must
// revoke what the other issued, and no idempotent call may fail.
func TestCluster(t *testing.T) {
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found (scripts/install-deps.sh installs it): %v", bin, err)
		}
	}
	c := startCluster(t)
	gwA, gwB := c.Gateways[0], c.Gateways[1]
	ctx := t.Context()
	var recoveries []recovery
	defer func() {
		for _, r := range recoveries {
			t.Logf("kill %-22s recovered in %7s (%s)", r.what, r.after.Round(10*time.Millisecond), r.measure)
		}
	}()

	// A webhook receiver, for the count of video.ready deliveries.
	var hookMu sync.Mutex
	var hooks []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		hooks = append(hooks, string(b))
		hookMu.Unlock()
	}))
	defer receiver.Close()

	creator := signIn(t, c.Public, "--dev")
	if _, err := workerv1connect.NewWorkerServiceClient(http.DefaultClient, gwB, connect.WithInterceptors(creator)).
		CreateWebhook(ctx, connect.NewRequest(&workerv1.CreateWebhookRequest{Url: receiver.URL + "/hook", EventTypes: []string{"video.ready"}})); err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}

	// --- upload: cut on gateway A, resumed on gateway B ------------------
	clip := longClip(t)
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	policy := &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
		ChainId: devchain.ChainID, ContractAddress: c.Pass, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
	}}}
	uploads := uploadv1connect.NewUploadServiceClient(http.DefaultClient, gwA, connect.WithInterceptors(creator))
	created, err := uploads.CreateUpload(ctx, connect.NewRequest(&uploadv1.CreateUploadRequest{
		RequestId: "cluster-test", Title: "Cluster clip", AccessPolicy: policy, SizeBytes: uint64(len(data)), ContentType: "video/mp4", Filename: "clip.mp4",
	}))
	if err != nil {
		t.Fatalf("CreateUpload via gateway A: %v", err)
	}
	up := created.Msg.GetUpload()
	uploadID, videoID := up.GetId(), up.GetVideoId()
	tusPath := strings.TrimPrefix(up.GetTusUrl(), c.Public)
	upAddrs := c.adminsOf(t, "upload")
	c.meshMetricsRefused(t, "upload")
	cut := len(data) / 3
	tusCut(t, gwA, tusPath, creator, data, cut, upAddrs)
	var off int64
	waitFor(t, "the cut PATCH's bytes stored", 30*time.Second, func() (bool, string) {
		off = tusOffset(t, gwB+tusPath, creator)
		return off > 0, "offset 0"
	})
	if off <= 0 || off > int64(cut) {
		t.Fatalf("offset after a PATCH cut at %d bytes = %d, want 0 < offset <= %d (the bytes received are kept)", cut, off, cut)
	}
	first := map[string]float64{}
	for name, addr := range upAddrs {
		first[name] = metricSum(t, addr, uploadBytes)
	}
	// Resume through gateway B in chunks until the instance that did not
	// take the cut PATCH has taken part; then send the rest.
	const chunk = 256 << 10
	for off < int64(len(data)) {
		end := min(off+chunk, int64(len(data)))
		if grew(t, upAddrs, uploadBytes, first) {
			end = int64(len(data))
		}
		if err := tusPatch(ctx, gwB+tusPath, creator, off, data[:end]); err != nil {
			t.Fatalf("PATCH at %d via gateway B: %v", off, err)
		}
		off = tusOffset(t, gwB+tusPath, creator)
	}
	if !grew(t, upAddrs, uploadBytes, first) {
		t.Fatalf("the upload never reached the second upload instance (bytes per instance before the resume %v)", first)
	}
	waitFor(t, "upload completed", 60*time.Second, func() (bool, string) {
		res, err := uploads.GetUpload(ctx, connect.NewRequest(&uploadv1.GetUploadRequest{UploadId: uploadID}))
		if err != nil {
			return false, err.Error()
		}
		return res.Msg.GetUpload().GetState() == uploadv1.UploadState_UPLOAD_STATE_COMPLETED, res.Msg.GetUpload().GetState().String()
	})
	stored, err := os.ReadFile(filepath.Join(c.S3Dir, "streamgate", "media", "uploads", uploadID, "source"))
	if err != nil {
		t.Fatalf("the source in the S3 server's directory: %v", err)
	}
	if got := sha256.Sum256(stored); got != want {
		t.Fatalf("stored source sha256 %x (%d bytes), want %x (%d bytes)", got, len(stored), want, len(data))
	}

	// --- the prober: idempotent calls through gateway B from now on ---------
	var p prober
	probeCtx, stopProbe := context.WithCancel(ctx)
	probing := startProber(probeCtx, &p, gwB, creator, videoID)

	// --- during the transcode: a transcoder, a NATS server, an etcd member --
	jobs := transcoderv1connect.NewTranscoderServiceClient(http.DefaultClient, gwB, connect.WithInterceptors(creator))
	job := func() *transcoderv1.TranscodeJob {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		res, err := jobs.ListJobs(ctx, connect.NewRequest(&transcoderv1.ListJobsRequest{VideoId: videoID}))
		if err != nil || len(res.Msg.GetJobs()) == 0 {
			return nil
		}
		return res.Msg.GetJobs()[0]
	}
	waitFor(t, "the transcode running with progress", 2*time.Minute, func() (bool, string) {
		j := job()
		return j != nil && j.GetState() == transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_RUNNING && j.GetProgressPercent() > 0, fmt.Sprint(j)
	})
	victim := transcoderRunningFFmpeg(t, c)
	first1 := job()
	killed := time.Now()
	kill(t, victim.pid)
	waitFor(t, "another transcoder to take the job over", 3*time.Minute, func() (bool, string) {
		j := job()
		return j != nil && j.GetAttempt() > first1.GetAttempt() && j.GetProgressPercent() > 0, fmt.Sprint(j)
	})
	recoveries = append(recoveries, recovery{victim.name + " (SIGKILL)", time.Since(killed), "until another instance reports progress on the job; bounded by the queue's AckWait"})

	progressAfter := func(what string, pid int) {
		before := job().GetProgressPercent()
		killed := time.Now()
		kill(t, pid)
		waitFor(t, "progress after killing "+what, 2*time.Minute, func() (bool, string) {
			j := job()
			return j != nil && (j.GetProgressPercent() > before || j.GetState() == transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_SUCCEEDED), fmt.Sprint(j)
		})
		recoveries = append(recoveries, recovery{what, time.Since(killed), "until the job's progress moves again"})
	}
	progressAfter("nats-1 (SIGKILL)", c.pid(t, "nats-1"))
	progressAfter("etcd-1 (SIGKILL)", c.pid(t, "etcd-1"))

	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, gwB)
	waitFor(t, "the video READY", 5*time.Minute, func() (bool, string) {
		res, err := videos.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
		if err != nil {
			return false, err.Error()
		}
		v := res.Msg.GetVideo()
		if v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_FAILED {
			t.Fatalf("video FAILED: %s", v.GetStatusReason())
		}
		return v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_READY, v.GetStatus().String()
	})

	// --- a viewer holding the pass, with tokens from both auth instances ----
	minter, err := devchain.DialMinter(ctx, c.Chain)
	if err != nil {
		t.Fatal(err)
	}
	defer minter.Close()
	pass, err := minter.MintPass(ctx, devchain.DeployerAddress)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "viewer.key")
	if err := os.WriteFile(keyFile, []byte(devchain.DeployerKeyHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	viewer := signIn(t, c.Public, "--key", keyFile)
	authAddrs := c.adminsOf(t, "auth")
	issuedBefore := map[string]float64{}
	for name, addr := range authAddrs {
		issuedBefore[name] = metricSum(t, addr, tokensIssued)
	}
	authB := authv1connect.NewAuthServiceClient(http.DefaultClient, gwB, connect.WithInterceptors(viewer))
	var tokens []string
	for i := 0; i < 40 && (len(tokens) < 2 || !grew(t, authAddrs, tokensIssued, issuedBefore)); i++ {
		res, err := authB.IssuePlaybackToken(ctx, connect.NewRequest(&authv1.IssuePlaybackTokenRequest{VideoId: videoID}))
		if err != nil {
			t.Fatalf("IssuePlaybackToken for the holder: %v", err)
		}
		tokens = append(tokens, res.Msg.GetToken())
	}
	if !grew(t, authAddrs, tokensIssued, issuedBefore) {
		t.Fatalf("40 playback tokens all came from one auth instance (issued before: %v)", issuedBefore)
	}

	// --- one instance each of metadata, auth, streaming and the gateway -----
	for _, name := range []string{"metadata-a", "auth-a", "streaming-a", "gateway-a"} {
		p.mu.Lock()
		calls := p.calls
		p.mu.Unlock()
		killed := time.Now()
		kill(t, c.pid(t, name))
		// Recovered when the prober has made a full round of calls since.
		waitFor(t, "calls after killing "+name, time.Minute, func() (bool, string) {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.calls >= calls+len(probeNames)*2, strconv.Itoa(p.calls - calls)
		})
		recoveries = append(recoveries, recovery{name + " (SIGKILL)", time.Since(killed), "until two rounds of idempotent calls through gateway B have answered"})
	}

	// --- HLS and DASH play through the surviving gateway --------------------
	streaming := streamingv1connect.NewStreamingServiceClient(http.DefaultClient, gwB)
	info, err := streaming.GetPlaybackInfo(ctx, connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: videoID, Token: tokens[0]}))
	if err != nil {
		t.Fatalf("GetPlaybackInfo: %v", err)
	}
	hls := strings.Replace(info.Msg.GetHlsUrl(), c.Public, gwB, 1)
	dash := strings.Replace(info.Msg.GetDashUrl(), c.Public, gwB, 1)
	// Gated at upload, so packaged encrypted (automatic packaging): the
	// segments are public bytes, the keys the holder's alone.
	if mc := checkHLS(t, hls); mc.encrypted == 0 || mc.encrypted != mc.segments {
		t.Errorf("HLS: %d of %d segments encrypted, want all of a video gated at upload", mc.encrypted, mc.segments)
	}
	if mc := checkDASH(t, dash); mc.encrypted == 0 || mc.encrypted != mc.segments {
		t.Errorf("DASH: %d of %d segments encrypted, want all", mc.encrypted, mc.segments)
	}
	kid := hlsKeyID.FindStringSubmatch(fetch(t, resolve(t, hls, segmentLine.FindString(fetch(t, hls)))))
	if kid == nil {
		t.Fatal("no KEYID in the first media playlist")
	}
	licence := licenceURL(t, hls)

	// --- a Transfer revokes every grant, whichever instance issued it -------
	transferred := time.Now()
	if _, err := minter.GivePass(ctx, pass.TokenID, common.HexToAddress("0x000000000000000000000000000000000000dEaD")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every playback token refused after the Transfer", time.Minute, func() (bool, string) {
		for i, tok := range tokens {
			_, err := streaming.GetPlaybackInfo(ctx, connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: videoID, Token: tok}))
			if code := connect.CodeOf(err); code != connect.CodePermissionDenied && code != connect.CodeUnauthenticated {
				return false, fmt.Sprintf("token %d: %v", i, err)
			}
		}
		return true, ""
	})
	recoveries = append(recoveries, recovery{"(Transfer of the pass)", time.Since(transferred), "until auth-b refuses the tokens both auth instances issued"})
	if status, keys := requestKeys(t, licence, strings.ToLower(kid[1])); status != http.StatusForbidden && status != http.StatusUnauthorized {
		t.Errorf("the key request after the Transfer answered %d with %d keys, want 401 or 403", status, len(keys))
	}
	resp, err := http.Get(hls)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			t.Errorf("the HLS manifest still answers %d after the Transfer", resp.StatusCode)
		}
	}

	stopProbe()
	<-probing
	if len(p.failures) > 0 {
		t.Errorf("%d of %d idempotent calls through gateway B failed:\n%s", len(p.failures), p.calls, strings.Join(p.failures, "\n"))
	}
	t.Logf("%d idempotent calls through gateway B, %d failed; slowest %s", p.calls, len(p.failures), p.slowest.Round(time.Millisecond))

	// --- READY exactly once -----------------------------------------------
	if n := countReadyEvents(t, c, videoID); n != 1 {
		t.Errorf("video.ready published %d times for %s, want 1", n, videoID)
	}
	hookMu.Lock()
	var delivered int
	for _, h := range hooks {
		if strings.Contains(h, `"video.ready"`) && strings.Contains(h, videoID) {
			delivered++
		}
	}
	hookMu.Unlock()
	if delivered != 1 {
		t.Errorf("the video.ready webhook was delivered %d times, want 1 (deliveries: %v)", delivered, hooks)
	}
}

// The instance metrics that say which instance did the work.
const (
	uploadBytes  = "streamgate_upload_bytes"
	tokensIssued = "streamgate_auth_playback_tokens"
)

var probeNames = []string{"metadata.GetVideo", "metadata.ListVideos", "gateway.GetClientConfig", "auth.GetSession", "transcoder.ListJobs", "streaming.GetPlaybackInfo"}

func startProber(ctx context.Context, p *prober, gw string, creator bearer, videoID string) <-chan struct{} {
	withSession := connect.WithInterceptors(creator)
	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, gw)
	gateway := gatewayv1connect.NewGatewayServiceClient(http.DefaultClient, gw)
	auth := authv1connect.NewAuthServiceClient(http.DefaultClient, gw, withSession)
	jobs := transcoderv1connect.NewTranscoderServiceClient(http.DefaultClient, gw, withSession)
	streaming := streamingv1connect.NewStreamingServiceClient(http.DefaultClient, gw)
	calls := []func(context.Context) error{
		func(ctx context.Context) error {
			_, err := videos.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
			return err
		},
		func(ctx context.Context) error {
			_, err := videos.ListVideos(ctx, connect.NewRequest(&metadatav1.ListVideosRequest{}))
			return err
		},
		func(ctx context.Context) error {
			_, err := gateway.GetClientConfig(ctx, connect.NewRequest(&gatewayv1.GetClientConfigRequest{}))
			return err
		},
		func(ctx context.Context) error {
			_, err := auth.GetSession(ctx, connect.NewRequest(&authv1.GetSessionRequest{}))
			return err
		},
		func(ctx context.Context) error {
			_, err := jobs.ListJobs(ctx, connect.NewRequest(&transcoderv1.ListJobsRequest{VideoId: videoID}))
			return err
		},
		func(ctx context.Context) error {
			// Without a token a gated video is refused: streaming's answer.
			_, err := streaming.GetPlaybackInfo(ctx, connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: videoID}))
			if c := connect.CodeOf(err); c == connect.CodeUnauthenticated || c == connect.CodePermissionDenied {
				return nil
			}
			if err == nil {
				return errors.New("a gated video answered without a token")
			}
			return err
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for i, call := range calls {
				cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				start := time.Now()
				err := call(cctx)
				cancel()
				if ctx.Err() != nil {
					return
				}
				p.record(probeNames[i], time.Since(start), err)
			}
			// About 20 calls a second: under the gateway's per-address
			// rate limit, which every call of this test shares.
			time.Sleep(250 * time.Millisecond)
		}
	}()
	return done
}

// longClip is a 20 s 720p clip at a high bitrate: a file of several MiB,
// and a transcode long enough to kill parts of the cluster during it.
func longClip(t *testing.T) string {
	t.Helper()
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	gen := exec.CommandContext(t.Context(), "ffmpeg", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=20",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=20",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "3M", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", clip)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("making a test clip: %v\n%s", err, out)
	}
	return clip
}

// tusCut starts a PATCH of all of data over a raw connection, sends the
// first n bytes of the body, and closes the connection: a dropped
// connection, as a laptop that sleeps or a train that enters a tunnel
// makes. It closes once the upload instances' byte counters show all n
// bytes read, so the cut falls after them; what the server keeps of them
// is what HEAD reports.
func tusCut(t *testing.T, base, path string, auth bearer, data []byte, n int, upAddrs map[string]string) {
	t.Helper()
	received := func() (sum float64) {
		for _, addr := range upAddrs {
			sum += metricSum(t, addr, uploadBytes)
		}
		return sum
	}
	before := received()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n",
		path, strings.TrimPrefix(base, "http://"), auth, len(data))
	if _, err := conn.Write(data[:n]); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitFor(t, "the cut PATCH's bytes at an upload instance", 30*time.Second, func() (bool, string) {
		got := received() - before
		return got >= float64(n), fmt.Sprintf("%.0f of %d bytes read", got, n)
	})
}

// tusPatch sends data[off:] as one PATCH.
func tusPatch(ctx context.Context, url string, auth bearer, off int64, data []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, url, bytes.NewReader(data[off:]))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+string(auth))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("PATCH: %s: %s", res.Status, b)
	}
	return nil
}

func tusOffset(t *testing.T, url string, auth bearer) int64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, url, nil)
	req.Header.Set("Authorization", "Bearer "+string(auth))
	req.Header.Set("Tus-Resumable", "1.0.0")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("HEAD %s: %v", url, err)
	}
	res.Body.Close()
	off, err := strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
	if res.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("HEAD %s: %s, Upload-Offset %q", url, res.Status, res.Header.Get("Upload-Offset"))
	}
	return off
}

// metricSum adds up every sample of the metrics whose name starts with
// prefix on one process's admin listener's /metrics (each cluster process
// runs one service).
func metricSum(t *testing.T, addr, prefix string) float64 {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics of %s: %v", addr, err)
	}
	defer res.Body.Close()
	var sum float64
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// grew: every instance's metric has grown since before.
func grew(t *testing.T, addrs map[string]string, metric string, before map[string]float64) bool {
	t.Helper()
	for name, addr := range addrs {
		if metricSum(t, addr, metric) <= before[name] {
			return false
		}
	}
	return true
}

type victim struct {
	name string
	pid  int
}

// transcoderRunningFFmpeg finds the transcoder process whose child is an
// ffmpeg.
func transcoderRunningFFmpeg(t *testing.T, c *clusterState) victim {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil || !bytes.Contains(stat, []byte("(ffmpeg)")) {
				continue
			}
			// stat: pid (comm) state ppid ...
			rest := stat[bytes.LastIndexByte(stat, ')')+2:]
			f := strings.Fields(string(rest))
			ppid, _ := strconv.Atoi(f[1])
			for _, p := range c.Processes {
				if p.Service == "transcoder" && p.PID == ppid {
					_ = pid
					return victim{p.Name, p.PID}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no transcoder of the cluster runs ffmpeg")
	return victim{}
}

func kill(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after %s (last: %s)", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var segmentLine = regexp.MustCompile(`(?m)^[^#\s].*$`)

func fetch(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", url, res.Status, err, b)
	}
	return string(b)
}

func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	if strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://") {
		return ref
	}
	i := strings.LastIndexByte(strings.SplitN(base, "?", 2)[0], '/')
	u := base[:i+1] + ref
	// Keep the token query on relative references that carry none.
	if q := strings.SplitN(base, "?", 2); len(q) == 2 && !strings.Contains(ref, "?") {
		u += "?" + q[1]
	}
	return u
}

// countReadyEvents reads the VIDEOS stream from the start through a NATS
// server still running and counts video.ready messages about videoID.
func countReadyEvents(t *testing.T, c *clusterState, videoID string) int {
	t.Helper()
	// NATS takes mesh certificates only; metadata's may read VIDEOS.
	src, err := meshtls.Load(meshtls.Options{Dir: filepath.Join(c.dir, "tls", "metadata"), Service: "metadata"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(strings.Join(c.NATS[1:], ","), nats.Secure(src.ClientConfig("nats")))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "VIDEOS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"video.ready"}})
	if err != nil {
		t.Fatalf("ordered consumer on VIDEOS: %v", err)
	}
	n := 0
	for {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if bytes.Contains(m.Data(), []byte(videoID)) {
				n++
			}
		}
		if got == 0 {
			return n
		}
	}
}
