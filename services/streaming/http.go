package streaming

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/weborigin"
)

// pather is implemented by stores whose objects are local files
// (*blob.Local); segments are then served with sendfile.
type pather interface {
	Path(ctx context.Context, key string) (string, error)
}

// maxManifestBytes bounds a manifest read into memory for rewriting.
const maxManifestBytes = 4 << 20

func (s *Service) servePlay(w http.ResponseWriter, r *http.Request) {
	// Players on other origins (hls.js, shaka) fetch with CORS. No
	// cookies are involved (the token is in the URL or the Authorization
	// header), so any origin may read.
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, ETag")
	if r.Method == http.MethodOptions {
		// POST and Content-Type are the licence request's.
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Range, If-None-Match, If-Modified-Since")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		h.Set("Allow", "GET, HEAD, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id, rel, kind, ok := parsePlayPath(r.URL.EscapedPath())
	if !ok || r.URL.Path != r.URL.EscapedPath() {
		http.NotFound(w, r)
		return
	}
	if kind == assetLicence {
		// Keys are never cached, refusals included.
		h.Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			h.Set("Allow", "POST, OPTIONS")
			http.Error(w, "a licence request is a POST", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxLicenceBody)
	} else if r.Method == http.MethodPost {
		h.Set("Allow", "GET, HEAD, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		token = bearer(r.Header.Get("Authorization"))
	}
	ctx := r.Context()
	var g *grant
	var err error
	if token == "" && (kind == assetInit || kind == assetSegment) {
		g, err = s.authorizeKeyless(ctx, id, rel)
	} else {
		g, err = s.authorize(ctx, id, token)
	}
	if err != nil {
		if kind == assetLicence {
			s.metrics.licence(ctx, "token")
		}
		s.httpError(w, err)
		return
	}
	// The host the viewer's browser asked: the gateway passes it on; a
	// page of the platform itself is always allowed.
	self := r.Header.Get("X-Forwarded-Host")
	if self == "" {
		self = r.Host
	}
	if ok, origin := weborigin.Allowed(g.allowedOrigins(), r.Header, self); !ok {
		// The page's origin is not the creator's choice: no CORS
		// headers, so the browser hides even the refusal.
		h.Del("Access-Control-Allow-Origin")
		h.Del("Access-Control-Expose-Headers")
		h.Set(weborigin.RefusedHeader, "1") // the edge drops its own CORS headers too
		s.metrics.refusal(ctx, errOrigin)
		if kind == assetLicence {
			s.metrics.licence(ctx, "origin")
		}
		http.Error(w, weborigin.RefusalMessage(origin), http.StatusForbidden)
		return
	}
	if kind == assetLicence {
		s.serveLicence(w, r, g)
		return
	}
	key := s.videoPrefix(id) + rel
	h.Set("Content-Type", kind.contentType())
	h.Set("X-Content-Type-Options", "nosniff")
	scope := "public"
	if g.gated && !g.keyless {
		scope = "private"
	}
	if kind.manifest() {
		if g.live() {
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Cache-Control", fmt.Sprintf("%s, max-age=%d", scope, int(s.cfg.ReadyManifestMaxAge.Seconds())))
		}
		body, mod, err := s.grantManifest(ctx, g, kind, rel)
		if err != nil {
			s.httpError(w, err)
			return
		}
		if body, err = s.cutManifest(g, kind, body); err != nil {
			s.httpError(w, err)
			return
		}
		body = rewrite(kind, body, s.manifestMapper(g, kind, rel, body))
		sum := sha256.Sum256(body)
		h.Set("ETag", `"m-`+hex.EncodeToString(sum[:12])+`"`)
		http.ServeContent(s.metrics.countWriter(w, true), r, "", mod, bytes.NewReader(body))
		return
	}
	if kind == assetSegment {
		if err := s.checkPreviewSegment(ctx, g, rel); err != nil {
			s.httpError(w, err)
			return
		}
	}
	h.Set("Cache-Control", scope+", max-age=31536000, immutable")
	content, size, mod, closeFn, err := s.openMedia(ctx, key, kind)
	if err != nil {
		s.httpError(w, err)
		return
	}
	defer closeFn()
	h.Set("ETag", fmt.Sprintf(`"%x-%x"`, size, mod.UnixNano()))
	http.ServeContent(s.metrics.countWriter(w, false), r, "", mod, content)
}

// readManifest reads a (small) manifest whole.
func (s *Service) readManifest(ctx context.Context, key string) ([]byte, time.Time, error) {
	info, err := s.blobs.Stat(ctx, key)
	if err != nil {
		return nil, time.Time{}, blobErr(err)
	}
	if info.Size > maxManifestBytes {
		return nil, time.Time{}, fmt.Errorf("%w: manifest %s is %d bytes", errUnavailable, key, info.Size)
	}
	rc, err := s.blobs.Get(ctx, key)
	if err != nil {
		return nil, time.Time{}, blobErr(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: read %s: %v", errUnavailable, key, err)
	}
	return b, info.ModTime, nil
}

// openMedia opens a media object for ServeContent: the file itself when the
// store is local (sendfile); for a segment, its copy in the segment cache
// (sendfile too) when there is one; else a seekable reader over ranged gets.
// Size and ModTime are the store's in every case, so the ETag and
// Last-Modified do not depend on the path taken.
func (s *Service) openMedia(ctx context.Context, key string, kind assetKind) (io.ReadSeeker, int64, time.Time, func(), error) {
	if p, ok := s.blobs.(pather); ok {
		name, err := p.Path(ctx, key)
		if err != nil {
			return nil, 0, time.Time{}, nil, blobErr(err)
		}
		f, err := os.Open(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, 0, time.Time{}, nil, errNotFound
			}
			return nil, 0, time.Time{}, nil, fmt.Errorf("%w: open %s: %v", errUnavailable, key, err)
		}
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			_ = f.Close()
			return nil, 0, time.Time{}, nil, errNotFound
		}
		return f, st.Size(), st.ModTime(), func() { _ = f.Close() }, nil
	}
	var info blob.Info
	if s.segs != nil && (kind == assetInit || kind == assetSegment) {
		f, in, res, err := s.segs.open(ctx, key)
		switch {
		case err == nil:
			s.metrics.cacheLookup(ctx, res)
			return f, in.Size, in.ModTime, func() { _ = f.Close() }, nil
		case errors.Is(err, errTooLarge):
			s.metrics.cacheBypass(ctx)
			info = in
		default:
			return nil, 0, time.Time{}, nil, blobErr(err)
		}
	} else {
		in, err := s.blobs.Stat(ctx, key)
		if err != nil {
			return nil, 0, time.Time{}, nil, blobErr(err)
		}
		info = in
	}
	rs := &rangeReader{ctx: ctx, store: s.blobs, key: key, size: info.Size}
	return rs, info.Size, info.ModTime, rs.close, nil
}

func blobErr(err error) error {
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidKey) {
		return errNotFound
	}
	return fmt.Errorf("%w: %v", errUnavailable, err)
}

func (s *Service) httpError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errInvalid), errors.Is(err, errNotFound), errors.Is(err, errNotPlayable), errors.Is(err, errVideoFailed):
		http.Error(w, "not found", http.StatusNotFound)
	case errors.Is(err, errNoToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="streamgate"`)
		http.Error(w, "a playback token is required", http.StatusUnauthorized)
	case errors.Is(err, errDenied), errors.Is(err, errExpired):
		http.Error(w, "playback token refused", http.StatusForbidden)
	case errors.Is(err, errPreviewEnded):
		http.Error(w, errPreviewEnded.Error(), http.StatusForbidden)
	case errors.Is(err, errNoDASHPreview):
		http.Error(w, errNoDASHPreview.Error(), http.StatusForbidden)
	default:
		s.logger.Warn("play request failed", "err", err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
	}
}

// rangeReader is an io.ReadSeeker over a blob read with ranged gets, for
// stores without local files.
type rangeReader struct {
	ctx   context.Context
	store blob.Store
	key   string
	size  int64
	off   int64
	rc    io.ReadCloser
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.rc == nil {
		rc, err := r.store.GetRange(r.ctx, r.key, r.off, r.size-r.off)
		if err != nil {
			return 0, err
		}
		r.rc = rc
	}
	n, err := r.rc.Read(p)
	r.off += int64(n)
	return n, err
}

func (r *rangeReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("seek: bad whence " + strconv.Itoa(whence))
	}
	if abs < 0 {
		return 0, errors.New("seek: negative position")
	}
	if abs != r.off {
		r.close()
		r.off = abs
	}
	return abs, nil
}

func (r *rangeReader) close() {
	if r.rc != nil {
		_ = r.rc.Close()
		r.rc = nil
	}
}
