package edge

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

const (
	// restGzipMinBytes is the smallest REST response body the edge
	// compresses: below it gzip costs more time (a compressor reset on each
	// side) than the bytes it saves, and the output can even grow.
	restGzipMinBytes = 1 << 10
	// restBufferMax bounds what restWriter holds: a larger success body is
	// streamed from there on; a larger error body is cut.
	restBufferMax = 1 << 20
	// restPoolMax keeps buffers that grew past it out of the pool.
	restPoolMax = 64 << 10
)

var (
	restBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	// BestSpeed, nginx's default for dynamic answers: the other
	// levels clear over 600 KiB of match tables on every Reset, which for
	// a few KiB of JSON costs more than the compressing.
	restGzips = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}}
)

// restWriter sits between vanguard and the client. It holds the response
// until the call ends, which for the unary calls REST carries costs
// nothing and lets the edge
//   - rewrite an error body (a google.rpc.Status) into Connect's JSON error
//     shape with Connect's HTTP status;
//   - compress only a body worth compressing: vanguard would gzip every
//     response the client accepts gzip for, after the backend gzipped it on
//     the Connect hop and vanguard unzipped it (serveREST removes
//     Accept-Encoding before vanguard for that reason);
//   - answer with a Content-Length in one write, not a chunked body cut by
//     vanguard's flushes.
//
// A success body past restBufferMax is streamed (gzipped when accepted).
type restWriter struct {
	http.ResponseWriter
	gzipOK    bool // the client accepts gzip
	status    int
	buf       *bytes.Buffer
	streaming bool
	gz        *gzip.Writer
}

func newRESTWriter(w http.ResponseWriter, gzipOK bool) *restWriter {
	return &restWriter{ResponseWriter: w, gzipOK: gzipOK}
}

func (w *restWriter) WriteHeader(status int) {
	if status < 200 {
		w.ResponseWriter.WriteHeader(status) // informational: not the answer
		return
	}
	if w.status == 0 {
		w.status = status
	}
}

func (w *restWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.streaming {
		return w.writeStream(p)
	}
	if w.buf == nil {
		w.buf = restBuffers.Get().(*bytes.Buffer)
	}
	if w.buf.Len()+len(p) > restBufferMax {
		if w.isError() {
			return 0, errors.New("error body too large")
		}
		w.startStream()
		return w.writeStream(p)
	}
	return w.buf.Write(p)
}

// Flush is a no-op while the response is held: vanguard flushes at message
// boundaries, and the end of the call writes everything at once.
func (w *restWriter) Flush() {
	if !w.streaming {
		return
	}
	if w.gz != nil {
		_ = w.gz.Flush()
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *restWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *restWriter) isError() bool {
	return w.status >= 400 && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json")
}

// compress reports whether a success body of n bytes (-1: unknown, as
// when streaming) goes out gzipped.
func (w *restWriter) compress(n int) bool {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	return w.gzipOK && (n < 0 || n >= restGzipMinBytes) && h.Get("Content-Encoding") == ""
}

// startStream sends the headers and what is held, then lets later writes
// through.
func (w *restWriter) startStream() {
	w.streaming = true
	h := w.Header()
	h.Del("Content-Length")
	if w.compress(-1) {
		h.Set("Content-Encoding", "gzip")
		w.gz = restGzips.Get().(*gzip.Writer)
		w.gz.Reset(w.ResponseWriter)
	}
	w.ResponseWriter.WriteHeader(w.status)
	if w.buf != nil {
		_, _ = w.writeStream(w.buf.Bytes())
		w.releaseBuffer()
	}
}

func (w *restWriter) writeStream(p []byte) (int, error) {
	if w.gz != nil {
		return w.gz.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// finish writes the held response, errors in Connect's shape.
func (w *restWriter) finish() {
	defer w.releaseBuffer()
	if w.streaming {
		if w.gz != nil {
			_ = w.gz.Close()
			w.gz.Reset(nil)
			restGzips.Put(w.gz)
			w.gz = nil
		}
		return
	}
	if w.status == 0 {
		return // nothing was answered; net/http sends an empty 200
	}
	var body []byte
	if w.buf != nil {
		body = w.buf.Bytes()
	}
	h := w.Header()
	status := w.status
	switch {
	case w.isError():
		body, status = connectErrorJSON(body, status)
		h.Del("Content-Encoding")
		h.Set("Content-Type", "application/json")
	case len(body) > 0 && w.compress(len(body)):
		zb := restBuffers.Get().(*bytes.Buffer)
		defer putRESTBuffer(zb)
		zb.Reset()
		gz := restGzips.Get().(*gzip.Writer)
		gz.Reset(zb)
		_, _ = gz.Write(body)
		_ = gz.Close()
		gz.Reset(nil)
		restGzips.Put(gz)
		body = zb.Bytes()
		h.Set("Content-Encoding", "gzip")
	}
	if status != http.StatusNoContent && status != http.StatusNotModified {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.ResponseWriter.WriteHeader(status)
	if len(body) > 0 {
		_, _ = w.ResponseWriter.Write(body)
	}
}

func (w *restWriter) releaseBuffer() {
	if w.buf != nil {
		putRESTBuffer(w.buf)
		w.buf = nil
	}
}

func putRESTBuffer(b *bytes.Buffer) {
	if b.Cap() > restPoolMax {
		return
	}
	b.Reset()
	restBuffers.Put(b)
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip:
// "gzip" or "*" without q=0.
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "x-gzip" && name != "*" {
				continue
			}
			if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}
