package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	h := NewHandler(fstest.MapFS{
		"index.html":           {Data: []byte("<!doctype html><title>app</title>")},
		"assets/app-abc123.js": {Data: []byte("console.log(1)")},
		"favicon.svg":          {Data: []byte("<svg/>")},
	})
	tests := []struct {
		method, path string
		status       int
		body, cache  string
	}{
		{"GET", "/", 200, "<title>app</title>", "no-cache"},
		{"GET", "/watch/vid_123", 200, "<title>app</title>", "no-cache"},
		{"GET", "/studio/vid_1/", 200, "<title>app</title>", "no-cache"},
		{"GET", "/assets/app-abc123.js", 200, "console.log(1)", "public, max-age=31536000, immutable"},
		{"GET", "/favicon.svg", 200, "<svg/>", "no-cache"},
		// A missing asset must not come back as HTML.
		{"GET", "/assets/app-old.js", 404, "", ""},
		// Traversal stays inside the build: no file, so the app.
		{"GET", "/../../etc/passwd", 200, "<title>app</title>", "no-cache"},
		{"GET", "/assets/../../embed.go", 404, "", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, tt := range tests {
		res := get(t, h, tt.method, tt.path)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, res.StatusCode, tt.status)
			continue
		}
		if tt.body != "" && !strings.Contains(string(body), tt.body) {
			t.Errorf("%s %s: body %q, want %q", tt.method, tt.path, body, tt.body)
		}
		if tt.cache != "" && res.Header.Get("Cache-Control") != tt.cache {
			t.Errorf("%s %s: Cache-Control %q, want %q", tt.method, tt.path, res.Header.Get("Cache-Control"), tt.cache)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" && res.StatusCode == 200 {
			t.Errorf("%s %s: no nosniff", tt.method, tt.path)
		}
	}
}

func TestHandlerNotBuilt(t *testing.T) {
	res := get(t, NewHandler(fstest.MapFS{".gitkeep": {}}), "GET", "/")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "make web") {
		t.Fatalf("unbuilt app: %d %q", res.StatusCode, body)
	}
}

func TestIsAPIPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/streamgate.upload.v1.UploadService/CreateUpload": true,
		"/grpc.health.v1.Health/Check":                     true,
		"/v1/videos":                                       true,
		"/uploads/abc":                                     true,
		"/play/vid/master.m3u8":                            true,
		"/openapi.json":                                    true,
		"/":                                                false,
		"/watch/vid_1":                                     false,
		"/assets/index-1.js":                               false,
		"/upload":                                          false,
	} {
		if got := IsAPIPath(p); got != want {
			t.Errorf("IsAPIPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// The embed page is the one page other sites may frame: it carries the
// frame-ancestors its caller set (none by default) and no X-Frame-Options;
// every other page refuses framing.
func TestEmbedPage(t *testing.T) {
	h := NewHandler(fstest.MapFS{
		"index.html": {Data: []byte("<title>app</title>")},
		"embed.html": {Data: []byte("<title>player</title>")},
	})
	res := get(t, h, "GET", "/embed/vid_1")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), "player") {
		t.Fatalf("embed page: %d %q", res.StatusCode, body)
	}
	if xfo, csp := res.Header.Get("X-Frame-Options"), res.Header.Get("Content-Security-Policy"); xfo != "" || csp != "frame-ancestors 'none'" {
		t.Errorf("embed page without a caller's policy: X-Frame-Options %q, CSP %q; want none and frame-ancestors 'none'", xfo, csp)
	}
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Security-Policy", "frame-ancestors *")
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/embed/vid_1/", nil))
	if csp := rec.Result().Header.Get("Content-Security-Policy"); csp != "frame-ancestors *" || !strings.Contains(rec.Body.String(), "player") {
		t.Errorf("embed page with the caller's policy: CSP %q, body %q", csp, rec.Body.String())
	}
	for _, p := range []string{"/", "/watch/vid_1", "/embed/vid_1/more", "/embed/"} {
		res := get(t, h, "GET", p)
		body, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(body), "app") || res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Content-Security-Policy") != "frame-ancestors 'none'" {
			t.Errorf("%s: body %q, X-Frame-Options %q, CSP %q; want the app, refusing frames", p, body, res.Header.Get("X-Frame-Options"), res.Header.Get("Content-Security-Policy"))
		}
	}
}
