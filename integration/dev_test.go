package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
)

var serviceNames = []string{"auth", "cache", "gateway", "metadata", "monitor", "streaming", "transcoder", "upload", "worker"}

// devPlatform is a running `streamgate dev` process.
type devPlatform struct {
	gatewayURL  string
	gatewayAddr string
	// adminAddr is the process's admin listener (metrics, health, full
	// reflection).
	adminAddr string
	etcdURL   string
	natsURL   string
	// operatorToken is the dev operator credential printed at start.
	operatorToken string
	// dataDir is dev's --data-dir; its mesh certificates are in tls/.
	dataDir string
	// console is what dev printed on stdout after its ready line: the
	// notable events.
	console *lines
}

// lines collects lines written from another goroutine.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (c *lines) add(l string) { c.mu.Lock(); c.l = append(c.l, l); c.mu.Unlock() }

// waitFor waits up to d for a line containing every part.
func (c *lines) waitFor(d time.Duration, parts ...string) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c.mu.Lock()
		found := slices.ContainsFunc(c.l, func(l string) bool {
			return !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(l, p) })
		})
		c.mu.Unlock()
		if found {
			return true
		}
	}
	return false
}

// operatorAuth sends the operator credential on every call.
func (p *devPlatform) operatorAuth() connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+p.operatorToken)
			return next(ctx, req)
		}
	}), streamingAuth{p.operatorToken})
}

// streamingAuth adds the bearer token to streaming calls.
type streamingAuth struct{ token string }

func (a streamingAuth) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }
func (a streamingAuth) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+a.token)
		return conn
	}
}
func (a streamingAuth) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// startDev runs `streamgate dev` in a temp data dir and waits for its ready
// line. The process is interrupted (as Ctrl-C would) at cleanup, and must
// exit cleanly.
func startDev(t *testing.T) *devPlatform {
	t.Helper()
	addr := freeAddr(t)
	dataDir := t.TempDir()
	cmd := exec.Command(streamgateBinary(t), "dev",
		"--data-dir", dataDir,
		"--http-addr", addr,
		"--probe-interval", "200ms",
		"--chain-port", "0",
		"--log-level", "WARN",
		"--log-file", filepath.Join(dataDir, "dev.log"),
		"--no-seed") // the demo seed would add a video and a transcode to every run
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("streamgate dev exited with %v after SIGINT\nstderr:\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("streamgate dev did not exit within 30s of SIGINT\nstderr:\n%s", stderr.String())
		}
	})

	ready := make(chan []string, 1)
	console := &lines{}
	go func() {
		var lines []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "ready") {
				ready <- lines
				for sc.Scan() {
					console.add(sc.Text())
				}
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		close(ready)
	}()
	select {
	case lines, ok := <-ready:
		if !ok {
			t.Fatalf("streamgate dev exited before ready\nstderr:\n%s", stderr.String())
		}
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "http://"+addr) }) {
			t.Errorf("ready output %q does not print the gateway URL http://%s", lines, addr)
		}
		p := &devPlatform{gatewayURL: "http://" + addr, gatewayAddr: addr, dataDir: dataDir, console: console}
		for _, l := range lines {
			if v, ok := strings.CutPrefix(l, "etcd:"); ok {
				p.etcdURL = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "nats:"); ok {
				p.natsURL = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "operator:"); ok {
				p.operatorToken, _, _ = strings.Cut(strings.TrimSpace(v), " ")
			}
			if v, ok := strings.CutPrefix(l, "admin:"); ok {
				u, _, _ := strings.Cut(strings.TrimSpace(v), " ")
				p.adminAddr = strings.TrimPrefix(u, "http://")
			}
		}
		if p.etcdURL == "" || p.natsURL == "" || p.operatorToken == "" || p.adminAddr == "" {
			t.Fatalf("ready output %q does not name the etcd and NATS endpoints, the operator token and the admin listener", lines)
		}
		return p
	case <-time.After(2 * time.Minute):
		t.Fatalf("streamgate dev not ready within 2 minutes\nstderr:\n%s", stderr.String())
	}
	panic("unreachable")
}

// devWallet is the dev chain's demo wallet (`streamgate login --dev`).
const devWallet = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

// clipFile makes a 5 s 640x360 H.264/AAC test clip.
func clipFile(t *testing.T) string { return clipOf(t, 5) }

// clipOf makes a test clip of the given length in seconds.
func clipOf(t *testing.T, seconds int) string {
	t.Helper()
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	gen := exec.CommandContext(t.Context(), "ffmpeg", "-v", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=640x360:rate=25:duration=%d", seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", clip)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("making a test clip (ffmpeg comes from scripts/install-deps.sh): %v\n%s", err, out)
	}
	return clip
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestDev starts the whole platform and checks it through the gateway only.
func TestDev(t *testing.T) {
	p := startDev(t)

	t.Run("all nine services are SERVING according to the monitor", func(t *testing.T) {
		client := monitorv1connect.NewMonitorServiceClient(http.DefaultClient, p.gatewayURL, p.operatorAuth())
		// Without the operator credential, the operator RPC is refused.
		_, err := monitorv1connect.NewMonitorServiceClient(http.DefaultClient, p.gatewayURL).
			GetSystemHealth(t.Context(), connect.NewRequest(&monitorv1.GetSystemHealthRequest{}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("GetSystemHealth without the operator credential: %v, want Unauthenticated", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		// Follow the health stream until the system is SERVING.
		stream, err := client.WatchSystemHealth(ctx, connect.NewRequest(&monitorv1.WatchSystemHealthRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		var last string
		for stream.Receive() {
			msg := stream.Msg()
			last = fmt.Sprint(msg)
			if msg.GetSystemStatus() == monitorv1.ServingStatus_SERVING_STATUS_SERVING {
				break
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("health stream: %v (last message %s)", err, last)
		}
		res, err := client.GetSystemHealth(ctx, connect.NewRequest(&monitorv1.GetSystemHealthRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range res.Msg.GetSystemHealth().GetServices() {
			if s.GetStatus() != monitorv1.ServingStatus_SERVING_STATUS_SERVING {
				t.Errorf("service %s is %v", s.GetService(), s.GetStatus())
			}
			if len(s.GetInstances()) != 1 {
				t.Errorf("service %s has %d instances, want 1", s.GetService(), len(s.GetInstances()))
			}
			got = append(got, s.GetService())
		}
		if !slices.Equal(got, serviceNames) {
			t.Errorf("services = %v, want %v", got, serviceNames)
		}
	})

	t.Run("a CLI upload through the gateway becomes a READY video", func(t *testing.T) {
		clip := clipFile(t)
		out, err := exec.CommandContext(t.Context(), streamgateBinary(t), "upload",
			"--gateway", p.gatewayURL, "--title", "Integration clip", "--json", clip).Output()
		if err != nil {
			t.Fatalf("streamgate upload: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		var ids struct {
			UploadID string `json:"upload_id"`
			VideoID  string `json:"video_id"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ids); err != nil || ids.VideoID == "" {
			t.Fatalf("last line %q is not the ids as JSON: %v", lines[len(lines)-1], err)
		}
		videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, p.gatewayURL)
		deadline := time.Now().Add(2 * time.Minute)
		var v *metadatav1.Video
		for {
			res, err := videos.GetVideo(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: ids.VideoID}))
			if err != nil {
				t.Fatalf("GetVideo: %v", err)
			}
			v = res.Msg.GetVideo()
			if v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_READY || v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_FAILED {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("video still %v after 2 minutes", v.GetStatus())
			}
			time.Sleep(200 * time.Millisecond) // polling the public API, as a client would
		}
		if v.GetStatus() != metadatav1.VideoStatus_VIDEO_STATUS_READY {
			t.Fatalf("video ended %v: %s", v.GetStatus(), v.GetStatusReason())
		}
		if v.GetTitle() != "Integration clip" || len(v.GetRenditions()) == 0 || v.GetHlsManifestPath() == "" || v.GetDashManifestPath() == "" {
			t.Errorf("READY video = %v, want its title, renditions and manifests", v)
		}
		// The console tells the story in a few lines; the full log is in
		// the file.
		for _, want := range [][]string{{"upload completed", ids.VideoID}, {"transcoding", ids.VideoID}, {"video ready", ids.VideoID, "Integration clip"}} {
			if !p.console.waitFor(10*time.Second, want...) {
				p.console.mu.Lock()
				t.Errorf("dev's console has no line with %q; it printed:\n%s", want, strings.Join(p.console.l, "\n"))
				p.console.mu.Unlock()
			}
		}
		// A public video plays through the gateway: ffprobe reads the HLS
		// master and the DASH MPD over HTTP as any player would.
		for _, manifest := range []string{v.GetHlsManifestPath(), v.GetDashManifestPath()} {
			url := p.gatewayURL + "/play/" + ids.VideoID + "/" + manifest
			out, err := exec.CommandContext(t.Context(), "ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", url).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "h264") {
				t.Errorf("ffprobe %s: %v\n%s", url, err, out)
			}
		}
	})

	t.Run("signing in with the dev wallet gives a session the gateway accepts", func(t *testing.T) {
		sg := newCLI(t, p.gatewayURL)
		sg.run("login", "--dev")
		// The upload now carries the session token (SIWE-signed by the dev
		// wallet), not the dev header: the video's creator is that wallet.
		videoID := sg.upload(clipFile(t))
		res, err := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, p.gatewayURL).
			GetVideo(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Msg.GetVideo().GetCreatorAddress(); got != devWallet {
			t.Errorf("creator = %s, want the dev wallet %s", got, devWallet)
		}
	})

	t.Run("the creator CLI: metadata and policy at upload, video edits, webhooks", func(t *testing.T) {
		cl := newCLI(t, p.gatewayURL)
		sg := cl.run
		sg("login", "--dev")
		// The chain by the name GetClientConfig lists ("StreamGate dev chain").
		videoID := cl.upload(clipFile(t), "--title", "Creator clip", "--description", "Shot on a tram", "--tags", "travel,Tram",
			"--policy", "erc721:streamgate-dev-chain:0x5fbdb2315678afecb367f032d93f642f64180aa3")
		var got struct {
			Video struct {
				Title, Description, Status, Etag string
				Tags                             []string
				AccessPolicy                     *struct {
					Mode  string
					Rules []struct {
						ChainID         string `json:"chain_id"`
						ContractAddress string `json:"contract_address"`
					}
				} `json:"access_policy"`
			}
		}
		getVideo := func() {
			t.Helper()
			if err := json.Unmarshal([]byte(sg("video", "get", videoID, "--json")), &got); err != nil {
				t.Fatal(err)
			}
		}
		getVideo()
		v := got.Video
		if v.Description != "Shot on a tram" || strings.Join(v.Tags, ",") != "travel,tram" || v.AccessPolicy == nil || v.AccessPolicy.Mode != "ACCESS_MODE_ALL" ||
			len(v.AccessPolicy.Rules) != 1 || v.AccessPolicy.Rules[0].ChainID != "1337" || v.AccessPolicy.Rules[0].ContractAddress != "0x5FbDB2315678afecb367f032d93F642f64180aa3" {
			t.Errorf("video get --json = %+v", v)
		}
		if out := sg("video", "update", videoID, "--title", "Creator clip, edited"); !strings.Contains(out, "updated "+videoID+": title") {
			t.Errorf("video update printed %q", out)
		}
		if out := sg("video", "policy", videoID, "--public"); !strings.Contains(out, "public: anyone may watch") {
			t.Errorf("video policy --public printed %q", out)
		}
		getVideo()
		if got.Video.Title != "Creator clip, edited" || got.Video.Description != "Shot on a tram" || got.Video.AccessPolicy.Mode != "ACCESS_MODE_PUBLIC" {
			t.Errorf("after update and policy: %+v", got.Video)
		}

		// A webhook on this machine (dev mode accepts http:// on loopback).
		hits := make(chan string, 4)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits <- r.Header.Get("StreamGate-Signature")
			w.WriteHeader(http.StatusNoContent)
		}))
		defer hook.Close()
		var created struct {
			Webhook struct{ ID string }
			Secret  string
		}
		if err := json.Unmarshal([]byte(sg("webhook", "create", "--url", hook.URL, "--events", "video.ready,video.failed", "--json")), &created); err != nil ||
			!strings.HasPrefix(created.Webhook.ID, "whk_") || !strings.HasPrefix(created.Secret, "whsec_") {
			t.Fatalf("webhook create --json: %+v (%v)", created, err)
		}
		if out := sg("webhook", "ls"); !strings.Contains(out, created.Webhook.ID) {
			t.Errorf("webhook ls:\n%s", out)
		}
		if out := sg("webhook", "test", created.Webhook.ID); !strings.Contains(out, "answered 204") {
			t.Errorf("webhook test printed %q", out)
		}
		if sig := <-hits; !strings.Contains(sig, "v1=") {
			t.Errorf("test delivery signature header %q", sig)
		}
		sg("webhook", "rm", created.Webhook.ID)
		if out := sg("webhook", "ls"); strings.Contains(out, created.Webhook.ID) {
			t.Errorf("removed webhook still listed:\n%s", out)
		}

		sg("video", "delete", videoID)
		getVideo()
		if got.Video.Status != "VIDEO_STATUS_DELETED" {
			t.Errorf("after video delete: %s", got.Video.Status)
		}
	})

	t.Run("a licence request passes the edge and reaches auth over the mesh", func(t *testing.T) { checkLicence(t, p) })

	t.Run("a serve process joins the mesh and leaves it when killed", func(t *testing.T) {
		// dev's mesh certificates: the cache's listener serves mTLS, and
		// the monitor's probes must get through it.
		cmd := exec.Command(streamgateBinary(t), "serve", "--etcd", p.etcdURL, "--nats", p.natsURL,
			"--mesh-tls-dir", filepath.Join(p.dataDir, "tls"),
			"--registry-ttl", "2s", "--log-level", "WARN", "cache")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		defer func() { _ = cmd.Process.Kill(); <-exited }()

		monitor := monitorv1connect.NewMonitorServiceClient(http.DefaultClient, p.gatewayURL, p.operatorAuth())
		instances := func(want int) {
			t.Helper()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			stream, err := monitor.WatchSystemHealth(ctx, connect.NewRequest(&monitorv1.WatchSystemHealthRequest{Service: "cache"}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			for stream.Receive() {
				res, err := monitor.GetSystemHealth(ctx, connect.NewRequest(&monitorv1.GetSystemHealthRequest{Service: "cache"}))
				if err != nil {
					t.Fatal(err)
				}
				serving := res.Msg.GetSystemHealth().GetServices()[0].GetServingInstanceCount()
				if int(serving) == want && len(res.Msg.GetSystemHealth().GetServices()[0].GetInstances()) == want {
					return
				}
			}
			t.Fatalf("cache never had exactly %d serving instances: %v\nserve stderr:\n%s", want, stream.Err(), stderr.String())
		}
		instances(2)
		// kill -9: no deregistration; the lease expires within its TTL.
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited
		instances(1)
	})

	grpcurl := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), "go", append([]string{"tool", "grpcurl", "-plaintext"}, args...)...).CombinedOutput()
		return string(out), err
	}
	// Internal and operator-only RPCs, and a service no client may call.
	hidden := []string{
		"streamgate.upload.v1.UploadService.DeleteVideoSource",
		"streamgate.upload.v1.UploadService.ExpireAbandonedUploads",
		"streamgate.monitor.v1.MonitorService.GetSystemHealth",
	}

	t.Run("grpcurl list through the gateway shows only what a client may call", func(t *testing.T) {
		out, err := grpcurl(t, p.gatewayAddr, "list")
		if err != nil {
			t.Fatalf("grpcurl list: %v\n%s", err, out)
		}
		listed := strings.Fields(out)
		for _, s := range serviceNames {
			want := fmt.Sprintf("streamgate.%s.v1.%sService", s, strings.ToUpper(s[:1])+s[1:])
			if s == "cache" { // internal only
				if slices.Contains(listed, want) {
					t.Errorf("grpcurl list = %v lists the internal %s", listed, want)
				}
				continue
			}
			if !slices.Contains(listed, want) {
				t.Errorf("grpcurl list = %v, missing %s", listed, want)
			}
		}
		if !slices.Contains(listed, "grpc.health.v1.Health") {
			t.Errorf("grpcurl list = %v, missing grpc.health.v1.Health", listed)
		}
		for _, svc := range []string{"streamgate.upload.v1.UploadService", "streamgate.monitor.v1.MonitorService"} {
			out, err := grpcurl(t, p.gatewayAddr, "list", svc)
			if err != nil {
				t.Fatalf("grpcurl list %s: %v\n%s", svc, err, out)
			}
			methods := strings.Fields(out)
			for _, m := range hidden {
				if slices.Contains(methods, m) {
					t.Errorf("grpcurl list %s through the gateway shows %s", svc, m)
				}
			}
			if svc == "streamgate.upload.v1.UploadService" && !slices.Contains(methods, svc+".CreateUpload") {
				t.Errorf("grpcurl list %s = %v, missing CreateUpload", svc, methods)
			}
		}
		if out, err := grpcurl(t, p.gatewayAddr, "describe", "streamgate.upload.v1.DeleteVideoSourceRequest"); err == nil {
			t.Errorf("the gateway describes an internal RPC's request:\n%s", out)
		}
	})

	t.Run("grpcurl list on the admin listener shows every RPC", func(t *testing.T) {
		out, err := grpcurl(t, p.adminAddr, "list")
		if err != nil {
			t.Fatalf("grpcurl list: %v\n%s", err, out)
		}
		listed := strings.Fields(out)
		for _, s := range serviceNames {
			want := fmt.Sprintf("streamgate.%s.v1.%sService", s, strings.ToUpper(s[:1])+s[1:])
			if !slices.Contains(listed, want) {
				t.Errorf("admin grpcurl list = %v, missing %s", listed, want)
			}
		}
		for _, svc := range []string{"streamgate.upload.v1.UploadService", "streamgate.monitor.v1.MonitorService"} {
			out, err := grpcurl(t, p.adminAddr, "list", svc)
			if err != nil {
				t.Fatalf("admin grpcurl list %s: %v\n%s", svc, err, out)
			}
			for _, m := range hidden {
				if strings.HasPrefix(m, svc+".") && !slices.Contains(strings.Fields(out), m) {
					t.Errorf("admin grpcurl list %s = %s, missing %s", svc, out, m)
				}
			}
		}
		// Health of every service of the process, for probes.
		out, err = grpcurl(t, "-d", `{"service":"upload"}`, p.adminAddr, "grpc.health.v1.Health/Check")
		if err != nil || !strings.Contains(out, `"status": "SERVING"`) {
			t.Errorf("admin health of upload: %v\n%s", err, out)
		}
	})

	t.Run("metrics only on the admin listener", func(t *testing.T) {
		for _, u := range []string{"http://" + p.gatewayAddr + "/metrics", "http://" + p.adminAddr + "/metrics", "http://" + p.adminAddr + "/readyz"} {
			res, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			want := http.StatusOK
			if strings.HasPrefix(u, "http://"+p.gatewayAddr) {
				want = http.StatusNotFound
			}
			if res.StatusCode != want {
				t.Errorf("GET %s: %s, want %d", u, res.Status, want)
			}
			if strings.HasSuffix(u, p.adminAddr+"/metrics") && !strings.Contains(string(body), `service_name="gateway"`) {
				t.Errorf("admin /metrics has no gateway series")
			}
		}
	})

	t.Run("grpcurl calls pass through the gateway over gRPC", func(t *testing.T) {
		// An operator RPC is hidden from the gateway's reflection: the
		// operator takes its descriptors from the admin listener.
		if out, err := grpcurl(t, "-H", "authorization: Bearer "+p.operatorToken, "-d", `{"service":"monitor"}`,
			p.gatewayAddr, "streamgate.monitor.v1.MonitorService/GetSystemHealth"); err == nil {
			t.Errorf("the gateway's reflection resolved the operator-only GetSystemHealth:\n%s", out)
		}
		protoset := filepath.Join(t.TempDir(), "monitor.protoset")
		if out, err := grpcurl(t, "-protoset-out", protoset, p.adminAddr, "describe", "streamgate.monitor.v1.MonitorService"); err != nil {
			t.Fatalf("grpcurl -protoset-out from the admin listener: %v\n%s", err, out)
		}
		out, err := grpcurl(t, "-protoset", protoset, "-d", `{"service":"monitor"}`,
			"-H", "authorization: Bearer "+p.operatorToken,
			p.gatewayAddr, "streamgate.monitor.v1.MonitorService/GetSystemHealth")
		if err != nil {
			t.Fatalf("grpcurl GetSystemHealth: %v\n%s", err, out)
		}
		if !strings.Contains(out, `"service": "monitor"`) {
			t.Errorf("grpcurl output %s does not describe the monitor service", out)
		}
		// Error codes cross the gateway in the gRPC protocol.
		out, err = grpcurl(t, "-d", `{"video_id":"vid_x"}`, p.gatewayAddr, "streamgate.metadata.v1.MetadataService/GetVideo")
		if err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("grpcurl GetVideo(unknown): err %v, output %s; want NotFound", err, out)
		}
	})
}
