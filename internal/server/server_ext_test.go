package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/reflect/protoreflect"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/server"
	"github.com/streamgate/streamgate/internal/telemetry"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

func getVideo(id string) *connect.Request[metadatav1.GetVideoRequest] {
	return connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: id})
}

// TestProtocols runs the same subtests over Connect (binary and JSON),
// gRPC and gRPC-Web.
func TestProtocols(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			t.Run("calls", func(t *testing.T) { t.Parallel(); testCalls(t, p) })
			t.Run("default deadline expires", func(t *testing.T) { t.Parallel(); testDeadlineExpires(t, p) })
			t.Run("drain", func(t *testing.T) { t.Parallel(); testDrain(t, p) })
			t.Run("drain timeout cuts streams", func(t *testing.T) { t.Parallel(); testDrainTimeout(t, p) })
		})
	}
}

// testCalls shares one server between the subtests that do not stop it.
func testCalls(t *testing.T, p protocol) {
	meta, mon := newMetadataService(), newMonitorService(3, time.Millisecond)
	srv, logs := startServer(t, server.Config{UnaryTimeout: 30 * time.Second}, []server.Service{meta, mon})
	srv.SetServing(true)
	hc := httpClient(t, p.h2c)
	mc := metadatav1connect.NewMetadataServiceClient(hc, baseURL(srv), p.clientOpt...)
	wc := monitorv1connect.NewMonitorServiceClient(hc, baseURL(srv), p.clientOpt...)

	t.Run("unary", func(t *testing.T) {
		res, err := mc.GetVideo(t.Context(), getVideo("v1"))
		if err != nil {
			t.Fatalf("GetVideo: %v", err)
		}
		if got, want := res.Msg.GetVideo().GetTitle(), "title of v1"; got != want {
			t.Errorf("title = %q, want %q", got, want)
		}
	})

	t.Run("server stream", func(t *testing.T) {
		stream, err := wc.WatchSystemHealth(t.Context(), connect.NewRequest(&monitorv1.WatchSystemHealthRequest{}))
		if err != nil {
			t.Fatalf("WatchSystemHealth: %v", err)
		}
		var ids []string
		for stream.Receive() {
			ids = append(ids, stream.Msg().GetInstance().GetInstanceId())
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if want := []string{"0", "1", "2"}; !slices.Equal(ids, want) {
			t.Errorf("received %v, want %v", ids, want)
		}
	})

	t.Run("panic becomes Internal", func(t *testing.T) {
		_, err := mc.GetVideo(t.Context(), getVideo("panic"))
		if got := connect.CodeOf(err); got != connect.CodeInternal {
			t.Fatalf("code = %v (%v), want %v", got, err, connect.CodeInternal)
		}
		if strings.Contains(err.Error(), panicValue) || strings.Contains(err.Error(), "goroutine") {
			t.Errorf("client saw %q: the panic value or stack leaked", err)
		}
		if _, err := mc.GetVideo(t.Context(), getVideo("after-panic")); err != nil {
			t.Errorf("call after the panic: %v, want the server still serving", err)
		}
		out := logs.String()
		if !strings.Contains(out, `"level":"ERROR","msg":"panic in handler"`) || !strings.Contains(out, "runtime/debug.Stack") {
			t.Errorf("log has no ERROR record with the stack:\n%s", out)
		}
	})

	t.Run("validator", func(t *testing.T) {
		_, err := mc.GetVideo(t.Context(), getVideo(""))
		if got := connect.CodeOf(err); got != connect.CodeInvalidArgument {
			t.Errorf("empty video_id: code = %v (%v), want %v", got, err, connect.CodeInvalidArgument)
		}
		if err != nil && !strings.Contains(err.Error(), "video_id is required") {
			t.Errorf("empty video_id: error %q does not say why", err)
		}
		_, err = mc.GetVideo(t.Context(), getVideo("forbidden"))
		if got := connect.CodeOf(err); got != connect.CodePermissionDenied {
			t.Errorf("validator's own connect error: code = %v (%v), want %v", got, err, connect.CodePermissionDenied)
		}
		stream, err := wc.WatchSystemHealth(t.Context(), connect.NewRequest(&monitorv1.WatchSystemHealthRequest{Service: "bogus"}))
		if err == nil {
			for stream.Receive() {
				t.Error("stream with an invalid request delivered a message")
			}
			err = stream.Err()
		}
		if got := connect.CodeOf(err); got != connect.CodeInvalidArgument {
			t.Errorf("invalid stream request: code = %v (%v), want %v", got, err, connect.CodeInvalidArgument)
		}
	})

	t.Run("default deadline", func(t *testing.T) {
		res, err := mc.GetVideo(t.Context(), getVideo("deadline"))
		if err != nil {
			t.Fatalf("GetVideo: %v", err)
		}
		got := res.Msg.GetVideo().GetDuration().AsDuration()
		if got <= 0 || got > 30*time.Second {
			t.Errorf("handler deadline without a client deadline = %v, want (0, 30s]", got)
		}

		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		res, err = mc.GetVideo(ctx, getVideo("deadline"))
		if err != nil {
			t.Fatalf("GetVideo: %v", err)
		}
		if got := res.Msg.GetVideo().GetDuration().AsDuration(); got <= 30*time.Second {
			t.Errorf("handler deadline with a 1h client deadline = %v, want the client's", got)
		}
	})

	t.Run("access log", func(t *testing.T) {
		if _, err := mc.GetVideo(t.Context(), getVideo("logged")); err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		for _, want := range []string{
			`"msg":"rpc","procedure":"` + metadatav1connect.MetadataServiceGetVideoProcedure + `","protocol":"` + p.wire + `"`,
			`"code":"invalid_argument"`,
			`"level":"ERROR","msg":"rpc","procedure":"` + metadatav1connect.MetadataServiceGetVideoProcedure,
			`"procedure":"` + monitorv1connect.MonitorServiceWatchSystemHealthProcedure + `","protocol":"` + p.wire,
			`"received":1,"sent":3`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %s", want)
			}
		}
	})
}

func testDeadlineExpires(t *testing.T, p protocol) {
	meta := newMetadataService()
	srv, _ := startServer(t, server.Config{UnaryTimeout: 50 * time.Millisecond}, []server.Service{meta})
	mc := metadatav1connect.NewMetadataServiceClient(httpClient(t, p.h2c), baseURL(srv), p.clientOpt...)
	_, err := mc.GetVideo(t.Context(), getVideo("block"))
	if got := connect.CodeOf(err); got != connect.CodeDeadlineExceeded {
		t.Errorf("blocked call with no client deadline: code = %v (%v), want %v", got, err, connect.CodeDeadlineExceeded)
	}
}

// testDrain: Shutdown refuses new connections but lets an in-flight unary
// call and a server stream finish, and reports a clean drain.
func testDrain(t *testing.T, p protocol) {
	const messages = 6
	meta, mon := newMetadataService(), newMonitorService(messages, 50*time.Millisecond)
	srv, _ := startServer(t, server.Config{DrainTimeout: 10 * time.Second}, []server.Service{meta, mon})
	srv.SetServing(true)
	hc := httpClient(t, p.h2c)
	mc := metadatav1connect.NewMetadataServiceClient(hc, baseURL(srv), p.clientOpt...)
	wc := monitorv1connect.NewMonitorServiceClient(hc, baseURL(srv), p.clientOpt...)

	type result struct {
		res *connect.Response[metadatav1.GetVideoResponse]
		err error
	}
	unary := make(chan result, 1)
	go func() {
		res, err := mc.GetVideo(context.WithoutCancel(t.Context()), getVideo("block"))
		unary <- result{res, err}
	}()
	recv(t, meta.entered, "the unary call to reach the handler")

	stream, err := wc.WatchSystemHealth(t.Context(), connect.NewRequest(&monitorv1.WatchSystemHealthRequest{}))
	if err != nil {
		t.Fatalf("WatchSystemHealth: %v", err)
	}
	if !stream.Receive() {
		t.Fatalf("first stream message: %v", stream.Err())
	}
	received := 1

	shutdown := make(chan error, 1)
	start := time.Now()
	go func() { shutdown <- srv.Shutdown(context.WithoutCancel(t.Context())) }()

	poll.Until(t, 5*time.Second, "new connections to be refused", func() bool {
		conn, err := net.DialTimeout("tcp", srv.Addr(), time.Second)
		if err != nil {
			return true
		}
		_ = conn.Close()
		return false
	})

	close(meta.release)
	r := recv(t, unary, "the unary call to return")
	if r.err != nil {
		t.Errorf("in-flight unary call: %v, want success", r.err)
	} else if got := r.res.Msg.GetVideo().GetId(); got != "block" {
		t.Errorf("in-flight unary call returned video %q, want block", got)
	}

	for stream.Receive() {
		received++
	}
	if err := stream.Err(); err != nil {
		t.Errorf("in-flight stream ended with %v, want a clean end", err)
	}
	if received != messages {
		t.Errorf("stream delivered %d messages, want %d", received, messages)
	}

	if err := recv(t, shutdown, "Shutdown to return"); err != nil {
		t.Errorf("Shutdown = %v, want nil after a clean drain", err)
	}
	t.Logf("Shutdown took %v", time.Since(start))
	select {
	case <-srv.Done():
	default:
		t.Error("Done not closed after Shutdown")
	}
	if err := srv.Err(); err != nil {
		t.Errorf("Err after Shutdown = %v, want nil", err)
	}
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown = %v, want the first's nil", err)
	}
}

// testDrainTimeout: a stream that never ends is ended at DrainTimeout with
// Unavailable, and Shutdown says so.
func testDrainTimeout(t *testing.T, p protocol) {
	const drain = 300 * time.Millisecond
	mon := newMonitorService(-1, 50*time.Millisecond)
	srv, _ := startServer(t, server.Config{DrainTimeout: drain}, []server.Service{mon})
	wc := monitorv1connect.NewMonitorServiceClient(httpClient(t, p.h2c), baseURL(srv), p.clientOpt...)

	stream, err := wc.WatchSystemHealth(t.Context(), connect.NewRequest(&monitorv1.WatchSystemHealthRequest{}))
	if err != nil {
		t.Fatalf("WatchSystemHealth: %v", err)
	}
	if !stream.Receive() {
		t.Fatalf("first stream message: %v", stream.Err())
	}

	start := time.Now()
	err = srv.Shutdown(t.Context())
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Shutdown = nil, want an error reporting the cut stream")
	}
	if !strings.Contains(err.Error(), "1 in-flight calls cut") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %q, want it to report 1 call cut at the deadline", err)
	}
	// Streams are ended a quarter of the budget before the deadline, so
	// their Unavailable reaches the client before connections close.
	if elapsed < drain*3/4 || elapsed > drain+3*time.Second {
		t.Errorf("Shutdown took %v, want about DrainTimeout (%v)", elapsed, drain)
	}

	for stream.Receive() {
	}
	// The client is told to resume elsewhere, not that it canceled.
	if got := connect.CodeOf(stream.Err()); got != connect.CodeUnavailable {
		t.Errorf("cut stream ended with %v (%v), want %v", got, stream.Err(), connect.CodeUnavailable)
	}
	recv(t, mon.exited, "the cut handler to return")
}

func TestHealth(t *testing.T) {
	t.Parallel()
	meta, mon := newMetadataService(), newMonitorService(1, time.Millisecond)
	srv, _ := startServer(t, server.Config{DrainTimeout: 10 * time.Second}, []server.Service{meta, mon})
	checker := grpchealth.NewClient(httpClient(t, false), baseURL(srv))
	services := []string{"", metadatav1connect.MetadataServiceName, monitorv1connect.MonitorServiceName}

	check := func(want grpchealth.Status) {
		t.Helper()
		for _, svc := range services {
			res, err := checker.Check(t.Context(), &grpchealth.CheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("Check(%q): %v", svc, err)
			}
			if res.Status != want {
				t.Errorf("Check(%q) = %v, want %v", svc, res.Status, want)
			}
		}
	}
	check(grpchealth.StatusNotServing)
	srv.SetServing(true)
	check(grpchealth.StatusServing)

	_, err := checker.Check(t.Context(), &grpchealth.CheckRequest{Service: "nope.v1.NopeService"})
	if got := connect.CodeOf(err); got != connect.CodeNotFound {
		t.Errorf("Check(unknown) code = %v, want %v", got, connect.CodeNotFound)
	}

	// Plain JSON, as curl or a load balancer would send it.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost,
		baseURL(srv)+"/grpc.health.v1.Health/Check", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := httpClient(t, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	// grpchealth's JSON enum names carry the SERVING_STATUS_ prefix of its
	// renamed copy of health.proto, unlike grpc-go's "SERVING".
	if want := `{"status":"SERVING_STATUS_SERVING"}`; res.StatusCode != http.StatusOK || string(body) != want {
		t.Errorf("JSON Check = %d %s, want 200 %s", res.StatusCode, body, want)
	}

	// During Shutdown, a watcher (opened before, over gRPC) sees NOT_SERVING
	// while a call is still draining; the watch then ends cleanly and does
	// not hold Shutdown for the whole DrainTimeout.
	watcher := grpchealth.NewClient(httpClient(t, true), baseURL(srv), connect.WithGRPC())
	events := watcher.Watch(t.Context(), &grpchealth.CheckRequest{})
	if ev := recv(t, events, "the first health event"); ev.Err != nil || ev.Response.Status != grpchealth.StatusServing {
		t.Fatalf("first watch event = %+v, want SERVING", ev)
	}
	mc := metadatav1connect.NewMetadataServiceClient(httpClient(t, false), baseURL(srv))
	unary := make(chan error, 1)
	go func() {
		_, err := mc.GetVideo(context.WithoutCancel(t.Context()), getVideo("block"))
		unary <- err
	}()
	recv(t, meta.entered, "the unary call to reach the handler")

	start := time.Now()
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(context.WithoutCancel(t.Context())) }()
	if ev := recv(t, events, "the shutdown health event"); ev.Err != nil || ev.Response.Status != grpchealth.StatusNotServing {
		t.Fatalf("watch event during Shutdown = %+v, want NOT_SERVING", ev)
	}
	srv.SetServing(true) // a late readiness check must not flip it back

	close(meta.release)
	if err := recv(t, unary, "the draining call"); err != nil {
		t.Errorf("draining call: %v", err)
	}
	for ev := range events {
		if ev.Err != nil || ev.Response.Status != grpchealth.StatusNotServing {
			t.Errorf("watch event after NOT_SERVING = %+v, want nothing but NOT_SERVING and a clean end", ev)
		}
	}
	if err := recv(t, shutdown, "Shutdown"); err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Shutdown took %v: the health watch held the drain", elapsed)
	}
}

func TestReflection(t *testing.T) {
	t.Parallel()
	srv, _ := startServer(t, server.Config{}, []server.Service{newMetadataService(), newMonitorService(1, time.Millisecond)})
	hc := httpClient(t, true)

	stream := grpcreflect.NewClient(hc, baseURL(srv), connect.WithGRPC()).NewStream(t.Context())
	defer func() { _, _ = stream.Close() }()
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("ListServices: %v", err)
	}
	want := []protoreflect.FullName{
		grpchealth.HealthV1ServiceName,
		metadatav1connect.MetadataServiceName,
		monitorv1connect.MonitorServiceName,
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("ListServices = %v, want %v", names, want)
	}
	for _, name := range want {
		files, err := stream.FileContainingSymbol(name)
		if err != nil || len(files) == 0 {
			t.Errorf("FileContainingSymbol(%s) = %d files, %v; want its descriptors", name, len(files), err)
		}
	}

	// v1alpha, for older tools: an empty gRPC stream is answered with OK.
	for _, svc := range []string{grpcreflect.ReflectV1ServiceName, grpcreflect.ReflectV1AlphaServiceName} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost,
			baseURL(srv)+"/"+svc+"/ServerReflectionInfo", http.NoBody)
		req.Header.Set("Content-Type", "application/grpc")
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Trailer.Get("Grpc-Status") != "0" {
			t.Errorf("%s: HTTP %d grpc-status %q, want 200 and 0", svc, res.StatusCode, res.Trailer.Get("Grpc-Status"))
		}
	}
}

func TestTelemetry(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	metrics := sdkmetric.NewManualReader()
	tel, err := telemetry.New(t.Context(), telemetry.Config{ServiceName: "streamgate-test"},
		telemetry.WithSpanProcessor(spans), telemetry.WithMetricReader(metrics))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	srv, logs := startServer(t, server.Config{}, []server.Service{newMetadataService()}, server.WithTelemetry(tel))
	mc := metadatav1connect.NewMetadataServiceClient(httpClient(t, false), baseURL(srv))
	if _, err := mc.GetVideo(t.Context(), getVideo("traced")); err != nil {
		t.Fatal(err)
	}

	var traceID string
	for _, s := range spans.Ended() {
		if s.Name() == strings.TrimPrefix(metadatav1connect.MetadataServiceGetVideoProcedure, "/") && s.SpanKind() == trace.SpanKindServer {
			traceID = s.SpanContext().TraceID().String()
		}
	}
	if traceID == "" {
		t.Fatalf("no server span for GetVideo among %d spans", len(spans.Ended()))
	}
	if !strings.Contains(logs.String(), `"trace_id":"`+traceID+`"`) {
		t.Errorf("access log does not carry trace_id %s", traceID)
	}

	var rm metricdata.ResourceMetrics
	if err := metrics.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names = append(names, m.Name)
		}
	}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "rpc.server.") }) {
		t.Errorf("metrics %v, want rpc.server.* from otelconnect", names)
	}
}

func TestWithHandler(t *testing.T) {
	t.Parallel()
	media := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "media "+r.URL.Path)
	})
	srv, _ := startServer(t, server.Config{}, []server.Service{newMetadataService()}, server.WithHandler("/play/", media))
	res, err := httpClient(t, false).Get(baseURL(srv) + "/play/v1/master.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if got, want := string(body), "media /play/v1/master.m3u8"; res.StatusCode != http.StatusOK || got != want {
		t.Errorf("GET /play/... = %d %q, want 200 %q", res.StatusCode, got, want)
	}
}

// miswired claims one service name but serves another's handler.
type miswired struct{ *metadataService }

func (miswired) ServiceName() string { return monitorv1connect.MonitorServiceName }

func TestNewRejects(t *testing.T) {
	t.Parallel()
	logger := discardLogger()
	good := []server.Service{newMetadataService()}
	for _, tc := range []struct {
		name     string
		cfg      server.Config
		services []server.Service
		opts     []server.Option
	}{
		{"no addr", server.Config{}, good, nil},
		{"negative drain", server.Config{Addr: "127.0.0.1:0", DrainTimeout: -time.Second}, good, nil},
		{"no services", server.Config{Addr: "127.0.0.1:0"}, nil, nil},
		{"duplicate service", server.Config{Addr: "127.0.0.1:0"}, []server.Service{newMetadataService(), newMetadataService()}, nil},
		{"wrong handler path", server.Config{Addr: "127.0.0.1:0"}, []server.Service{miswired{newMetadataService()}}, nil},
		{"route over health", server.Config{Addr: "127.0.0.1:0"}, good, []server.Option{server.WithHandler("/grpc.health.v1.Health/", http.NotFoundHandler())}},
		{"nil route handler", server.Config{Addr: "127.0.0.1:0"}, good, []server.Option{server.WithHandler("/play/", nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := server.New(tc.cfg, tc.services, logger, tc.opts...); err == nil {
				t.Error("New: got nil error, want one")
			}
		})
	}
	if _, err := server.New(server.Config{Addr: "127.0.0.1:0"}, good, nil); err == nil {
		t.Error("New with nil logger: got nil error, want one")
	}
}

func TestStartAndShutdownOrder(t *testing.T) {
	t.Parallel()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0"}, []server.Service{newMetadataService()}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown before Start = %v, want nil", err)
	}
	if err := srv.Start(t.Context()); err == nil {
		t.Error("Start after Shutdown: got nil error, want one")
	}
	recv(t, srv.Done(), "Done after Shutdown")

	srv2, _ := startServer(t, server.Config{}, []server.Service{newMetadataService()})
	if err := srv2.Start(t.Context()); err == nil {
		t.Error("second Start: got nil error, want one")
	}
}

// TestWithoutAccessLog: a service behind an edge that logs its calls (the
// gateway) is not logged twice.
func TestWithoutAccessLog(t *testing.T) {
	srv, logs := startServer(t, server.Config{}, []server.Service{newMetadataService()}, server.WithoutAccessLog())
	mc := metadatav1connect.NewMetadataServiceClient(httpClient(t, false), baseURL(srv))
	if _, err := mc.GetVideo(t.Context(), getVideo("logged")); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); strings.Contains(out, `"msg":"rpc"`) {
		t.Errorf("access log written without it:\n%s", out)
	}
}
