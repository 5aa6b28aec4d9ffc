package edge_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/services/gateway/edge"
)

type restResult struct {
	status int
	header http.Header
	body   map[string]any
}

func doREST(t *testing.T, method, url, body string, header map[string]string) restResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := restResult{status: res.StatusCode, header: res.Header}
	if len(raw) > 0 {
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s: Content-Type %q, body %q; want JSON", method, url, res.Header.Get("Content-Type"), raw)
		}
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", method, url, raw, err)
		}
	}
	return out
}

// TestREST: the google.api.http routes reach the services through the
// edge, with the same access classes, identity and errors as Connect.
func TestREST(t *testing.T) {
	f := newFixture(t, func(c *edge.Config) {
		c.AllowedOrigins = []string{"https://app.example"}
		c.MaxRequestBytes = 1024
	})
	session := "Bearer " + f.token(t, f.key, alice, time.Minute)
	tests := []struct {
		name       string
		method     string
		path, body string
		header     map[string]string
		wantStatus int
		wantCode   string // Connect error code; "" for success
		check      func(t *testing.T, r restResult)
	}{
		{name: "public GET returns the backend's JSON", method: "GET", path: "/v1/videos/vid_1", wantStatus: 200,
			check: func(t *testing.T, r restResult) {
				v, _ := r.body["video"].(map[string]any)
				if v["id"] != "vid_1" || v["title"] != "from backend" {
					t.Errorf("body = %v, want the backend's video", r.body)
				}
			}},
		{name: "backend error keeps its code", method: "GET", path: "/v1/videos/missing", wantStatus: 404, wantCode: "not_found"},
		{name: "spoofed identity header is stripped", method: "GET", path: "/v1/videos/vid_1", wantStatus: 200,
			header: map[string]string{identity.AddressHeader: alice, identity.OperatorHeader: "true"},
			check: func(t *testing.T, r restResult) {
				if got := r.header.Get("Echo-" + identity.AddressHeader); got != "" {
					t.Errorf("backend saw %s %q", identity.AddressHeader, got)
				}
				if got := r.header.Get("Echo-" + identity.OperatorHeader); got != "" {
					t.Errorf("backend saw %s %q", identity.OperatorHeader, got)
				}
			}},
		{name: "session route without a token", method: "PATCH", path: "/v1/videos/vid_1", body: `{"title":"x"}`, wantStatus: 401, wantCode: "unauthenticated"},
		{name: "session route with a bad token", method: "PATCH", path: "/v1/videos/vid_1", body: `{"title":"x"}`,
			header: map[string]string{"Authorization": "Bearer not-a-token"}, wantStatus: 401, wantCode: "unauthenticated"},
		{name: "session route with a session reaches the backend as the caller", method: "PATCH", path: "/v1/videos/vid_1", body: `{"title":"x"}`,
			header: map[string]string{"Authorization": session}, wantStatus: 200,
			check: func(t *testing.T, r restResult) {
				if got := r.header.Get("Echo-" + identity.AddressHeader); got != alice {
					t.Errorf("backend saw caller %q, want %q", got, alice)
				}
			}},
		{name: "operator route without the credential", method: "GET", path: "/v1/system/health", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "operator route with a session", method: "GET", path: "/v1/system/health",
			header: map[string]string{"Authorization": session}, wantStatus: 403, wantCode: "permission_denied"},
		{name: "unknown REST path", method: "GET", path: "/v1/cache/entries/k", wantStatus: 404, wantCode: "not_found"},
		{name: "internal RPC by its procedure, JSON", method: "POST", path: "/streamgate.cache.v1.CacheService/Set", body: `{}`, wantStatus: 404, wantCode: "not_found"},
		{name: "service without instances", method: "GET", path: "/v1/auth/jwks", wantStatus: 503, wantCode: "unavailable"},
		{name: "bad JSON body", method: "PATCH", path: "/v1/videos/vid_1", body: `{"title":`,
			header: map[string]string{"Authorization": session}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "JSON of the wrong type", method: "PATCH", path: "/v1/videos/vid_1", body: `{"title":5}`,
			header: map[string]string{"Authorization": session}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "body over the limit", method: "PATCH", path: "/v1/videos/vid_1", body: `{"title":"` + strings.Repeat("x", 2048) + `"}`,
			header: map[string]string{"Authorization": session}, wantStatus: 429, wantCode: "resource_exhausted"},
		{name: "CORS on a REST route", method: "GET", path: "/v1/videos/vid_1", wantStatus: 200,
			header: map[string]string{"Origin": "https://app.example"},
			check: func(t *testing.T, r restResult) {
				if got := r.header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
					t.Errorf("Access-Control-Allow-Origin = %q", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doREST(t, tt.method, f.edge+tt.path, tt.body, tt.header)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d (body %v), want %d", r.status, r.body, tt.wantStatus)
			}
			if tt.wantCode != "" {
				if r.body["code"] != tt.wantCode || r.body["message"] == "" {
					t.Errorf("error body = %v, want Connect JSON with code %q and a message", r.body, tt.wantCode)
				}
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}

	if logs := f.logs.String(); !strings.Contains(logs, `"rest":"PATCH /v1/videos/vid_1"`) {
		t.Errorf("the access log does not name the REST route: %s", logs)
	}

	// A preflight for a REST route is answered by the edge's CORS.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, f.edge+"/v1/videos/vid_1", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "PATCH")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("preflight = %d, %v", res.StatusCode, res.Header)
	}
}

// TestRESTRateLimit: REST calls count against the same limits, and the
// refusal carries Retry-After.
func TestRESTRateLimit(t *testing.T) {
	f := newFixture(t, func(c *edge.Config) { c.PerIP = edge.RateLimit{Rate: 0.001, Burst: 1} })
	if r := doREST(t, "GET", f.edge+"/v1/videos/vid_1", "", nil); r.status != 200 {
		t.Fatalf("first call: %d %v", r.status, r.body)
	}
	r := doREST(t, "GET", f.edge+"/v1/videos/vid_1", "", nil)
	if r.status != http.StatusTooManyRequests || r.body["code"] != "resource_exhausted" || r.header.Get("Retry-After") == "" {
		t.Errorf("second call: %d %v Retry-After %q; want 429 resource_exhausted with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
}

type localGateway struct {
	gatewayv1connect.UnimplementedGatewayServiceHandler
}

func (localGateway) GetClientConfig(context.Context, *connect.Request[gatewayv1.GetClientConfigRequest]) (*connect.Response[gatewayv1.GetClientConfigResponse], error) {
	return connect.NewResponse(&gatewayv1.GetClientConfigResponse{}), nil
}

// TestRESTLocalAndOpenAPI: the gateway's own REST routes go to the handler
// given to Wrap, and /openapi.json serves the document.
func TestRESTLocalAndOpenAPI(t *testing.T) {
	noMesh := roundTripFunc(func(*http.Request) (*http.Response, error) {
		t.Error("the call went to the mesh")
		return nil, connect.NewError(connect.CodeUnavailable, nil)
	})
	e, err := edge.New(edge.Config{}, noMesh, catalog.Default(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", e)
	path, h := gatewayv1connect.NewGatewayServiceHandler(localGateway{})
	var methods syncBuffer // the HTTP methods the local handler saw
	mux.Handle(path, e.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = methods.Write([]byte(r.Method + " "))
		h.ServeHTTP(w, r)
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	if r := doREST(t, "GET", srv.URL+"/v1/config", "", nil); r.status != 200 {
		t.Errorf("GET /v1/config = %d %v, want 200 from the local handler", r.status, r.body)
	}
	// The Connect call behind a REST GET with a short URL is a GET too.
	if got := methods.String(); got != "GET " {
		t.Errorf("the Connect call behind GET /v1/config used %q, want GET", got)
	}
	if r := doREST(t, "GET", srv.URL+"/v1/routes", "", nil); r.status != 501 || r.body["code"] != "unimplemented" {
		t.Errorf("GET /v1/routes = %d %v, want the local handler's unimplemented", r.status, r.body)
	}
	r := doREST(t, "GET", srv.URL+edge.OpenAPIPath, "", nil)
	if r.status != 200 || r.body["openapi"] == nil {
		t.Fatalf("GET %s = %d %v", edge.OpenAPIPath, r.status, r.body)
	}
	paths, _ := r.body["paths"].(map[string]any)
	if _, ok := paths["/v1/videos/{video_id}"].(map[string]any)["get"]; !ok {
		t.Errorf("the document has no GET /v1/videos/{video_id}")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRESTCompression: a REST answer is gzipped when the client accepts it
// and the body is large enough to gain from it; a small one goes out plain
// with its length.
func TestRESTCompression(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("v", 3000) // the backend echoes the id: a large body
	tests := []struct {
		name, id, accept string
		wantGzip         bool
	}{
		{"small, gzip accepted", "vid_1", "gzip", false},
		{"large, gzip accepted", long, "gzip, br", true},
		{"large, gzip refused", long, "gzip;q=0", false},
		{"large, no Accept-Encoding", long, "", false},
	}
	// The transport would otherwise ask for gzip itself and hide the
	// encoding.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.edge+"/v1/videos/"+tt.id, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 {
				t.Fatalf("status = %d, body %q", res.StatusCode, raw)
			}
			if got := res.Header.Get("Content-Length"); got != strconv.Itoa(len(raw)) {
				t.Errorf("Content-Length = %q for %d bytes", got, len(raw))
			}
			if gz := res.Header.Get("Content-Encoding") == "gzip"; gz != tt.wantGzip {
				t.Fatalf("Content-Encoding = %q, want gzip %v", res.Header.Get("Content-Encoding"), tt.wantGzip)
			}
			if tt.wantGzip {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				if raw, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			var body struct {
				Video struct{ ID string } `json:"video"`
			}
			if err := json.Unmarshal(raw, &body); err != nil || body.Video.ID != tt.id {
				t.Errorf("body %.100q: id %.20q, err %v; want the video %.20q", raw, body.Video.ID, err, tt.id)
			}
		})
	}
}

// BenchmarkREST measures what the REST/JSON path adds over a Connect call:
// GetVideo through the edge, same process, same backend, same HTTP/1.1
// client, as a Connect call (binary protobuf) and as GET /v1/videos/{id}.
// The two alternate within each iteration (their order swapping every
// iteration) so machine noise hits both alike; it reports the median
// latency of each and their difference (docs/BENCHMARKS.md). ns/op is the
// pair.
//
// "identity": neither client asks for compression; this is the production
// case for small messages, which the services do not compress (under 1 KiB).
// "gzip": both clients accept gzip, as they do by default, and the test
// backend (no minimum size) gzips even this small answer. "gzip-3KiB": the
// same with a 3 KiB answer (the backend echoes the id).
func BenchmarkREST(b *testing.B) {
	f := newFixture(b)
	cases := []struct {
		name string
		gzip bool
		id   string
	}{
		{"identity", false, "vid_1"},
		{"gzip", true, "vid_1"},
		{"gzip-3KiB", true, strings.Repeat("v", 3<<10)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var opts []connect.ClientOption
			if !tc.gzip {
				opts = append(opts, connect.WithAcceptCompression("gzip", nil, nil))
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: !tc.gzip}}
			benchmarkREST(b, f.edge, tc.id, client, metadatav1connect.NewMetadataServiceClient(client, f.edge, opts...))
		})
	}
}

func benchmarkREST(b *testing.B, edge, id string, client *http.Client, videos metadatav1connect.MetadataServiceClient) {
	connectCall := func() {
		if _, err := videos.GetVideo(b.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: id})); err != nil {
			b.Fatal(err)
		}
	}
	restCall := func() {
		req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, edge+"/v1/videos/"+id, nil)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatal(res.Status)
		}
	}
	// Warm both paths (connections, pools, the mesh's picker) first.
	for range 200 {
		connectCall()
		restCall()
	}
	var connectTimes, restTimes []time.Duration
	timed := func(call func(), into *[]time.Duration) {
		start := time.Now()
		call()
		*into = append(*into, time.Since(start))
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			timed(connectCall, &connectTimes)
			timed(restCall, &restTimes)
		} else {
			timed(restCall, &restTimes)
			timed(connectCall, &connectTimes)
		}
		i++
	}
	c, r := median(connectTimes), median(restTimes)
	b.ReportMetric(micros(c), "connect-median-us")
	b.ReportMetric(micros(r), "rest-median-us")
	b.ReportMetric(micros(r-c), "rest-overhead-us")
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
