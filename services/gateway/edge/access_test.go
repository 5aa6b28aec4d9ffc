package edge_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/services/gateway/edge"
)

const (
	testIssuer = "streamgate-auth"
	alice      = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	bob        = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
)

// keySource is a fake AuthService.GetSigningKeys.
type keySource struct {
	mu   sync.Mutex
	keys []authtoken.SigningKey
	fail error
}

func (k *keySource) GetSigningKeys(context.Context, *connect.Request[authv1.GetSigningKeysRequest]) (*connect.Response[authv1.GetSigningKeysResponse], error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return nil, k.fail
	}
	res := &authv1.GetSigningKeysResponse{}
	for _, key := range k.keys {
		res.Keys = append(res.Keys, authtoken.JWK(key.ID, key.Public()))
	}
	return connect.NewResponse(res), nil
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

// echoIdentity answers, in response headers "Echo-<header>", the identity
// headers the backend received.
func echoIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range append([]string{identity.DevAddressHeader}, identity.TrustedHeaders...) {
			if v := r.Header.Get(h); v != "" {
				w.Header().Set("Echo-"+h, v)
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (videos) UpdateVideo(context.Context, *connect.Request[metadatav1.UpdateVideoRequest]) (*connect.Response[metadatav1.UpdateVideoResponse], error) {
	return connect.NewResponse(&metadatav1.UpdateVideoResponse{}), nil
}

func (videos) CreateVideo(context.Context, *connect.Request[metadatav1.CreateVideoRequest]) (*connect.Response[metadatav1.CreateVideoResponse], error) {
	return nil, connect.NewError(connect.CodeInternal, errors.New("an internal RPC was routed from outside"))
}

func (health) GetLogs(context.Context, *connect.Request[monitorv1.GetLogsRequest]) (*connect.Response[monitorv1.GetLogsResponse], error) {
	return connect.NewResponse(&monitorv1.GetLogsResponse{}), nil
}

func (f *fixture) token(t *testing.T, key authtoken.SigningKey, addr string, exp time.Duration) string {
	t.Helper()
	now := time.Now()
	tok, err := authtoken.Sign(key, &authtoken.SessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   addr,
			IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(exp)),
		},
		Type:      authtoken.TypeSession,
		SessionID: "ses_" + addr[2:6],
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func withHeaders[T any](msg *T, kv ...string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header().Set(kv[i], kv[i+1])
	}
	return req
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// TestAccessClasses calls an RPC of each access class from outside with
// each kind of credential.
func TestAccessClasses(t *testing.T) {
	f := newFixture(t)
	other, err := authtoken.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	valid := f.token(t, f.key, alice, 15*time.Minute)
	expired := f.token(t, f.key, alice, -10*time.Minute)
	foreign := f.token(t, other, alice, 15*time.Minute) // signed by a key auth never published
	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, f.edge)
	monitor := monitorv1connect.NewMonitorServiceClient(http.DefaultClient, f.edge)

	type call func(kv ...string) (http.Header, error)
	public := func(kv ...string) (http.Header, error) {
		res, err := videos.GetVideo(t.Context(), withHeaders(&metadatav1.GetVideoRequest{VideoId: "vid_1"}, kv...))
		if err != nil {
			return nil, err
		}
		return res.Header(), nil
	}
	session := func(kv ...string) (http.Header, error) {
		res, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, kv...))
		if err != nil {
			return nil, err
		}
		return res.Header(), nil
	}
	operator := func(kv ...string) (http.Header, error) {
		res, err := monitor.GetLogs(t.Context(), withHeaders(&monitorv1.GetLogsRequest{}, kv...))
		if err != nil {
			return nil, err
		}
		return res.Header(), nil
	}
	internal := func(kv ...string) (http.Header, error) {
		res, err := videos.CreateVideo(t.Context(), withHeaders(&metadatav1.CreateVideoRequest{}, kv...))
		if err != nil {
			return nil, err
		}
		return res.Header(), nil
	}
	tests := []struct {
		name    string
		call    call
		headers []string
		want    connect.Code // 0: success
		echo    map[string]string
	}{
		{"public anonymous", public, nil, 0, map[string]string{identity.AddressHeader: ""}},
		{"public with session", public, bearer(valid), 0, map[string]string{identity.AddressHeader: alice, identity.SessionHeader: "ses_5aAe"}},
		{"public with invalid token", public, bearer("garbage"), connect.CodeUnauthenticated, nil},
		{"public with a basic credential", public, []string{"Authorization", "Basic YTpi"}, connect.CodeUnauthenticated, nil},
		{"session missing", session, nil, connect.CodeUnauthenticated, nil},
		{"session garbage", session, bearer("not.a.jwt"), connect.CodeUnauthenticated, nil},
		{"session expired", session, bearer(expired), connect.CodeUnauthenticated, nil},
		{"session foreign key", session, bearer(foreign), connect.CodeUnauthenticated, nil},
		{"session operator token", session, bearer(testOperatorToken), connect.CodeUnauthenticated, nil},
		{"session valid", session, bearer(valid), 0, map[string]string{identity.AddressHeader: alice, identity.SessionHeader: "ses_5aAe", identity.OperatorHeader: ""}},
		{"session lowercase scheme", session, []string{"Authorization", "bearer " + valid}, 0, map[string]string{identity.AddressHeader: alice}},
		{"operator missing", operator, nil, connect.CodeUnauthenticated, nil},
		{"operator wrong", operator, bearer(testOperatorToken + "x"), connect.CodePermissionDenied, nil},
		{"operator prefix", operator, bearer(testOperatorToken[:5]), connect.CodePermissionDenied, nil},
		{"operator with a session", operator, bearer(valid), connect.CodePermissionDenied, nil},
		{"operator right", operator, bearer(testOperatorToken), 0, map[string]string{identity.OperatorHeader: "true", identity.AddressHeader: ""}},
		{"internal anonymous", internal, nil, connect.CodeNotFound, nil},
		{"internal with session", internal, bearer(valid), connect.CodeNotFound, nil},
		{"internal with operator", internal, bearer(testOperatorToken), connect.CodeNotFound, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := tt.call(tt.headers...)
			if connect.CodeOf(err) != tt.want && !(tt.want == 0 && err == nil) {
				t.Fatalf("error = %v, want code %v", err, tt.want)
			}
			if tt.want == 0 && err != nil {
				t.Fatalf("error = %v, want success", err)
			}
			for k, v := range tt.echo {
				if got := h.Get("Echo-" + k); got != v {
					t.Errorf("backend saw %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestForgedIdentityStripped: identity headers sent from outside never
// reach a service and never satisfy a check.
func TestForgedIdentityStripped(t *testing.T) {
	f := newFixture(t)
	forged := []string{identity.AddressHeader, alice, identity.SessionHeader, "ses_forged", identity.OperatorHeader, "true"}
	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, f.edge)
	res, err := videos.GetVideo(t.Context(), withHeaders(&metadatav1.GetVideoRequest{VideoId: "vid_1"}, forged...))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range identity.TrustedHeaders {
		if v := res.Header().Get("Echo-" + h); v != "" {
			t.Errorf("forged %s reached the backend: %q", h, v)
		}
	}
	if _, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, forged...)); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("session call with forged headers: %v, want Unauthenticated", err)
	}
	monitor := monitorv1connect.NewMonitorServiceClient(http.DefaultClient, f.edge)
	if _, err := monitor.GetLogs(t.Context(), withHeaders(&monitorv1.GetLogsRequest{}, forged...)); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("operator call with a forged operator header: %v, want Unauthenticated", err)
	}
	// A valid session with a forged address for someone else: the
	// verified address wins.
	kv := append(bearer(f.token(t, f.key, bob, time.Minute)), forged...)
	res2, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, kv...))
	if err != nil {
		t.Fatal(err)
	}
	if got := res2.Header().Get("Echo-" + identity.AddressHeader); got != bob {
		t.Errorf("backend saw address %q, want the verified %q", got, bob)
	}
	if got := res2.Header().Get("Echo-" + identity.OperatorHeader); got != "" {
		t.Errorf("forged operator header reached the backend: %q", got)
	}
}

func TestDevHeader(t *testing.T) {
	dev := []string{identity.DevAddressHeader, strings.ToLower(alice)}
	t.Run("production", func(t *testing.T) {
		f := newFixture(t)
		videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, f.edge)
		res, err := videos.GetVideo(t.Context(), withHeaders(&metadatav1.GetVideoRequest{VideoId: "vid_1"}, dev...))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Header().Get("Echo-" + identity.DevAddressHeader); got != "" {
			t.Errorf("dev header reached the backend outside dev mode: %q", got)
		}
		if _, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, dev...)); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("dev header for a session call outside dev mode: %v, want Unauthenticated", err)
		}
	})
	t.Run("dev mode", func(t *testing.T) {
		f := newFixture(t, func(c *edge.Config) { c.DevMode = true })
		videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, f.edge)
		res, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, dev...))
		if err != nil {
			t.Fatalf("dev header for a session call in dev mode: %v", err)
		}
		if got := res.Header().Get("Echo-" + identity.DevAddressHeader); got != strings.ToLower(alice) {
			t.Errorf("backend saw dev header %q, want it passed through", got)
		}
		if got := res.Header().Get("Echo-" + identity.AddressHeader); got != "" {
			t.Errorf("the gateway vouched for a dev identity: %q", got)
		}
		bad := []string{identity.DevAddressHeader, "0xnot-an-address"}
		if _, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, bad...)); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("malformed dev header: %v, want Unauthenticated", err)
		}
		// Operator RPCs still need the operator credential.
		monitor := monitorv1connect.NewMonitorServiceClient(http.DefaultClient, f.edge)
		if _, err := monitor.GetLogs(t.Context(), withHeaders(&monitorv1.GetLogsRequest{}, dev...)); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("dev header for an operator call: %v, want Unauthenticated", err)
		}
	})
}

func TestKeysUnavailable(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, f.key, alice, time.Minute)
	f.keys.mu.Lock()
	f.keys.fail = connect.NewError(connect.CodeUnavailable, errors.New("auth is down"))
	f.keys.mu.Unlock()
	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, f.edge)
	if _, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, bearer(tok)...)); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("session call with no signing keys: %v, want Unavailable", err)
	}
}

func TestUploadRoutesNeedSession(t *testing.T) {
	f := newFixture(t)
	head := func(kv ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, f.edge+"/uploads/upl_1", nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			req.Header.Set(kv[i], kv[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res
	}
	if res := head(); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("HEAD /uploads/ without a session = %d, want 401", res.StatusCode)
	}
	if res := head(bearer("garbage")...); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("HEAD /uploads/ with a bad token = %d, want 401", res.StatusCode)
	}
	if res := head(identity.DevAddressHeader, alice); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("HEAD /uploads/ with the dev header outside dev mode = %d, want 401", res.StatusCode)
	}
	res := head(append(bearer(f.token(t, f.key, alice, time.Minute)), identity.AddressHeader, bob)...)
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Echo-"+identity.AddressHeader) != alice {
		t.Errorf("HEAD /uploads/ with a session = %d, address %q; want 204 and %s", res.StatusCode, res.Header.Get("Echo-"+identity.AddressHeader), alice)
	}
	// Media is open: streaming checks its playback tokens itself (no
	// instance here: 503, not 401).
	pres, err := http.Get(f.edge + "/play/vid_1/master.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	_ = pres.Body.Close()
	if pres.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /play/ = %d, want 503 (passed through)", pres.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	const origin = "https://app.example.com"
	f := newFixture(t, func(c *edge.Config) { c.AllowedOrigins = []string{origin, "http://localhost:5173"} })
	preflight := func(o string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, f.edge+"/streamgate.metadata.v1.MetadataService/UpdateVideo", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", o)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,connect-protocol-version,connect-timeout-ms")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res
	}
	res := preflight(origin)
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("preflight = %d, Allow-Origin %q; want 204 and %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), origin)
	}
	allow := strings.ToLower(res.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"connect-protocol-version", "connect-timeout-ms", "grpc-timeout", "x-grpc-web", "x-user-agent", "authorization", "content-type", "tus-resumable", "upload-offset", "upload-length", "upload-metadata"} {
		if !strings.Contains(allow, h) {
			t.Errorf("Allow-Headers %q lacks %s", allow, h)
		}
	}
	if !strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Errorf("Allow-Methods %q lacks PATCH (tus)", res.Header.Get("Access-Control-Allow-Methods"))
	}
	if res := preflight("https://evil.example.com"); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from a foreign origin = %d, Allow-Origin %q; want 403 and none", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}

	// An actual call: the origin is echoed and the Connect/gRPC headers
	// exposed, on errors too.
	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, f.edge, connect.WithGRPCWeb())
	_, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, "Origin", origin))
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeUnauthenticated {
		t.Fatalf("UpdateVideo without a session: %v, want Unauthenticated", err)
	}
	if got := cerr.Meta().Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("Allow-Origin on an error = %q, want %q", got, origin)
	}
	expose := strings.ToLower(cerr.Meta().Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"grpc-status", "grpc-message", "grpc-status-details-bin", "location", "upload-offset", "upload-length", "tus-resumable", "upload-expires", "retry-after"} {
		if !strings.Contains(expose, h) {
			t.Errorf("Expose-Headers %q lacks %s", expose, h)
		}
	}

	// A service's own CORS headers (tusd's) are replaced by the edge's.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, f.edge+"/uploads/upl_1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Authorization", "Bearer "+f.token(t, f.key, alice, time.Minute))
	hres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = hres.Body.Close()
	if got := hres.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != origin {
		t.Errorf("upload Allow-Origin = %q, want exactly [%q]", got, origin)
	}
	// tus's own OPTIONS (no Access-Control-Request-Method) is not a
	// preflight: it reaches the service (and needs a session like any
	// upload request).
	oreq, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, f.edge+"/uploads/", nil)
	if err != nil {
		t.Fatal(err)
	}
	oreq.Header.Set("Origin", origin)
	ores, err := http.DefaultClient.Do(oreq)
	if err != nil {
		t.Fatal(err)
	}
	_ = ores.Body.Close()
	if ores.StatusCode != http.StatusUnauthorized {
		t.Errorf("tus OPTIONS without a session = %d, want 401", ores.StatusCode)
	}
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t, func(c *edge.Config) { c.MaxRequestBytes = 1024 })
	big := &metadatav1.GetVideoRequest{VideoId: strings.Repeat("x", 4096)}
	for _, p := range []struct {
		name   string
		client *http.Client
		opts   []connect.ClientOption
	}{
		{"connect", http.DefaultClient, nil},
		{"grpc", h2cClient(), []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", http.DefaultClient, []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		t.Run(p.name, func(t *testing.T) {
			videos := metadatav1connect.NewMetadataServiceClient(p.client, f.edge, p.opts...)
			if _, err := videos.GetVideo(t.Context(), connect.NewRequest(big)); connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Errorf("oversized request: %v, want ResourceExhausted", err)
			}
			if _, err := videos.GetVideo(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "vid_1"})); err != nil {
				t.Errorf("small request: %v", err)
			}
		})
	}
	// An oversized body without a Content-Length is cut off in flight.
	body := io.MultiReader(strings.NewReader(`{"videoId":"`), strings.NewReader(strings.Repeat("x", 4096)), strings.NewReader(`"}`))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.edge+"/streamgate.metadata.v1.MetadataService/GetVideo", io.NopCloser(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(msg), "resource_exhausted") {
		t.Errorf("chunked oversized body = %d %s, want 429 resource_exhausted", res.StatusCode, msg)
	}
	// tus PATCH bodies are bounded by the upload, not by the RPC limit.
	patch, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, f.edge+"/uploads/upl_1", strings.NewReader(strings.Repeat("v", 8192)))
	if err != nil {
		t.Fatal(err)
	}
	patch.Header.Set("Authorization", "Bearer "+f.token(t, f.key, alice, time.Minute))
	patch.Header.Set("Content-Type", "application/offset+octet-stream")
	pres, err := http.DefaultClient.Do(patch)
	if err != nil {
		t.Fatal(err)
	}
	_ = pres.Body.Close()
	if pres.StatusCode != http.StatusNoContent {
		t.Errorf("tus PATCH of 8 KiB with a 1 KiB RPC limit = %d, want 204", pres.StatusCode)
	}
}

// clock is a settable time for the rate limiters.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRateLimits(t *testing.T) {
	t.Run("per IP", func(t *testing.T) {
		clk := &clock{now: time.Unix(1_800_000_000, 0)}
		f := newFixture(t, func(c *edge.Config) {
			c.PerIP = edge.RateLimit{Rate: 0.5, Burst: 3}
			c.PerPlayback = edge.RateLimit{Rate: 0.5, Burst: 1}
			c.Now = clk.Now
		})
		videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, f.edge)
		for i := range 3 {
			if _, err := videos.GetVideo(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "vid_1"})); err != nil {
				t.Fatalf("call %d within the burst: %v", i, err)
			}
		}
		_, err := videos.GetVideo(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "vid_1"}))
		var cerr *connect.Error
		if !errors.As(err, &cerr) || cerr.Code() != connect.CodeResourceExhausted {
			t.Fatalf("call past the burst: %v, want ResourceExhausted", err)
		}
		if got := cerr.Meta().Get("Retry-After"); got != "2" {
			t.Errorf("Retry-After = %q, want 2 (one token at 0.5/s)", got)
		}
		// Plain-HTTP routes answer 429 with Retry-After (media without a
		// token: per address, at the playback rate).
		for range 2 {
			res, err := http.Get(f.edge + "/play/vid_1/master.m3u8")
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
		}
		res, err := http.Get(f.edge + "/play/vid_1/master.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Errorf("media past the limit = %d, Retry-After %q; want 429 and a delay", res.StatusCode, res.Header.Get("Retry-After"))
		}
		clk.Add(2 * time.Second)
		if _, err := videos.GetVideo(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "vid_1"})); err != nil {
			t.Errorf("call after the delay: %v", err)
		}
	})
	t.Run("per identity", func(t *testing.T) {
		clk := &clock{now: time.Unix(1_800_000_000, 0)}
		f := newFixture(t, func(c *edge.Config) {
			c.PerIdentity = edge.RateLimit{Rate: 0.1, Burst: 2}
			c.Now = clk.Now
		})
		videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, f.edge)
		a, b := f.token(t, f.key, alice, time.Hour), f.token(t, f.key, bob, time.Hour)
		for i := range 2 {
			if _, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, bearer(a)...)); err != nil {
				t.Fatalf("call %d within the burst: %v", i, err)
			}
		}
		_, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, bearer(a)...))
		var cerr *connect.Error
		if !errors.As(err, &cerr) || cerr.Code() != connect.CodeResourceExhausted || cerr.Meta().Get("Retry-After") != "10" {
			t.Fatalf("wallet past its burst: %v (Retry-After %q), want ResourceExhausted and 10", err, cerr.Meta().Get("Retry-After"))
		}
		// Another wallet from the same IP has its own bucket; anonymous
		// calls are not charged to the wallet.
		if _, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, bearer(b)...)); err != nil {
			t.Errorf("another wallet: %v", err)
		}
		if _, err := videos.GetVideo(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "vid_1"})); err != nil {
			t.Errorf("anonymous call: %v", err)
		}
	})
}

func TestAccessLog(t *testing.T) {
	f := newFixture(t)
	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, f.edge)
	if _, err := videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, bearer(f.token(t, f.key, alice, time.Minute))...)); err != nil {
		t.Fatal(err)
	}
	_, _ = videos.CreateVideo(t.Context(), connect.NewRequest(&metadatav1.CreateVideoRequest{}))
	logs := f.logs.String()
	for _, want := range []string{
		`"msg":"access","method":"POST","path":"/streamgate.metadata.v1.MetadataService/UpdateVideo","status":200`,
		`"identity":"` + alice + `"`,
		`"path":"/streamgate.metadata.v1.MetadataService/CreateVideo","status":404`,
		`"identity":"anonymous"`,
		`"bytes_in":`, `"bytes_out":`, `"duration":`, `"ip":"127.0.0.1"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s:\n%s", want, logs)
		}
	}
}

// Media answers CORS for any origin, so a creator's own site can play an
// embedded video with hls.js or shaka; no credentials are ever allowed,
// and the API keeps to the configured origins.
func TestCORSPlayAnyOrigin(t *testing.T) {
	f := newFixture(t, func(c *edge.Config) { c.AllowedOrigins = []string{"https://app.example.com"} })
	const site = "https://creator-blog.example.org"
	do := func(method, path string, preflight bool) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, f.edge+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", site)
		if preflight {
			req.Header.Set("Access-Control-Request-Method", "GET")
			req.Header.Set("Access-Control-Request-Headers", "range")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res
	}
	res := do(http.MethodOptions, "/play/vid_x/hls/master.m3u8", true)
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != site {
		t.Errorf("media preflight from another site = %d, Allow-Origin %q; want 204 and %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), site)
	}
	if res.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("media preflight allows credentials: %q", res.Header.Get("Access-Control-Allow-Credentials"))
	}
	res = do(http.MethodGet, "/play/vid_x/hls/master.m3u8?token=x", false)
	if res.Header.Get("Access-Control-Allow-Origin") != site || !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "Content-Range") {
		t.Errorf("media GET from another site: Allow-Origin %q, Expose %q", res.Header.Get("Access-Control-Allow-Origin"), res.Header.Get("Access-Control-Expose-Headers"))
	}
	if res := do(http.MethodOptions, "/streamgate.metadata.v1.MetadataService/UpdateVideo", true); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("API preflight from the same site = %d, Allow-Origin %q; want 403 and none", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
}
