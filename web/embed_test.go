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
