// Package gateway is StreamGate's HTTP edge: one listener that passes
// Connect, gRPC and gRPC-Web calls through to an instance of the target
// service found through discovery. REST/JSON transcoding, access classes,
// CORS and limits are layered on this edge by the gateway-edge work.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/identity"
)

// Edge proxies RPCs to the mesh.
type Edge struct {
	cat      *catalog.Catalog
	services map[string]string // protobuf service name -> short name ("upload")
	proxy    *httputil.ReverseProxy
	errors   *connect.ErrorWriter
	logger   *slog.Logger
}

// New returns an edge that sends calls through rt, a transport that resolves
// a URL host naming a service ("http://upload/...") to a live instance (see
// mesh.Client.Transport).
func New(rt http.RoundTripper, cat *catalog.Catalog, logger *slog.Logger) *Edge {
	e := &Edge{
		cat:      cat,
		services: map[string]string{},
		errors:   connect.NewErrorWriter(),
		logger:   logger,
	}
	for _, m := range cat.Methods() {
		e.services[string(m.Service)] = ShortName(string(m.Service))
	}
	e.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Context().Value(targetKey{}).(string)
			pr.Out.Host = pr.Out.URL.Host
			pr.SetXForwarded()
			// Only the gateway vouches for a caller: identity headers that
			// arrive from outside are dropped before anything is forwarded.
			for _, h := range identity.TrustedHeaders {
				pr.Out.Header.Del(h)
			}
		},
		Transport: rt,
		// Flush every write at once: server streams (WatchJob,
		// StreamSegments) must reach the client as they are produced.
		FlushInterval: -1,
		ErrorHandler:  e.proxyError,
		BufferPool:    newBufferPool(),
	}
	return e
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
// tus uploads and media delivery. Each prefix goes to one service.
var httpRoutes = []struct{ prefix, service string }{
	{"/uploads/", "upload"},
	{"/play/", "streaming"},
}

// ServeHTTP routes "/<package>.<Service>/<Method>" to the service's
// instances, and the plain-HTTP prefixes in httpRoutes likewise.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, rt := range httpRoutes {
		if strings.HasPrefix(r.URL.Path, rt.prefix) {
			e.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, rt.service)))
			return
		}
	}
	svc, _, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	short, known := e.services[svc]
	if !ok || !known {
		e.writeError(w, r, connect.NewError(connect.CodeNotFound, fmt.Errorf("no route for %s", r.URL.Path)))
		return
	}
	if _, found := e.cat.Lookup(r.URL.Path); !found {
		e.writeError(w, r, connect.NewError(connect.CodeUnimplemented, fmt.Errorf("%s has no method %s", svc, strings.TrimPrefix(r.URL.Path, "/"+svc+"/"))))
		return
	}
	e.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, short)))
}

// proxyError answers in the caller's protocol when no instance could take
// the call: Unavailable, which clients may retry.
func (e *Edge) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away; nobody is left to answer
	}
	e.logger.WarnContext(r.Context(), "proxy failed", "path", r.URL.Path, "error", err)
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		cerr = connect.NewError(connect.CodeUnavailable, errors.New("no instance could take the call"))
	}
	e.writeError(w, r, cerr)
}

func (e *Edge) writeError(w http.ResponseWriter, r *http.Request, err *connect.Error) {
	if e.errors.IsSupported(r) {
		_ = e.errors.Write(w, r, err)
		return
	}
	// A plain-HTTP route (tus, media): answer with the matching status.
	status := http.StatusNotFound
	switch err.Code() {
	case connect.CodeUnavailable:
		status = http.StatusServiceUnavailable
	case connect.CodeUnimplemented:
		status = http.StatusNotImplemented
	}
	http.Error(w, err.Message(), status)
}

// bufferPool reuses the proxy's copy buffers: without it every proxied call
// allocates a fresh 32 KiB buffer.
type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (p *bufferPool) Get() []byte  { return *(p.pool.Get().(*[]byte)) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }
