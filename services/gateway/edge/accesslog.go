package edge

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/streamgate/streamgate/internal/weborigin"
)

// recorder keeps the status and the bytes written for the access log. It
// unwraps for http.ResponseController (flushes of streams, full duplex).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 { // 1xx are informational
		r.status = code
	}
	if h := r.Header(); h.Get(weborigin.RefusedHeader) != "" {
		// Streaming refused the page's origin (a public video's allowed
		// origins, which the edge cannot know): take back the CORS
		// headers the edge set for /play/, so the browser hides the
		// answer as it does the edge's own refusals.
		h.Del(weborigin.RefusedHeader)
		h.Del("Access-Control-Allow-Origin")
		h.Del("Access-Control-Expose-Headers")
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logAccess writes one line per request: method, path, status (and the
// gRPC status when the protocol carries it in trailers), duration, the
// caller, the client IP and the bytes each way.
func (e *Edge) logAccess(r *http.Request, rec *recorder, st *requestState, d time.Duration) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("identity", st.caller.String()),
		slog.String("ip", clientIP(r)),
		slog.Int64("bytes_in", st.bytesIn.Load()),
		slog.Int64("bytes_out", rec.bytes),
	}
	if rest, ok := r.Context().Value(restKey{}).(string); ok {
		attrs = append(attrs, slog.String("rest", rest))
	}
	h := rec.Header()
	if gs := h.Get("Grpc-Status"); gs != "" {
		attrs = append(attrs, slog.String("grpc_status", gs))
	} else if gs := h.Get(http.TrailerPrefix + "Grpc-Status"); gs != "" {
		attrs = append(attrs, slog.String("grpc_status", gs))
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	e.logger.LogAttrs(r.Context(), level, "access", attrs...)
}
