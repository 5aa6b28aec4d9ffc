package edge

import (
	"net/http"
	"strings"
)

// CORS headers. Connect-Web and gRPC-Web need their protocol headers
// allowed and their status headers exposed; tus-js-client its Upload-*
// headers.
const (
	corsAllowMethods  = "GET, POST, PATCH, HEAD, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Range, Connect-Protocol-Version, Connect-Timeout-Ms, Connect-Accept-Encoding, Connect-Content-Encoding, Grpc-Timeout, Grpc-Accept-Encoding, X-Grpc-Web, X-User-Agent, Tus-Resumable, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Defer-Length, Upload-Concat, X-HTTP-Method-Override, X-Requested-With, Streamgate-Dev-Address"
	corsExposeHeaders = "Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin, Connect-Content-Encoding, Location, Upload-Offset, Upload-Length, Tus-Resumable, Tus-Version, Tus-Max-Size, Tus-Extension, Upload-Expires, Retry-After, Content-Length, Content-Range"
	corsMaxAge        = "7200"
)

// cors sets the CORS response headers for an allowed origin and answers a
// preflight; it reports whether the request was answered. A tus OPTIONS
// (no Access-Control-Request-Method) is not a preflight and goes on.
func (e *Edge) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
	h := w.Header()
	h.Add("Vary", "Origin")
	if origin == "" {
		return false
	}
	allowed := e.originAllowed(r, origin)
	if !allowed {
		if preflight {
			// No CORS headers: the browser refuses the call.
			w.WriteHeader(http.StatusForbidden)
			return true
		}
		// A simple request from a foreign origin still reaches the
		// service (it carries no ambient credentials: sessions are
		// bearer tokens); the browser hides the response.
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if preflight {
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	return false
}

// corsExpose sets, for an allowed origin, the headers a browser needs to
// read an answer the edge gives before its pipeline (a refusal at
// admission): the origin and the exposed headers, Retry-After among them.
func (e *Edge) corsExpose(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !e.originAllowed(r, origin) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// playPrefix is media delivery: manifests, segments, keys.
const playPrefix = "/play/"

// originAllowed reports whether origin may read the answer to r. Media
// under /play/ answers any origin, so a creator's own site can embed the
// player: the playback token in the URL is the capability, and no ambient
// credential (cookie) is ever allowed, so another origin learns nothing it
// did not already hold. Everything else answers the configured origins.
func (e *Edge) originAllowed(r *http.Request, origin string) bool {
	if strings.HasPrefix(r.URL.Path, playPrefix) {
		return true
	}
	return e.origins["*"] || e.origins[normalizeOrigin(origin)]
}
