package gateway_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
	optionsv1 "github.com/streamgate/streamgate/gen/go/streamgate/options/v1"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/services/gateway"
	"github.com/streamgate/streamgate/services/gateway/edge"
	"github.com/streamgate/streamgate/web"
)

const operatorToken = "operator-secret-abcdef"

type instances map[string]int

func (i instances) Instances(service string) []registry.Instance {
	out := make([]registry.Instance, i[service])
	for n := range out {
		out[n] = registry.Instance{Service: service, ID: service + "-" + string(rune('a'+n)), Address: "127.0.0.1:1"}
	}
	return out
}

// noMesh fails every proxied call: these tests only reach the gateway's
// own RPCs.
type noMesh struct{}

func (noMesh) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no mesh in this test")
}

func testConfig() gateway.Config {
	return gateway.Config{
		APIBaseURL: "http://127.0.0.1:8080/",
		Chains: []gateway.Chain{
			{ID: 1337, Name: "StreamGate Dev", RPCURL: "http://127.0.0.1:8545", DemoNFTContract: strings.ToLower("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")},
			{ID: 1, Name: "Ethereum Mainnet"},
		},
		Upload: gateway.UploadLimits{
			MaxUploadBytes:      10 << 30,
			MaxDuration:         2 * time.Hour,
			AllowedContentTypes: []string{"video/mp4", "Video/WebM"},
			MaxTitleLength:      200,
		},
		Version: "v1.2.3",
	}
}

// start serves the gateway service as internal/server mounts it (its
// handler with the identity interceptor, the edge at "/") and returns the
// URL.
func start(t *testing.T, cfg gateway.Config, inst instances) string {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	e, err := edge.New(edge.Config{OperatorToken: operatorToken, AllowedOrigins: []string{"http://localhost:5173"}}, noMesh{}, catalog.Default(), nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := gateway.New(cfg, e, catalog.Default(), inst, logger)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(svc.Handler(connect.WithInterceptors(identity.NewInterceptor(false))))
	for p, h := range svc.HTTPHandlers() {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestGetClientConfig(t *testing.T) {
	url := start(t, testConfig(), instances{})
	for _, opts := range [][]connect.ClientOption{nil, {connect.WithGRPCWeb()}, {connect.WithHTTPGet()}} {
		client := gatewayv1connect.NewGatewayServiceClient(http.DefaultClient, url, opts...)
		res, err := client.GetClientConfig(t.Context(), connect.NewRequest(&gatewayv1.GetClientConfigRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		got := res.Msg
		want := &gatewayv1.GetClientConfigResponse{
			ApiBaseUrl: "http://127.0.0.1:8080",
			Chains: []*gatewayv1.Chain{
				{ChainId: 1337, Name: "StreamGate Dev", RpcUrl: "http://127.0.0.1:8545", DemoNftContractAddress: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},
				{ChainId: 1, Name: "Ethereum Mainnet"},
			},
			SiweDomain:      "127.0.0.1:8080",
			SiweUri:         "http://127.0.0.1:8080",
			UploadBaseUrl:   "http://127.0.0.1:8080/uploads",
			PlaybackBaseUrl: "http://127.0.0.1:8080/play",
			UploadLimits: &gatewayv1.UploadLimits{
				MaxUploadBytes:      10 << 30,
				MaxDuration:         got.GetUploadLimits().GetMaxDuration(),
				AllowedContentTypes: []string{"video/mp4", "video/webm"},
				MaxTitleLength:      200,
			},
			GatewayVersion: "v1.2.3",
		}
		if !proto.Equal(got, want) {
			t.Errorf("GetClientConfig =\n%v\nwant\n%v", got, want)
		}
		if d := got.GetUploadLimits().GetMaxDuration().AsDuration(); d != 2*time.Hour {
			t.Errorf("max duration = %v, want 2h", d)
		}
	}

	// The gateway's own RPCs are behind the edge: a browser's preflight
	// is answered.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, url+gatewayv1connect.GatewayServiceGetClientConfigProcedure, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "http://localhost:5173")
	req.Header.Set("Access-Control-Request-Method", "POST")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("preflight = %d, Allow-Origin %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		edit func(*gateway.Config)
	}{
		{"no api url", func(c *gateway.Config) { c.APIBaseURL = "" }},
		{"relative api url", func(c *gateway.Config) { c.APIBaseURL = "/api" }},
		{"no chains", func(c *gateway.Config) { c.Chains = nil }},
		{"chain without id", func(c *gateway.Config) { c.Chains[0].ID = 0 }},
		{"duplicate chain", func(c *gateway.Config) { c.Chains[1].ID = c.Chains[0].ID }},
		{"bad demo contract", func(c *gateway.Config) { c.Chains[0].DemoNFTContract = "0x1234" }},
		{"bad rpc url", func(c *gateway.Config) { c.Chains[0].RPCURL = "localhost:8545" }},
		{"bad siwe domain", func(c *gateway.Config) { c.SIWEDomain = "https://example.com/" }},
		{"no upload limit", func(c *gateway.Config) { c.Upload.MaxUploadBytes = 0 }},
		{"no content types", func(c *gateway.Config) { c.Upload.AllowedContentTypes = nil }},
		{"negative duration", func(c *gateway.Config) { c.Upload.MaxDuration = -time.Second }},
		{"walletconnect id pasted as a URL", func(c *gateway.Config) { c.WalletConnectProjectID = "https://cloud.example/p/abc" }},
		{"walletconnect id quoted", func(c *gateway.Config) { c.WalletConnectProjectID = `"0123456789abcdef0123456789abcdef"` }},
	}
	e, err := edge.New(edge.Config{}, noMesh{}, catalog.Default(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.edit(&cfg)
			if _, err := gateway.New(cfg, e, catalog.Default(), instances{}, slog.New(slog.DiscardHandler)); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func listAll(t *testing.T, client gatewayv1connect.GatewayServiceClient, service string, pageSize int32, kv ...string) []*gatewayv1.Route {
	t.Helper()
	var out []*gatewayv1.Route
	token := ""
	for range 1000 {
		req := connect.NewRequest(&gatewayv1.ListRoutesRequest{Service: service, PageSize: pageSize, PageToken: token})
		for i := 0; i+1 < len(kv); i += 2 {
			req.Header().Set(kv[i], kv[i+1])
		}
		res, err := client.ListRoutes(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if pageSize > 0 && len(res.Msg.GetRoutes()) > int(pageSize) {
			t.Fatalf("page of %d routes, page size %d", len(res.Msg.GetRoutes()), pageSize)
		}
		out = append(out, res.Msg.GetRoutes()...)
		if token = res.Msg.GetNextPageToken(); token == "" {
			return out
		}
	}
	t.Fatal("paging did not end")
	return nil
}

func TestListRoutes(t *testing.T) {
	url := start(t, testConfig(), instances{"metadata": 2, "upload": 1})
	client := gatewayv1connect.NewGatewayServiceClient(http.DefaultClient, url)
	cat := catalog.Default()

	var public, all int
	for _, m := range cat.Methods() {
		all++
		if m.EffectiveAccess() != optionsv1.Access_ACCESS_INTERNAL {
			public++
		}
	}
	anon := listAll(t, client, "", 0)
	if len(anon) != public {
		t.Errorf("anonymous: %d routes, want the %d non-internal ones", len(anon), public)
	}
	for i, r := range anon {
		if r.GetAccess() == optionsv1.Access_ACCESS_INTERNAL {
			t.Errorf("anonymous caller sees internal route %s", r.GetProcedure())
		}
		if i > 0 && anon[i-1].GetProcedure() >= r.GetProcedure() {
			t.Errorf("routes out of order: %s before %s", anon[i-1].GetProcedure(), r.GetProcedure())
		}
	}
	// Forged identity headers and bad credentials only hide internal
	// routes; they are no error.
	for _, kv := range [][]string{
		{identity.OperatorHeader, "true"},
		{"Authorization", "Bearer wrong"},
		{"Authorization", "Basic abc"},
	} {
		if got := listAll(t, client, "", 0, kv...); len(got) != public {
			t.Errorf("with %v: %d routes, want %d", kv, len(got), public)
		}
	}
	op := listAll(t, client, "", 0, "Authorization", "Bearer "+operatorToken)
	if len(op) != all {
		t.Errorf("operator: %d routes, want all %d", len(op), all)
	}
	// Small pages give the same table.
	if paged := listAll(t, client, "", 7, "Authorization", "Bearer "+operatorToken); len(paged) != len(op) {
		t.Errorf("paged by 7: %d routes, want %d", len(paged), len(op))
	} else {
		for i := range paged {
			if !proto.Equal(paged[i], op[i]) {
				t.Errorf("page route %d = %v, want %v", i, paged[i], op[i])
			}
		}
	}

	byProc := map[string]*gatewayv1.Route{}
	for _, r := range op {
		byProc[r.GetProcedure()] = r
	}
	tests := []struct {
		proc      string
		access    optionsv1.Access
		available bool
		count     uint32
		kind      gatewayv1.StreamKind
		idem      gatewayv1.IdempotencyLevel
		rest      string // "METHOD template", "" for none
	}{
		{"/streamgate.metadata.v1.MetadataService/GetVideo", optionsv1.Access_ACCESS_PUBLIC, true, 2, gatewayv1.StreamKind_STREAM_KIND_UNARY, gatewayv1.IdempotencyLevel_IDEMPOTENCY_LEVEL_NO_SIDE_EFFECTS, "GET /v1/videos/{video_id}"},
		{"/streamgate.metadata.v1.MetadataService/CreateVideo", optionsv1.Access_ACCESS_INTERNAL, true, 2, gatewayv1.StreamKind_STREAM_KIND_UNARY, 0, ""},
		{"/streamgate.monitor.v1.MonitorService/WatchSystemHealth", optionsv1.Access_ACCESS_OPERATOR, false, 0, gatewayv1.StreamKind_STREAM_KIND_SERVER_STREAMING, 0, ""},
		{"/streamgate.gateway.v1.GatewayService/GetClientConfig", optionsv1.Access_ACCESS_PUBLIC, true, 1, gatewayv1.StreamKind_STREAM_KIND_UNARY, gatewayv1.IdempotencyLevel_IDEMPOTENCY_LEVEL_NO_SIDE_EFFECTS, "GET /v1/config"},
		{"/streamgate.upload.v1.UploadService/CreateUpload", optionsv1.Access_ACCESS_SESSION, true, 1, gatewayv1.StreamKind_STREAM_KIND_UNARY, 0, "POST"},
	}
	for _, tt := range tests {
		r := byProc[tt.proc]
		if r == nil {
			t.Errorf("%s missing", tt.proc)
			continue
		}
		if r.GetAccess() != tt.access || r.GetAvailable() != tt.available || r.GetHealthyInstanceCount() != tt.count || r.GetStreamKind() != tt.kind {
			t.Errorf("%s = %v", tt.proc, r)
		}
		if tt.idem != 0 && r.GetIdempotencyLevel() != tt.idem {
			t.Errorf("%s idempotency = %v, want %v", tt.proc, r.GetIdempotencyLevel(), tt.idem)
		}
		if r.GetIdempotencyLevel() == gatewayv1.IdempotencyLevel_IDEMPOTENCY_LEVEL_UNSPECIFIED {
			t.Errorf("%s has no idempotency level", tt.proc)
		}
		switch {
		case tt.rest == "" && len(r.GetRestBindings()) != 0:
			t.Errorf("%s has REST bindings %v, want none", tt.proc, r.GetRestBindings())
		case tt.rest != "":
			if len(r.GetRestBindings()) == 0 {
				t.Errorf("%s has no REST binding", tt.proc)
				break
			}
			b := r.GetRestBindings()[0]
			if got := b.GetMethod() + " " + b.GetPathTemplate(); !strings.HasPrefix(got, tt.rest) {
				t.Errorf("%s REST = %q, want %q", tt.proc, got, tt.rest)
			}
		}
		if r.GetService() == "" || r.GetMethod() == "" || !strings.HasSuffix(tt.proc, "/"+r.GetMethod()) {
			t.Errorf("%s names service %q method %q", tt.proc, r.GetService(), r.GetMethod())
		}
	}

	// Filtered by service.
	up := listAll(t, client, "streamgate.upload.v1.UploadService", 2)
	if len(up) == 0 {
		t.Error("no upload routes")
	}
	for _, r := range up {
		if r.GetService() != "streamgate.upload.v1.UploadService" {
			t.Errorf("filtered list has %s", r.GetProcedure())
		}
	}
	if got := listAll(t, client, "streamgate.nope.v1.Nope", 0); len(got) != 0 {
		t.Errorf("unknown service: %d routes, want none", len(got))
	}
}

func TestListRoutesInvalid(t *testing.T) {
	url := start(t, testConfig(), instances{})
	client := gatewayv1connect.NewGatewayServiceClient(http.DefaultClient, url)
	first, err := client.ListRoutes(t.Context(), withAuth(&gatewayv1.ListRoutesRequest{PageSize: 2}, operatorToken))
	if err != nil {
		t.Fatal(err)
	}
	opToken := first.Msg.GetNextPageToken()
	if opToken == "" {
		t.Fatal("no next page token")
	}
	tests := []struct {
		name string
		req  *connect.Request[gatewayv1.ListRoutesRequest]
	}{
		{"negative page size", connect.NewRequest(&gatewayv1.ListRoutesRequest{PageSize: -1})},
		{"malformed token", connect.NewRequest(&gatewayv1.ListRoutesRequest{PageToken: "!!!"})},
		{"garbage token", connect.NewRequest(&gatewayv1.ListRoutesRequest{PageToken: "Z2FyYmFnZQ"})},
		{"operator token used anonymously", connect.NewRequest(&gatewayv1.ListRoutesRequest{PageToken: opToken})},
		{"token for another filter", withAuth(&gatewayv1.ListRoutesRequest{PageToken: opToken, Service: "streamgate.upload.v1.UploadService"}, operatorToken)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := client.ListRoutes(t.Context(), tt.req); connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("error = %v, want InvalidArgument", err)
			}
		})
	}
	// The token works with its own filter and credential.
	if _, err := client.ListRoutes(t.Context(), withAuth(&gatewayv1.ListRoutesRequest{PageToken: opToken}, operatorToken)); err != nil {
		t.Errorf("next page: %v", err)
	}
	// Larger page sizes are capped, not refused.
	res, err := client.ListRoutes(t.Context(), connect.NewRequest(&gatewayv1.ListRoutesRequest{PageSize: 10000}))
	if err != nil || res.Msg.GetNextPageToken() != "" {
		t.Errorf("page size 10000: %v, next %q", err, res.Msg.GetNextPageToken())
	}
}

func withAuth(msg *gatewayv1.ListRoutesRequest, token string) *connect.Request[gatewayv1.ListRoutesRequest] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+token)
	return req
}

// TestWebAppRouting: page loads reach the web app, on the same origin as
// the API; RPCs, REST routes and media stay with the edge.
func TestWebAppRouting(t *testing.T) {
	cfg := testConfig()
	cfg.WebApp = web.NewHandler(fstest.MapFS{"index.html": {Data: []byte("<title>StreamGate</title>")}})
	url := start(t, cfg, instances{})
	for path, wantApp := range map[string]bool{
		"/":                      true,
		"/watch/vid_1":           true,
		"/v1/config":             false, // REST: the gateway's own route, JSON
		"/v1/nope":               false, // unknown REST route: JSON 404 from the edge
		"/openapi.json":          false,
		"/play/vid_1/index.m3u8": false,
	} {
		res, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		isApp := strings.Contains(string(body), "<title>StreamGate</title>")
		if isApp != wantApp {
			t.Errorf("GET %s: served by the app = %v, want %v (status %d, %.80q)", path, isApp, wantApp, res.StatusCode, body)
		}
	}
	// A POST to a page path is the edge's (JSON 404), never the app's HTML.
	res, err := http.Post(url+"/watch/vid_1", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("POST /watch/vid_1: Content-Type %q, want JSON from the edge", ct)
	}
}

// TestClientConfigDevMode: clients learn that they may offer the dev
// wallets only from a dev server.
func TestClientConfigDevMode(t *testing.T) {
	for _, dev := range []bool{false, true} {
		cfg := testConfig()
		cfg.DevMode = dev
		client := gatewayv1connect.NewGatewayServiceClient(http.DefaultClient, start(t, cfg, instances{}))
		res, err := client.GetClientConfig(t.Context(), connect.NewRequest(&gatewayv1.GetClientConfigRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Msg.GetDevMode(); got != dev {
			t.Errorf("dev_mode = %v, want %v", got, dev)
		}
	}
}

// TestClientConfigWalletConnect: the web app offers phone wallets only when
// the operator configured a WalletConnect project id, and learns it here.
func TestClientConfigWalletConnect(t *testing.T) {
	for _, id := range []string{"", "0123456789abcdef0123456789abcdef"} {
		cfg := testConfig()
		cfg.WalletConnectProjectID = id
		client := gatewayv1connect.NewGatewayServiceClient(http.DefaultClient, start(t, cfg, instances{}))
		res, err := client.GetClientConfig(t.Context(), connect.NewRequest(&gatewayv1.GetClientConfigRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Msg.GetWalletconnectProjectId(); got != id {
			t.Errorf("walletconnect_project_id = %q, want %q", got, id)
		}
	}
}
