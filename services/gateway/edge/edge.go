// Package edge is StreamGate's HTTP edge: one listener that passes
// Connect, gRPC and gRPC-Web calls through to an instance of the target
// service found through discovery, and the tus and media routes to upload
// and streaming.
//
// The REST/JSON routes of the contracts' google.api.http annotations
// ("GET /v1/videos/{video_id}") are transcoded by vanguard into Connect
// calls that then take exactly the RPC path below (access class,
// credential, limits, access log, proxy); their errors use Connect's JSON
// shape {"code","message","details"} with Connect's HTTP status. The
// OpenAPI document of those routes is served at /openapi.json.
//
// On the way it enforces each RPC's access class from the catalog:
//
//   - ACCESS_PUBLIC: open. A bearer token, when sent, must verify (it is
//     forwarded as the caller); a bad one is Unauthenticated, not ignored.
//   - ACCESS_SESSION: "Authorization: Bearer <session token>", verified
//     locally against auth's JWKS; the caller is forwarded in
//     identity.AddressHeader and identity.SessionHeader. In dev mode
//     identity.DevAddressHeader stands in for a session.
//   - ACCESS_OPERATOR: "Authorization: Bearer <operator token>", one of
//     the named credentials of Config.Operators (each compared in constant
//     time, all of them every time); forwarded as identity.OperatorHeader
//     "true", and logged as "operator:<name>", never the token.
//   - ACCESS_INTERNAL: NotFound, as if there were no such route. Internal
//     RPCs are reachable only over the mesh: instances listen on loopback
//     (streamgate dev) or pod-private addresses (Kubernetes, where only the
//     gateway has a Service exposed outside the cluster), and the gateway,
//     the only entry from outside, never routes them.
//
// The identity headers are stripped from every incoming request before the
// edge sets its own, and the dev header is stripped outside dev mode. The
// edge also answers CORS for the configured origins, bounds RPC bodies,
// rate-limits per client IP and per wallet (ResourceExhausted with
// Retry-After), caps the requests in flight in all and per client IP, and
// writes one access-log line per request. The client IP is the TCP peer,
// or X-Forwarded-For's when the peer is a trusted proxy; its rate limit and
// concurrency cap apply before anything reads the request's body.
package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"

	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/services/gateway/openapi"
)

// Edge proxies RPCs to the mesh, enforcing each RPC's access class,
// CORS, body and rate limits on the way, and logs every request.
type Edge struct {
	cfg      Config
	cat      *catalog.Catalog
	verifier SessionVerifier
	services map[string]string // protobuf service name -> short name ("upload")
	origins  map[string]bool   // normalized allowed origins; "*" for any
	proxy    *httputil.ReverseProxy
	errors   *connect.ErrorWriter
	perIP    *limiter
	perPlay  *limiter // media under /play/, per viewer
	viewers  viewers  // the buckets of verified playback tokens
	perID    *limiter
	inflight *inflight // requests in flight, in all and per client
	logger   *slog.Logger
	rest     *vanguard.Transcoder         // REST/JSON routes -> Connect, then handle
	restPost *vanguard.Transcoder         // the same, never a Connect GET (long GET URLs)
	local    atomic.Pointer[http.Handler] // the gateway's own RPCs, from Wrap
	bodies   []bodyRoute                  // REST routes with a body, to check it
	openapi  []byte                       // the OpenAPI document served at OpenAPIPath
	revoked  *revokedSessions             // sessions auth revoked (RevokeSession)
}

// New returns an edge that sends calls through rt, a transport that resolves
// a URL host naming a service ("http://upload/...") to a live instance (see
// mesh.Client.Transport). verifier checks session tokens (an
// *authtoken.Verifier over the mesh's AuthService client); when nil, every
// call that presents a session token answers Unavailable.
func New(cfg Config, rt http.RoundTripper, cat *catalog.Catalog, verifier SessionVerifier, logger *slog.Logger) (*Edge, error) {
	if rt == nil || cat == nil || logger == nil {
		return nil, errors.New("gateway: New needs a transport, the catalog and a logger")
	}
	err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	e := &Edge{
		cfg:      cfg,
		cat:      cat,
		verifier: verifier,
		services: map[string]string{},
		origins:  map[string]bool{},
		errors:   connect.NewErrorWriter(),
		perIP:    newLimiter(cfg.PerIP, cfg.Now),
		perPlay:  newLimiter(cfg.PerPlayback, cfg.Now),
		perID:    newLimiter(cfg.PerIdentity, cfg.Now),
		inflight: newInflight(cfg.MaxConcurrent, cfg.MaxConcurrentPerClient),
		logger:   logger,
		revoked:  newRevokedSessions(cfg.Now, maxRevokedSessions),
	}
	for _, o := range cfg.AllowedOrigins {
		e.origins[normalizeOrigin(o)] = true
	}
	for _, m := range cat.Methods() {
		e.services[string(m.Service)] = ShortName(string(m.Service))
	}
	e.bodies = e.bodyRoutes()
	if e.rest, err = e.newTranscoder(false); err != nil {
		return nil, fmt.Errorf("gateway: REST transcoder: %w", err)
	}
	if e.restPost, err = e.newTranscoder(true); err != nil {
		return nil, fmt.Errorf("gateway: REST transcoder: %w", err)
	}
	if e.openapi, err = openapi.Build(cat, openapi.Info{ServerURL: cfg.PublicBaseURL}); err != nil {
		return nil, fmt.Errorf("gateway: OpenAPI document: %w", err)
	}
	e.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Context().Value(targetKey{}).(string)
			pr.Out.Host = pr.Out.URL.Host
			pr.SetXForwarded()
			// The client as admit identified it (through trusted
			// proxies), not necessarily the TCP peer.
			pr.Out.Header.Set("X-Forwarded-For", clientIP(pr.In))
			// The identity headers were stripped from the incoming
			// request and set from the verified caller in handle; pr.Out
			// carries exactly those.
			e.replayable(pr.Out)
		},
		Transport: replayOnFailure{rt},
		// Flush every write at once: server streams (WatchJob,
		// StreamSegments) must reach the client as they are produced.
		FlushInterval: -1,
		ErrorHandler:  e.proxyError,
		BufferPool:    newBufferPool(),
		// The edge answers CORS for every route; a service's own CORS
		// headers (tusd sets some) would duplicate them.
		ModifyResponse: func(res *http.Response) error {
			for k := range res.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					res.Header.Del(k)
				}
			}
			return nil
		},
	}
	return e, nil
}

type targetKey struct{}

// ShortName maps "streamgate.upload.v1.UploadService" to "upload", the name
// instances register under.
func ShortName(service string) string {
	parts := strings.Split(service, ".")
	if len(parts) >= 2 && parts[0] == "streamgate" {
		return parts[1]
	}
	return ""
}

// httpRoutes are the plain-HTTP paths services serve besides their RPCs:
// tus uploads and media delivery. Each prefix goes to one service. Uploads
// need a session; media checks its own playback tokens.
var httpRoutes = []struct {
	prefix, service string
	session         bool
}{
	{"/uploads/", "upload", true},
	{"/play/", "streaming", false},
}

// ServeHTTP routes "/<package>.<Service>/<Method>" to the service's
// instances, and the plain-HTTP prefixes in httpRoutes likewise. Other
// paths are the REST/JSON routes of the google.api.http annotations,
// transcoded to Connect calls that take the same path through the edge,
// and the OpenAPI document at OpenAPIPath.
//
// Every request is first admitted (admit), before its body is read.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r, release, ok := e.admit(w, r)
	if !ok {
		return
	}
	defer release()
	switch {
	case e.isRPCPath(r):
		e.handle(w, r, nil)
	case r.URL.Path == OpenAPIPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		e.serveOpenAPI(w, r)
	default:
		e.serveREST(w, r)
	}
}

// Wrap returns local behind the edge's checks (CORS, access, limits, access
// log): the gateway's own RPCs, answered in-process rather than proxied.
// The verified caller reaches local in the identity headers.
//
// The REST routes of the gateway's own service (GetClientConfig at
// /v1/config, ListRoutes at /v1/routes) go to the local handler last given
// to Wrap.
func (e *Edge) Wrap(local http.Handler) http.Handler {
	e.local.Store(&local)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, release, ok := e.admit(w, r)
		if !ok {
			return
		}
		defer release()
		e.handle(w, r, local)
	})
}

// proxyError answers in the caller's protocol when no instance could take
// the call: Unavailable, which clients may retry.
func (e *Edge) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away; nobody is left to answer
	}
	e.logger.WarnContext(r.Context(), "proxy failed", "path", r.URL.Path, "error", err)
	var cerr *connect.Error
	if st := stateOf(r.Context()); st != nil && st.tooLarge.Load() {
		cerr = connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("request body exceeds %d bytes", e.cfg.MaxRequestBytes))
	} else if !errors.As(err, &cerr) {
		cerr = connect.NewError(connect.CodeUnavailable, errors.New("no instance could take the call"))
	}
	e.writeError(w, r, cerr)
}

func (e *Edge) writeError(w http.ResponseWriter, r *http.Request, err *connect.Error) {
	if e.errors.IsSupported(r) {
		_ = e.errors.Write(w, r, err)
		return
	}
	for _, rt := range httpRoutes {
		if strings.HasPrefix(r.URL.Path, rt.prefix) {
			// A plain-HTTP route (tus, media): answer with the
			// matching status.
			http.Error(w, err.Message(), connectHTTPStatus(err.Code()))
			return
		}
	}
	// Anything else (an unknown REST path): Connect's JSON error shape,
	// as the REST routes answer.
	body, status := marshalConnectError(err), connectHTTPStatus(err.Code())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bufferPool reuses the proxy's copy buffers: without it every proxied call
// allocates a fresh 32 KiB buffer.
type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (p *bufferPool) Get() []byte  { return *(p.pool.Get().(*[]byte)) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

// replayLimit bounds the body of a call the edge keeps to send again.
const replayLimit = 1 << 20

// replayable keeps the body of a unary call the contract marks safe to
// repeat (a read, or an idempotent write) and sets GetBody, which tells
// replayOnFailure it may send the call again: an instance that dies while
// it answers must not fail an idempotent call through the gateway, as the
// mesh client's retries ensure between services.
func (e *Edge) replayable(out *http.Request) {
	out.GetBody = nil // set below only for what may be sent twice
	m, ok := e.cat.Lookup(out.URL.Path)
	if !ok || !m.Retryable() || m.StreamType != catalog.Unary {
		return
	}
	if out.Body == nil || out.Body == http.NoBody {
		out.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return
	}
	if out.ContentLength < 0 || out.ContentLength > replayLimit {
		return
	}
	buf, err := io.ReadAll(io.LimitReader(out.Body, replayLimit+1))
	_ = out.Body.Close()
	if err != nil || len(buf) > replayLimit {
		// Send what arrived followed by the failure; no replay.
		out.Body = io.NopCloser(io.MultiReader(bytes.NewReader(buf), errReader{err}))
		return
	}
	out.Body = io.NopCloser(bytes.NewReader(buf))
	out.ContentLength = int64(len(buf))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.ErrUnexpectedEOF
	}
	return 0, r.err
}

// replayOnFailure sends a replayable call (GetBody set) again, up to twice,
// when it failed without a response: the mesh transport picks an instance
// anew (a dead one's breaker has counted the failure, and a refused dial
// moves on by itself).
type replayOnFailure struct{ next http.RoundTripper }

func (t replayOnFailure) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(r)
	for attempt := 1; err != nil && r.GetBody != nil && attempt <= 2 && r.Context().Err() == nil; attempt++ {
		body, berr := r.GetBody()
		if berr != nil {
			return res, err
		}
		again := r.Clone(r.Context())
		again.Body = body
		res, err = t.next.RoundTrip(again)
	}
	return res, err
}
