package server_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/server"
)

// metadataService is a test service: the generated Unimplemented handler
// plus a GetVideo whose behaviour the video id selects.
type metadataService struct {
	metadatav1connect.UnimplementedMetadataServiceHandler
	entered chan struct{} // one value per "block" call that reached the handler
	release chan struct{} // closed to let "block" calls return
}

func newMetadataService() *metadataService {
	return &metadataService{entered: make(chan struct{}, 8), release: make(chan struct{})}
}

func (*metadataService) Name() string        { return "metadata" }
func (*metadataService) ServiceName() string { return metadatav1connect.MetadataServiceName }
func (m *metadataService) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return metadatav1connect.NewMetadataServiceHandler(m, opts...)
}

const panicValue = "secret panic value"

func (m *metadataService) GetVideo(ctx context.Context, req *connect.Request[metadatav1.GetVideoRequest]) (*connect.Response[metadatav1.GetVideoResponse], error) {
	video := &metadatav1.Video{Id: req.Msg.GetVideoId(), Title: "title of " + req.Msg.GetVideoId()}
	switch req.Msg.GetVideoId() {
	case "panic":
		panic(panicValue)
	case "block":
		m.entered <- struct{}{}
		select {
		case <-m.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "deadline":
		// Report the deadline the handler got, as the video's duration.
		if dl, ok := ctx.Deadline(); ok {
			video.Duration = durationpb.New(time.Until(dl))
		}
	}
	return connect.NewResponse(&metadatav1.GetVideoResponse{Video: video}), nil
}

// ValidateRequest makes metadataService a server.RequestValidator.
func (*metadataService) ValidateRequest(_ context.Context, procedure string, req any) error {
	r, ok := req.(*metadatav1.GetVideoRequest)
	if !ok || procedure != metadatav1connect.MetadataServiceGetVideoProcedure {
		return nil
	}
	switch r.GetVideoId() {
	case "":
		return errors.New("video_id is required")
	case "forbidden":
		return connect.NewError(connect.CodePermissionDenied, errors.New("not yours"))
	}
	return nil
}

// monitorService streams count messages (forever if count < 0), the first
// at once and then one per interval.
type monitorService struct {
	monitorv1connect.UnimplementedMonitorServiceHandler
	count    int
	interval time.Duration
	exited   chan error // the handler's return value, once per stream
}

func newMonitorService(count int, interval time.Duration) *monitorService {
	return &monitorService{count: count, interval: interval, exited: make(chan error, 8)}
}

func (*monitorService) Name() string        { return "monitor" }
func (*monitorService) ServiceName() string { return monitorv1connect.MonitorServiceName }
func (m *monitorService) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return monitorv1connect.NewMonitorServiceHandler(m, opts...)
}

func (m *monitorService) WatchSystemHealth(ctx context.Context, _ *connect.Request[monitorv1.WatchSystemHealthRequest], stream *connect.ServerStream[monitorv1.WatchSystemHealthResponse]) (err error) {
	defer func() { m.exited <- err }()
	ticker := time.NewTicker(m.interval)
	defer ticker.Stop()
	for i := 0; m.count < 0 || i < m.count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-ticker.C:
			}
		}
		if err := stream.Send(&monitorv1.WatchSystemHealthResponse{
			ChangeType: monitorv1.HealthChangeType_HEALTH_CHANGE_TYPE_INSTANCE_UPDATED,
			Payload: &monitorv1.WatchSystemHealthResponse_Instance{
				Instance: &monitorv1.InstanceHealth{InstanceId: strconv.Itoa(i)},
			},
		}); err != nil {
			return err
		}
	}
	return nil
}

func (*monitorService) ValidateRequest(_ context.Context, _ string, req any) error {
	if r, ok := req.(*monitorv1.WatchSystemHealthRequest); ok && r.GetService() == "bogus" {
		return errors.New("unknown service filter")
	}
	return nil
}

// logBuffer collects JSON log lines from concurrent handlers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer builds and starts a server on a free loopback port and shuts
// it down when the test ends.
func startServer(t *testing.T, cfg server.Config, services []server.Service, opts ...server.Option) (*server.Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Addr = "127.0.0.1:0"
	srv, err := server.New(cfg, services, logger, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return srv, logs
}

// protocol is one way a client can reach the server.
type protocol struct {
	name      string
	wire      string // connect.Peer.Protocol as the access log records it
	h2c       bool
	clientOpt []connect.ClientOption
}

var protocols = []protocol{
	{name: "connect/http1", wire: connect.ProtocolConnect},
	{name: "connect-json/h2c", wire: connect.ProtocolConnect, h2c: true, clientOpt: []connect.ClientOption{connect.WithProtoJSON()}},
	{name: "grpc/h2c", wire: connect.ProtocolGRPC, h2c: true, clientOpt: []connect.ClientOption{connect.WithGRPC()}},
	{name: "grpcweb/http1", wire: connect.ProtocolGRPCWeb, clientOpt: []connect.ClientOption{connect.WithGRPCWeb()}},
}

// httpClient returns a client whose transport speaks HTTP/1.1 or, for h2c,
// only cleartext HTTP/2 (what gRPC needs).
func httpClient(t *testing.T, h2c bool) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	if h2c {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = p
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func baseURL(srv *server.Server) string { return "http://" + srv.Addr() }

// recv waits for one value from ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
