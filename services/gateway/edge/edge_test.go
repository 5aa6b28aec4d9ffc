package edge_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	clientv3 "go.etcd.io/etcd/client/v3"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/mesh"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/services/gateway/edge"
)

type videos struct {
	metadatav1connect.UnimplementedMetadataServiceHandler
}

func (videos) GetVideo(_ context.Context, req *connect.Request[metadatav1.GetVideoRequest]) (*connect.Response[metadatav1.GetVideoResponse], error) {
	// The gateway forwards an identity only for a verified credential.
	if addr := req.Header().Get(identity.AddressHeader); addr != "" && req.Header().Get("Authorization") == "" {
		return nil, connect.NewError(connect.CodeInternal, errors.New("identity header reached the backend: "+addr))
	}
	if req.Msg.GetVideoId() == "missing" {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such video"))
	}
	return connect.NewResponse(&metadatav1.GetVideoResponse{Video: &metadatav1.Video{Id: req.Msg.GetVideoId(), Title: "from backend"}}), nil
}

type health struct {
	monitorv1connect.UnimplementedMonitorServiceHandler
}

func (health) WatchSystemHealth(_ context.Context, _ *connect.Request[monitorv1.WatchSystemHealthRequest], s *connect.ServerStream[monitorv1.WatchSystemHealthResponse]) error {
	for range 3 {
		if err := s.Send(&monitorv1.WatchSystemHealthResponse{ChangeType: monitorv1.HealthChangeType_HEALTH_CHANGE_TYPE_SNAPSHOT}); err != nil {
			return err
		}
	}
	return nil
}

func h2c() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// serve runs h on a loopback h2c listener and returns its address.
func serve(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: h, Protocols: h2c(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	tb.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

func register(tb testing.TB, etcd *clientv3.Client, service, addr string) {
	tb.Helper()
	r := registry.NewRegistrar(etcd, registry.Instance{Service: service, ID: service + "-1", Address: addr, StartTime: time.Now()},
		registry.RegistrarOptions{}, slog.New(slog.DiscardHandler))
	if err := r.Register(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.Deregister(context.Background()) })
}

// mesh fixture: a metadata and a monitor backend registered in a real
// embedded etcd, a mesh client watching it, and the edge in front, with a
// session verifier over a fake key source holding a real signing key.
type fixture struct {
	backend string // the metadata backend's address
	edge    string // the edge's URL
	mesh    *mesh.Client
	key     authtoken.SigningKey
	keys    *keySource
	logs    *syncBuffer // the edge's log
	etcd    *clientv3.Client
}

const testOperatorToken = "op-secret-0123456789"

func newFixture(tb testing.TB, opts ...func(*edge.Config)) *fixture {
	tb.Helper()
	_, etcd := etcdservertest.Start(tb)
	logger := slog.New(slog.DiscardHandler)

	mux := http.NewServeMux()
	mux.Handle(metadatav1connect.NewMetadataServiceHandler(videos{}))
	mux.Handle(monitorv1connect.NewMonitorServiceHandler(health{}))
	mux.HandleFunc("/uploads/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://"+r.Header.Get("X-Forwarded-Host")+r.URL.Path)
		w.Header().Set("Access-Control-Allow-Origin", "*") // as tusd does
		w.WriteHeader(http.StatusNoContent)
	})
	backend := serve(tb, echoIdentity(mux))
	register(tb, etcd, "metadata", backend)
	register(tb, etcd, "upload", backend)
	register(tb, etcd, "monitor", backend)

	w := registry.NewWatcher(etcd, registry.DefaultPrefix, logger)
	if err := w.Start(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(w.Close)
	if err := w.WaitFor(tb.Context(), "monitor", 1); err != nil {
		tb.Fatal(err)
	}
	m := mesh.New(w, catalog.Default(), mesh.Options{}, logger)
	tb.Cleanup(m.Close)

	key, err := authtoken.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	keys := &keySource{keys: []authtoken.SigningKey{key}}
	verifier, err := authtoken.NewVerifier(keys, authtoken.VerifierConfig{Issuer: testIssuer}, logger)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := edge.Config{OperatorToken: testOperatorToken, PerIP: edge.RateLimit{Rate: -1}, PerIdentity: edge.RateLimit{Rate: -1}}
	for _, o := range opts {
		o(&cfg)
	}
	logs := &syncBuffer{}
	e, err := edge.New(cfg, m.Transport(), catalog.Default(), verifier, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	addr := serve(tb, e)
	return &fixture{backend: backend, edge: "http://" + addr, mesh: m, key: key, keys: keys, logs: logs, etcd: etcd}
}

func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

func TestEdgePassThrough(t *testing.T) {
	f := newFixture(t)
	protocols := []struct {
		name   string
		client *http.Client
		opts   []connect.ClientOption
	}{
		{"connect over HTTP/1.1", http.DefaultClient, nil},
		{"connect JSON", http.DefaultClient, []connect.ClientOption{connect.WithProtoJSON()}},
		{"grpc over h2c", h2cClient(), []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", http.DefaultClient, []connect.ClientOption{connect.WithGRPCWeb()}},
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			videos := metadatav1connect.NewMetadataServiceClient(p.client, f.edge, p.opts...)
			res, err := videos.GetVideo(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "vid_1"}))
			if err != nil {
				t.Fatalf("GetVideo: %v", err)
			}
			if got := res.Msg.GetVideo(); got.GetId() != "vid_1" || got.GetTitle() != "from backend" {
				t.Errorf("GetVideo = %v, want the backend's answer", got)
			}
			// Errors keep their code through the proxy.
			_, err = videos.GetVideo(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "missing"}))
			if connect.CodeOf(err) != connect.CodeNotFound {
				t.Errorf("GetVideo(missing) error = %v, want NotFound", err)
			}
			// A server stream arrives whole.
			sreq := connect.NewRequest(&monitorv1.WatchSystemHealthRequest{})
			sreq.Header().Set("Authorization", "Bearer "+testOperatorToken)
			stream, err := monitorv1connect.NewMonitorServiceClient(p.client, f.edge, p.opts...).WatchSystemHealth(t.Context(), sreq)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for stream.Receive() {
				n++
			}
			if err := stream.Err(); err != nil || n != 3 {
				t.Errorf("stream: %d messages, err %v; want 3 and nil", n, err)
			}
			_ = stream.Close()
			// A service with no registered instance is Unavailable.
			_, err = authv1connect.NewAuthServiceClient(p.client, f.edge, p.opts...).
				GetSigningKeys(t.Context(), connect.NewRequest(&authv1.GetSigningKeysRequest{}))
			if connect.CodeOf(err) != connect.CodeUnavailable {
				t.Errorf("call to a service with no instance: %v, want Unavailable", err)
			}
		})
	}
}

// TestEdgeStripsIdentity: a client cannot claim a verified identity by
// sending the headers the gateway uses to vouch for callers.
func TestEdgeStripsIdentity(t *testing.T) {
	f := newFixture(t)
	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, f.edge)
	req := connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "vid_1"})
	req.Header().Set(identity.AddressHeader, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
	if _, err := videos.GetVideo(t.Context(), req); err != nil {
		t.Fatalf("GetVideo with a forged identity header: %v", err)
	}
}

// TestEdgeHTTPRoutes: tus and media paths go to their services, which see
// the gateway's host in X-Forwarded-Host (so tus Location points at it).
func TestEdgeHTTPRoutes(t *testing.T) {
	f := newFixture(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, f.edge+"/uploads/upl_1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token(t, f.key, alice, time.Minute))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if want := f.edge + "/uploads/upl_1"; res.StatusCode != http.StatusNoContent || res.Header.Get("Location") != want {
		t.Errorf("HEAD /uploads/upl_1 = %d, Location %q; want 204 and %q", res.StatusCode, res.Header.Get("Location"), want)
	}
	// No streaming instance is registered: 503, not a hang or a 404.
	res, err = http.Get(f.edge + "/play/vid_1/master.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /play/... with no streaming instance = %d, want 503", res.StatusCode)
	}
}

// TestEdgeHTTPRouteErrors: when the call to the upstream of a tus or media
// route fails with a Connect error, the edge answers the code's status
// from the one Connect table the REST routes use too: Internal is 500, not
// the 404 an older table of the plain routes gave every code it did not
// list.
func TestEdgeHTTPRouteErrors(t *testing.T) {
	// The upstream fails each call with the code the request names.
	upstream := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n, err := strconv.Atoi(r.Header.Get("Test-Connect-Code"))
		if err != nil {
			return nil, err
		}
		return nil, connect.NewError(connect.Code(n), errors.New("upstream failed at "+r.URL.Host))
	})
	cfg := edge.Config{DevMode: true, PerIP: edge.RateLimit{Rate: -1}, PerIdentity: edge.RateLimit{Rate: -1}}
	e, err := edge.New(cfg, upstream, catalog.Default(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	// A GET is a Connect unary GET to connect.ErrorWriter, which answers
	// in Connect's JSON with Connect's own table; other methods get the
	// plain-route answer. The two tables differ only at FailedPrecondition
	// (Connect's 400, connectHTTPStatus's 412), asserted on the plain
	// answers only.
	routes := []struct {
		method, path, service string
		plain                 bool
	}{
		{http.MethodPatch, "/uploads/upl_1", "upload", true},
		{http.MethodHead, "/uploads/upl_1", "upload", true},
		{http.MethodHead, "/play/vid_1/master.m3u8", "streaming", true},
		{http.MethodGet, "/play/vid_1/master.m3u8", "streaming", false},
	}
	codes := []struct {
		code      connect.Code
		want      int
		plainOnly bool
	}{
		{connect.CodeInternal, http.StatusInternalServerError, false},
		{connect.CodeUnknown, http.StatusInternalServerError, false},
		{connect.CodeDataLoss, http.StatusInternalServerError, false},
		{connect.CodeDeadlineExceeded, http.StatusGatewayTimeout, false},
		{connect.CodeFailedPrecondition, http.StatusPreconditionFailed, true},
		{connect.CodeAborted, http.StatusConflict, false},
		{connect.CodeOutOfRange, http.StatusBadRequest, false},
		{connect.CodeNotFound, http.StatusNotFound, false},
		{connect.CodeUnavailable, http.StatusServiceUnavailable, false},
	}
	for _, rt := range routes {
		for _, c := range codes {
			if c.plainOnly && !rt.plain {
				continue
			}
			t.Run(rt.method+" "+rt.path+" "+c.code.String(), func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), rt.method, srv.URL+rt.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Test-Connect-Code", strconv.Itoa(int(c.code)))
				req.Header.Set(identity.DevAddressHeader, alice) // uploads need a session
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(res.Body)
				_ = res.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != c.want {
					t.Errorf("%s %s, upstream %v = %d, want %d", rt.method, rt.path, c.code, res.StatusCode, c.want)
				}
				// The call reached the route's service.
				if want := "upstream failed at " + rt.service; rt.method != http.MethodHead && !strings.Contains(string(body), want) {
					t.Errorf("body %q, want the upstream's message %q", body, want)
				}
			})
		}
	}
}

func TestEdgeUnknownRoutes(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		path string
		want connect.Code
	}{
		{"/streamgate.nope.v1.NopeService/Get", connect.CodeNotFound},
		{"/streamgate.metadata.v1.MetadataService/Nope", connect.CodeUnimplemented},
		{"/grpc.reflection.v1.ServerReflection/Nope", connect.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			client := connect.NewClient[metadatav1.GetVideoRequest, metadatav1.GetVideoResponse](http.DefaultClient, f.edge+tt.path)
			_, err := client.CallUnary(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{}))
			if connect.CodeOf(err) != tt.want {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

// BenchmarkGetVideo compares one unary call made directly to the backend,
// through the discovery client, and through the gateway edge, all in one
// process against the same backend (docs/BENCHMARKS.md).
func BenchmarkGetVideo(b *testing.B) {
	f := newFixture(b)
	req := &metadatav1.GetVideoRequest{VideoId: "vid_1"}
	clients := []struct {
		name   string
		client metadatav1connect.MetadataServiceClient
	}{
		{"direct", metadatav1connect.NewMetadataServiceClient(h2cClient(), "http://"+f.backend)},
		{"mesh", metadatav1connect.NewMetadataServiceClient(f.mesh.HTTPClient(), f.mesh.BaseURL("metadata"), f.mesh.ClientOptions()...)},
		{"gateway", metadatav1connect.NewMetadataServiceClient(h2cClient(), f.edge)},
	}
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.client.GetVideo(b.Context(), connect.NewRequest(req)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
