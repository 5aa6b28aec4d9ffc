package mesh_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/mesh"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

const (
	service       = "metadata"
	instanceHdr   = "X-Test-Instance"
	testPrefix    = "/mesh-test/services/"
	waitCondition = 10 * time.Second
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// videoServer is a metadata service instance that answers GetVideo
// (NO_SIDE_EFFECTS, retryable) and CreateVideo (not retryable), counts calls
// and fails on demand.
type videoServer struct {
	metadatav1connect.UnimplementedMetadataServiceHandler
	name string

	gets, creates atomic.Int64
	code          atomic.Int32 // connect.Code every call fails with; 0 = answer
	failNext      atomic.Int64 // fail this many calls with Unavailable first

	sawDeadline atomic.Bool
	remaining   atomic.Int64 // time left before the deadline, as seen by the handler
	traceparent atomic.Value
}

func (s *videoServer) fail(h http.Header) error {
	h.Set(instanceHdr, s.name)
	if s.failNext.Add(-1) >= 0 {
		return connect.NewError(connect.CodeUnavailable, errors.New("warming up"))
	}
	if c := connect.Code(s.code.Load()); c != 0 {
		return connect.NewError(c, errors.New("told to fail"))
	}
	return nil
}

func (s *videoServer) GetVideo(ctx context.Context, req *connect.Request[metadatav1.GetVideoRequest]) (*connect.Response[metadatav1.GetVideoResponse], error) {
	s.gets.Add(1)
	if d, ok := ctx.Deadline(); ok {
		s.sawDeadline.Store(true)
		s.remaining.Store(int64(time.Until(d)))
	}
	s.traceparent.Store(req.Header().Get("Traceparent"))
	resp := connect.NewResponse(&metadatav1.GetVideoResponse{Video: &metadatav1.Video{Id: req.Msg.GetVideoId()}})
	if err := s.fail(resp.Header()); err != nil {
		var cerr *connect.Error
		errors.As(err, &cerr)
		cerr.Meta().Set(instanceHdr, s.name)
		return nil, err
	}
	return resp, nil
}

func (s *videoServer) CreateVideo(_ context.Context, req *connect.Request[metadatav1.CreateVideoRequest]) (*connect.Response[metadatav1.CreateVideoResponse], error) {
	s.creates.Add(1)
	resp := connect.NewResponse(&metadatav1.CreateVideoResponse{Video: &metadatav1.Video{Id: "v-" + req.Msg.GetRequestId(), Title: req.Msg.GetTitle()}})
	if err := s.fail(resp.Header()); err != nil {
		return nil, err
	}
	return resp, nil
}

// instance is a registered, listening videoServer.
type instance struct {
	*videoServer
	http *http.Server
	addr string
}

// kill stops the server the hard way: listener and connections closed at
// once, and the registration left in place, as when a process dies and its
// lease has not expired yet.
func (i *instance) kill() { _ = i.http.Close() }

func h2c() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

type env struct {
	cli     *clientv3.Client
	watcher *registry.Watcher
}

func newEnv(t testing.TB) *env {
	t.Helper()
	_, cli := etcdservertest.Start(t)
	w := registry.NewWatcher(cli, testPrefix, discard())
	if err := w.Start(t.Context()); err != nil {
		t.Fatalf("watcher: %v", err)
	}
	t.Cleanup(w.Close)
	return &env{cli: cli, watcher: w}
}

func (e *env) start(t testing.TB, name string) *instance {
	t.Helper()
	vs := &videoServer{name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(metadatav1connect.NewMetadataServiceHandler(vs))
	hs := &http.Server{Handler: mux, Protocols: h2c(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })

	reg := registry.NewRegistrar(e.cli, registry.Instance{
		Service: service, ID: name, Address: ln.Addr().String(), Protocols: []string{"connect", "grpc"},
	}, registry.RegistrarOptions{Prefix: testPrefix}, discard())
	if err := reg.Register(t.Context()); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	t.Cleanup(func() { _ = reg.Deregister(context.Background()) })
	return &instance{videoServer: vs, http: hs, addr: ln.Addr().String()}
}

// mesh builds a mesh client once the watcher knows exactly n instances:
// New reads the watcher's state synchronously, so the endpoints are there at
// once.
func (e *env) mesh(t testing.TB, n int, opts mesh.Options) *mesh.Client {
	t.Helper()
	changes, unsubscribe := e.watcher.Changes()
	defer unsubscribe()
	timeout := time.After(waitCondition)
	for len(e.watcher.Instances(service)) != n {
		select {
		case <-changes:
		case <-timeout:
			t.Fatalf("watcher has %+v, want %d instances", e.watcher.Instances(service), n)
		}
	}
	m := mesh.New(e.watcher, catalog.Default(), opts, discard())
	t.Cleanup(m.Close)
	if got := len(m.Endpoints(service)); got != n {
		t.Fatalf("mesh sees %d endpoints, want %d", got, n)
	}
	return m
}

func metadataClient(m *mesh.Client, extra ...connect.ClientOption) metadatav1connect.MetadataServiceClient {
	return metadatav1connect.NewMetadataServiceClient(m.HTTPClient(), m.BaseURL(service), append(m.ClientOptions(), extra...)...)
}

func getVideo(ctx context.Context, c metadatav1connect.MetadataServiceClient) (string, error) {
	resp, err := c.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "v1"}))
	if err != nil {
		return "", err
	}
	return resp.Header().Get(instanceHdr), nil
}

func createVideo(ctx context.Context, c metadatav1connect.MetadataServiceClient) (string, error) {
	resp, err := c.CreateVideo(ctx, connect.NewRequest(&metadatav1.CreateVideoRequest{RequestId: "r1", Title: "t"}))
	if err != nil {
		return "", err
	}
	return resp.Header().Get(instanceHdr), nil
}

func endpoint(t testing.TB, m *mesh.Client, id string) mesh.EndpointStatus {
	t.Helper()
	for _, ep := range m.Endpoints(service) {
		if ep.ID == id {
			return ep
		}
	}
	t.Fatalf("no endpoint %q in %+v", id, m.Endpoints(service))
	return mesh.EndpointStatus{}
}

func TestFailover(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := e.start(t, "a")
	b := e.start(t, "b")
	m := e.mesh(t, 2, mesh.Options{})
	client := metadataClient(m)

	for i := range 40 {
		if _, err := getVideo(ctx, client); err != nil {
			t.Fatalf("call %d before the kill: %v", i, err)
		}
	}
	if a.gets.Load() == 0 || b.gets.Load() == 0 {
		t.Fatalf("calls not spread: a=%d b=%d", a.gets.Load(), b.gets.Load())
	}

	a.kill()
	aBefore, bBefore := a.gets.Load(), b.gets.Load()
	const n = 50
	for i := range n {
		who, err := getVideo(ctx, client)
		if err != nil {
			t.Fatalf("GetVideo %d after the kill failed: %v", i, err)
		}
		if who != "b" {
			t.Fatalf("GetVideo %d served by %q, want b", i, who)
		}
	}
	if got := b.gets.Load() - bBefore; got != n {
		t.Errorf("b served %d calls after the kill, want %d", got, n)
	}
	if a.gets.Load() != aBefore {
		t.Errorf("dead a served calls")
	}
	if got := len(e.watcher.Instances(service)); got != 2 {
		t.Fatalf("a should still be registered (lease alive), watcher has %d instances", got)
	}

	// CreateVideo is not retryable: it must still never fail, because a
	// refused connection means nothing was sent. A fresh client has no
	// pooled connection to a, so each pick of a is a refused dial; a high
	// breaker threshold keeps a in the rotation to exercise that path.
	fresh := e.mesh(t, 2, mesh.Options{BreakerFailures: 1000})
	freshClient := metadataClient(fresh)
	for i := 0; endpoint(t, fresh, "a").Failures < 3; i++ {
		if i == 200 {
			t.Fatalf("a was never picked in %d calls: %+v", i, fresh.Endpoints(service))
		}
		who, err := createVideo(ctx, freshClient)
		if err != nil {
			t.Fatalf("CreateVideo %d with a refusing connections: %v", i, err)
		}
		if who != "b" {
			t.Fatalf("CreateVideo %d served by %q, want b", i, who)
		}
	}
	if a.creates.Load() != 0 {
		t.Errorf("dead a served CreateVideo")
	}
}

func TestBreaker(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := e.start(t, "a")
	b := e.start(t, "b")
	const openFor = time.Second
	// One attempt per call: the breaker, not the retries, is under test.
	m := e.mesh(t, 2, mesh.Options{MaxAttempts: 1, BreakerFailures: 3, BreakerOpen: openFor})
	client := metadataClient(m)

	t.Run("application errors are successes", func(t *testing.T) {
		b.code.Store(int32(connect.CodeNotFound))
		defer b.code.Store(0)
		for range 20 {
			_, err := getVideo(ctx, client)
			if err != nil && connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("GetVideo: %v", err)
			}
		}
		if b.gets.Load() < 3 {
			t.Fatalf("b got %d calls, want several", b.gets.Load())
		}
		if st := endpoint(t, m, "b"); st.State != "closed" || st.Failures != 0 {
			t.Fatalf("after NotFound answers b = %+v, want closed with no failures", st)
		}
	})

	b.code.Store(int32(connect.CodeUnavailable))
	for i := 0; endpoint(t, m, "b").State != "open"; i++ {
		if i == 200 {
			t.Fatalf("b's breaker never opened: %+v", endpoint(t, m, "b"))
		}
		_, err := getVideo(ctx, client)
		if err != nil && connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatalf("GetVideo: %v", err)
		}
	}

	// Open: every call goes to a, without touching b.
	bGets := b.gets.Load()
	for i := range 20 {
		who, err := getVideo(ctx, client)
		if err != nil || who != "a" {
			t.Fatalf("call %d with b open: served by %q, err %v; want a", i, who, err)
		}
	}
	if b.gets.Load() != bGets {
		t.Errorf("b received %d calls while open", b.gets.Load()-bGets)
	}

	// Healed: after BreakerOpen, a probe reaches b, succeeds, and closes it.
	b.code.Store(0)
	poll.Until(t, waitCondition, "b half-open", func() bool { return endpoint(t, m, "b").State == "half-open" })
	for i := 0; endpoint(t, m, "b").State != "closed"; i++ {
		if i == 200 {
			t.Fatalf("b's breaker never closed: %+v", endpoint(t, m, "b"))
		}
		if _, err := getVideo(ctx, client); err != nil {
			t.Fatalf("GetVideo after healing: %v", err)
		}
	}
	if b.gets.Load() == bGets {
		t.Error("b closed without serving a call")
	}
	_ = a
}

func TestBreakerCountsGRPCUnavailable(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	only := e.start(t, "only")
	m := e.mesh(t, 1, mesh.Options{MaxAttempts: 1, BreakerFailures: 2, BreakerOpen: time.Minute})
	grpcClient := metadataClient(m, connect.WithGRPC())

	// Success over gRPC: the status is in the trailers; the call must end
	// with nothing left in flight.
	for range 3 {
		if _, err := getVideo(ctx, grpcClient); err != nil {
			t.Fatalf("gRPC GetVideo: %v", err)
		}
	}
	if st := endpoint(t, m, "only"); st.InFlight != 0 || st.Failures != 0 || st.State != "closed" {
		t.Fatalf("after gRPC successes: %+v, want closed, nothing in flight, no failures", st)
	}

	only.code.Store(int32(connect.CodeUnavailable))
	for range 2 {
		if _, err := getVideo(ctx, grpcClient); connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatalf("gRPC GetVideo error = %v, want Unavailable", err)
		}
	}
	if st := endpoint(t, m, "only"); st.State != "open" || st.InFlight != 0 {
		t.Fatalf("after gRPC Unavailable: %+v, want open, nothing in flight", st)
	}
	// All endpoints open: the one that failed longest ago is still tried.
	only.code.Store(0)
	if _, err := getVideo(ctx, grpcClient); err != nil {
		t.Fatalf("call with every breaker open: %v", err)
	}
}

func TestRetries(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	only := e.start(t, "only")
	get := func(c metadatav1connect.MetadataServiceClient) error { _, err := getVideo(ctx, c); return err }
	create := func(c metadatav1connect.MetadataServiceClient) error { _, err := createVideo(ctx, c); return err }
	calls := func() int64 { return only.gets.Load() + only.creates.Load() }

	tests := []struct {
		name         string
		code         connect.Code
		failNext     int64
		maxAttempts  int
		call         func(metadatav1connect.MetadataServiceClient) error
		wantAttempts int64
		wantCode     connect.Code // 0: success
	}{
		{"retryable Unavailable: MaxAttempts", connect.CodeUnavailable, 0, 3, get, 3, connect.CodeUnavailable},
		{"retryable Unavailable: MaxAttempts 5", connect.CodeUnavailable, 0, 5, get, 5, connect.CodeUnavailable},
		{"retries disabled", connect.CodeUnavailable, 0, 1, get, 1, connect.CodeUnavailable},
		{"not retryable", connect.CodeUnavailable, 0, 3, create, 1, connect.CodeUnavailable},
		{"NotFound is final", connect.CodeNotFound, 0, 3, get, 1, connect.CodeNotFound},
		{"Internal is final", connect.CodeInternal, 0, 3, get, 1, connect.CodeInternal},
		{"succeeds on the second attempt", 0, 1, 3, get, 2, 0},
		{"succeeds on the last attempt", 0, 2, 3, get, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			only.code.Store(int32(tt.code))
			only.failNext.Store(tt.failNext)
			defer only.code.Store(0)
			m := e.mesh(t, 1, mesh.Options{MaxAttempts: tt.maxAttempts, BreakerFailures: 1000, RetryBackoff: time.Millisecond})
			before := calls()
			err := tt.call(metadataClient(m))
			if got := connect.CodeOf(err); err != nil && got != tt.wantCode || err == nil && tt.wantCode != 0 {
				t.Fatalf("error = %v, want code %v", err, tt.wantCode)
			}
			if got := calls() - before; got != tt.wantAttempts {
				t.Errorf("server saw %d attempts, want %d", got, tt.wantAttempts)
			}
		})
	}

	t.Run("budget caps a storm", func(t *testing.T) {
		only.code.Store(int32(connect.CodeUnavailable))
		defer only.code.Store(0)
		// Reserve: 1 retry/s over the 10 s window = 10; ratio: 10% of calls.
		m := e.mesh(t, 1, mesh.Options{MaxAttempts: 3, RetryBudgetRatio: 0.1, MinRetries: 1, BreakerFailures: 1 << 30, RetryBackoff: time.Millisecond})
		client := metadataClient(m)
		const n = 200
		before := only.gets.Load()
		for range n {
			if err := get(client); connect.CodeOf(err) != connect.CodeUnavailable {
				t.Fatalf("error = %v, want Unavailable", err)
			}
		}
		retries := only.gets.Load() - before - n
		// Without a budget: n*(3-1) = 400 retries.
		if maxRetries := int64(10 + n/10); retries > maxRetries || retries < 10 {
			t.Errorf("retries during the storm = %d, want between 10 (reserve) and %d (reserve + 10%% of calls)", retries, maxRetries)
		}
	})
}

func TestDeadlineAndTracePropagate(t *testing.T) {
	e := newEnv(t)
	only := e.start(t, "only")
	m := e.mesh(t, 1, mesh.Options{
		Propagator:     propagation.TraceContext{},
		TracerProvider: noop.NewTracerProvider(),
	})
	client := metadataClient(m)

	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled})
	const timeout = 3 * time.Second
	ctx, cancel := context.WithTimeout(trace.ContextWithSpanContext(t.Context(), sc), timeout)
	defer cancel()

	if _, err := getVideo(ctx, client); err != nil {
		t.Fatal(err)
	}
	if !only.sawDeadline.Load() {
		t.Fatal("handler context has no deadline")
	}
	if r := time.Duration(only.remaining.Load()); r <= 0 || r > timeout {
		t.Errorf("handler saw %v left, want within (0, %v]", r, timeout)
	}
	if tp, _ := only.traceparent.Load().(string); !strings.Contains(tp, traceID.String()) {
		t.Errorf("traceparent = %q, want trace ID %s", tp, traceID)
	}
}

func TestNoEndpoints(t *testing.T) {
	e := newEnv(t)
	m := mesh.New(e.watcher, nil, mesh.Options{RetryBackoff: time.Millisecond}, discard())
	defer m.Close()
	_, err := getVideo(t.Context(), metadataClient(m))
	if connect.CodeOf(err) != connect.CodeUnavailable || !errors.Is(err, mesh.ErrNoEndpoints) {
		t.Fatalf("error = %v, want Unavailable wrapping ErrNoEndpoints", err)
	}

	// An instance that appears later is picked up from the watcher.
	e.start(t, "late")
	poll.Until(t, waitCondition, "mesh sees the late instance", func() bool { return len(m.Endpoints(service)) == 1 })
	if _, err := getVideo(t.Context(), metadataClient(m)); err != nil {
		t.Fatalf("after the instance appeared: %v", err)
	}
}

// TestReverseProxy is the gateway's use: a ReverseProxy whose outgoing host
// is the short service name, with a gRPC client (trailers) in front.
func TestReverseProxy(t *testing.T) {
	e := newEnv(t)
	only := e.start(t, "only")
	m := e.mesh(t, 1, mesh.Options{})
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = service
		},
		Transport: m.Transport(),
	}
	front := httptest.NewUnstartedServer(proxy)
	front.Config.Protocols = h2c()
	front.Start()
	defer front.Close()

	tr := &http.Transport{Protocols: h2c()}
	defer tr.CloseIdleConnections()
	for _, opt := range []struct {
		name string
		opts []connect.ClientOption
	}{{"connect", nil}, {"grpc", []connect.ClientOption{connect.WithGRPC()}}} {
		t.Run(opt.name, func(t *testing.T) {
			c := metadatav1connect.NewMetadataServiceClient(&http.Client{Transport: tr}, front.URL, opt.opts...)
			if _, err := getVideo(t.Context(), c); err != nil {
				t.Fatalf("through the proxy: %v", err)
			}
			only.code.Store(int32(connect.CodeNotFound))
			defer only.code.Store(0)
			if _, err := getVideo(t.Context(), c); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("error through the proxy = %v, want NotFound", err)
			}
		})
	}
	if st := endpoint(t, m, "only"); st.InFlight != 0 {
		t.Errorf("in flight after the proxied calls = %d, want 0", st.InFlight)
	}
}

// TestConnectionResetIsUnavailable registers an "instance" that resets
// connections, as a dying process does, either at once or after reading the
// request. The call must fail with Unavailable (so retryable RPCs are
// retried), not the Canceled connect-go gives a bare ECONNRESET or EPIPE.
func TestConnectionResetIsUnavailable(t *testing.T) {
	tests := []struct {
		name      string
		readFirst bool
	}{
		{"reset on accept", false},
		{"reset after the request", true},
	}
	e := newEnv(t)
	e.start(t, "healthy")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					if tt.readFirst {
						// The client preface, SETTINGS and the request's
						// HEADERS arrive together; wait for a good part.
						buf := make([]byte, 64)
						_, _ = io.ReadFull(conn, buf)
					}
					_ = conn.(*net.TCPConn).SetLinger(0) // close with RST
					_ = conn.Close()
				}
			}()
			id := strings.ReplaceAll(tt.name, " ", "-")
			reg := registry.NewRegistrar(e.cli, registry.Instance{Service: service, ID: id, Address: ln.Addr().String()},
				registry.RegistrarOptions{Prefix: testPrefix}, discard())
			if err := reg.Register(t.Context()); err != nil {
				t.Fatal(err)
			}
			defer reg.Deregister(context.Background())

			m := e.mesh(t, 2, mesh.Options{MaxAttempts: 1})
			// With a healthy instance next to it, a retryable call never fails.
			m2 := e.mesh(t, 2, mesh.Options{BreakerFailures: 1000, RetryBackoff: time.Millisecond})
			client, single := metadataClient(m2), metadataClient(m)
			var sawUnavailable bool
			for i := 0; endpoint(t, m2, id).Failures < 3 || !sawUnavailable; i++ {
				if i == 200 {
					t.Fatalf("after %d calls: unavailable seen %v, endpoints %+v", i, sawUnavailable, m2.Endpoints(service))
				}
				if _, err := getVideo(t.Context(), client); err != nil {
					t.Fatalf("GetVideo %d with retries: %v", i, err)
				}
				// Without retries, calls that hit the resetter fail, with
				// Unavailable only.
				_, err := createVideo(t.Context(), single)
				switch code := connect.CodeOf(err); {
				case err == nil:
				case code == connect.CodeUnavailable:
					sawUnavailable = true
				default:
					t.Fatalf("CreateVideo error = %v (code %v), want Unavailable", err, code)
				}
			}
		})
	}
}
