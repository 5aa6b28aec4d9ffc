package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/reflect/protoreflect"

	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/node"
)

// TestAdminListener runs a gateway, upload and monitor in one process and
// checks what each listener gives away: /metrics only on the admin
// listener, full reflection only there, the public listener's reflection
// limited to what a client may call, and the admin health following each
// service, NOT_SERVING while the process drains.
func TestAdminListener(t *testing.T) {
	etcdSrv, _ := etcdservertest.Start(t)
	natsSrv := natsservertest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan map[string]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- node.Run(ctx, node.Config{
			Services:      []string{"gateway", "upload", "monitor"},
			EtcdEndpoints: []string{etcdSrv.Endpoint()},
			NATSURL:       natsSrv.ClientURL(),
			RegistryTTL:   2 * time.Second,
			DrainTimeout:  time.Minute,
			Settings:      node.Settings{DataDir: t.TempDir(), PublicBaseURL: "http://127.0.0.1:8080", Chains: map[uint64]string{1337: "http://127.0.0.1:1"}},
			OnReady:       func(addrs map[string]string) { ready <- addrs },
		}, slog.New(slog.DiscardHandler))
	}()
	var addrs map[string]string
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("node stopped before it was ready: %v", err)
	}
	adminAddr := addrs[node.AdminKey]
	if adminAddr == "" || adminAddr == addrs["gateway"] || adminAddr == addrs["upload"] {
		t.Fatalf("admin address %q among %v", adminAddr, addrs)
	}
	h2c := h2cClient()

	t.Run("metrics only on the admin listener", func(t *testing.T) {
		for _, svc := range []string{"gateway", "upload", "monitor"} {
			if code, _ := get(t, h2c, "http://"+addrs[svc]+"/metrics"); code != http.StatusNotFound {
				t.Errorf("GET /metrics on %s's listener: %d, want 404", svc, code)
			}
		}
		code, body := get(t, h2c, "http://"+adminAddr+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET admin /metrics: %d %s", code, body)
		}
		for _, want := range []string{`service_name="gateway"`, `service_name="upload"`, `service_name="monitor"`, `service_name="streamgate-node"`} {
			if !strings.Contains(body, want) {
				t.Errorf("admin /metrics has no %s series", want)
			}
		}
		// The runtime series are the process's: once, unlabelled.
		if n := strings.Count(body, "# TYPE go_goroutines "); n != 1 {
			t.Errorf("go_goroutines declared %d times", n)
		}
		code, body = get(t, h2c, "http://"+adminAddr+"/metrics/upload")
		if code != http.StatusOK || !strings.Contains(body, `service_name="upload"`) || strings.Contains(body, `service_name="gateway"`) {
			t.Errorf("GET admin /metrics/upload: %d, upload's alone? %s", code, firstLines(body))
		}
		if code, _ := get(t, h2c, "http://"+adminAddr+"/metrics/nope"); code != http.StatusNotFound {
			t.Errorf("GET admin /metrics/nope: %d, want 404", code)
		}
	})

	t.Run("registered with the admin address", func(t *testing.T) {
		etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdSrv.Endpoint()}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer etcd.Close()
		res, err := etcd.Get(t.Context(), registry.DefaultPrefix, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, kv := range res.Kvs {
			var in registry.Instance
			if err := json.Unmarshal(kv.Value, &in); err != nil {
				t.Fatal(err)
			}
			seen++
			if in.Admin != adminAddr || in.Address != addrs[in.Service] {
				t.Errorf("%s registered address %s admin %s; want %s and %s", in.Service, in.Address, in.Admin, addrs[in.Service], adminAddr)
			}
		}
		if seen != 3 {
			t.Errorf("%d instances registered, want 3", seen)
		}
	})

	t.Run("reflection", func(t *testing.T) {
		internal := []string{
			"streamgate.upload.v1.UploadService.DeleteVideoSource",
			"streamgate.upload.v1.UploadService.ExpireAbandonedUploads",
			"streamgate.monitor.v1.MonitorService.WatchSystemHealth", // operator only
		}
		public := reflect(t, h2c, addrs["gateway"])
		if !slices.Contains(public.services, "streamgate.upload.v1.UploadService") || !public.has("streamgate.upload.v1.UploadService.CreateUpload") {
			t.Errorf("public reflection lacks UploadService.CreateUpload: %v", public.services)
		}
		for _, m := range internal {
			if public.has(m) {
				t.Errorf("public reflection lists %s", m)
			}
		}
		if !public.has("streamgate.monitor.v1.MonitorService.GetChainStatus") {
			t.Errorf("public reflection lacks the public MonitorService.GetChainStatus")
		}
		// A service no client may call is not listed at all.
		if slices.Contains(public.services, "streamgate.cache.v1.CacheService") {
			t.Errorf("public reflection lists the internal CacheService: %v", public.services)
		}
		for _, sym := range []string{"streamgate.upload.v1.DeleteVideoSourceRequest", "streamgate.upload.v1.UploadService.ExpireAbandonedUploads"} {
			if _, err := public.stream.FileContainingSymbol(protoreflect.FullName(sym)); err == nil {
				t.Errorf("public reflection describes %s", sym)
			}
		}

		adm := reflect(t, h2c, adminAddr)
		for _, m := range append(internal, "streamgate.upload.v1.UploadService.CreateUpload", "streamgate.cache.v1.CacheService.Get") {
			if !adm.has(m) {
				t.Errorf("admin reflection lacks %s (services %v)", m, adm.services)
			}
		}
		if !slices.Contains(adm.services, grpchealth.HealthV1ServiceName) {
			t.Errorf("admin reflection lacks health: %v", adm.services)
		}

		// A mesh listener reflects nothing: the admin listener does.
		s := grpcreflect.NewClient(h2c, "http://"+addrs["upload"]).NewStream(t.Context())
		defer s.Close()
		if names, err := s.ListServices(); err == nil {
			t.Errorf("upload's listener reflects %v", names)
		}
	})

	health := grpchealth.NewClient(h2c, "http://"+adminAddr)
	check := func(service string) (grpchealth.Status, error) {
		res, err := health.Check(t.Context(), &grpchealth.CheckRequest{Service: service})
		if err != nil {
			return 0, err
		}
		return res.Status, nil
	}
	t.Run("health", func(t *testing.T) {
		for _, svc := range []string{"", "gateway", "upload", "monitor", "streamgate.upload.v1.UploadService"} {
			if st, err := check(svc); err != nil || st != grpchealth.StatusServing {
				t.Errorf("admin health of %q: %v %v, want SERVING", svc, st, err)
			}
		}
		if _, err := check("nope"); connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("admin health of an unknown service: %v, want NotFound", err)
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, body := get(t, h2c, "http://"+adminAddr+path); code != http.StatusOK {
				t.Errorf("GET %s: %d %s", path, code, body)
			}
		}
		// The mesh listeners keep theirs: the monitor probes instances there.
		res, err := grpchealth.NewClient(h2c, "http://"+addrs["upload"]).Check(t.Context(), &grpchealth.CheckRequest{})
		if err != nil || res.Status != grpchealth.StatusServing {
			t.Errorf("upload listener health: %v %v", res, err)
		}
	})

	t.Run("NOT_SERVING while draining", func(t *testing.T) {
		// A stream in flight holds the drain open (for up to DrainTimeout).
		watchCtx, stopWatch := context.WithCancel(t.Context())
		defer stopWatch()
		mon := monitorv1connect.NewMonitorServiceClient(h2c, "http://"+addrs["monitor"], connect.WithGRPC())
		stream, err := mon.WatchSystemHealth(watchCtx, connect.NewRequest(&monitorv1.WatchSystemHealthRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if !stream.Receive() {
			t.Fatalf("WatchSystemHealth: %v", stream.Err())
		}
		cancel()
		poll.UntilNil(t, 30*time.Second, "admin health NOT_SERVING", func() error {
			for _, svc := range []string{"", "monitor", "upload"} {
				if st, err := check(svc); err != nil || st != grpchealth.StatusNotServing {
					return fmt.Errorf("%q: %v %v", svc, st, err)
				}
			}
			if code, body := get(t, h2c, "http://"+adminAddr+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "monitor NOT_SERVING") {
				return fmt.Errorf("/readyz: %d %s", code, body)
			}
			return nil
		})
		// Liveness holds: the process is alive, only going away.
		if code, _ := get(t, h2c, "http://"+adminAddr+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz while draining: %d", code)
		}
		stopWatch()
		for stream.Receive() {
		}
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
		if _, err := check(""); err == nil {
			t.Error("admin listener still answers after Run returned")
		}
	})
}

type reflected struct {
	stream   *grpcreflect.ClientStream
	services []string
	methods  map[string]bool
}

func (r reflected) has(method string) bool { return r.methods[method] }

// reflect lists what gRPC reflection at addr shows: services and methods.
func reflect(t *testing.T, c *http.Client, addr string) reflected {
	t.Helper()
	s := grpcreflect.NewClient(c, "http://"+addr).NewStream(t.Context())
	t.Cleanup(func() { _, _ = s.Close() })
	names, err := s.ListServices()
	if err != nil {
		t.Fatalf("reflection at %s: %v", addr, err)
	}
	r := reflected{stream: s, methods: map[string]bool{}}
	for _, n := range names {
		r.services = append(r.services, string(n))
		files, err := s.FileContainingSymbol(n)
		if err != nil {
			t.Fatalf("reflection at %s: file of %s: %v", addr, n, err)
		}
		for _, f := range files {
			for _, sd := range f.GetService() {
				if f.GetPackage()+"."+sd.GetName() != string(n) {
					continue
				}
				for _, md := range sd.GetMethod() {
					r.methods[string(n)+"."+md.GetName()] = true
				}
			}
		}
	}
	return r
}

func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true) // gRPC streams need HTTP/2
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, string(b)
}

func firstLines(s string) string {
	lines := strings.SplitN(s, "\n", 6)
	return strings.Join(lines[:min(5, len(lines))], "\n")
}
