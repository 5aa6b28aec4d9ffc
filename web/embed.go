// Package web serves the browser app: the Vite build in dist/, embedded
// into the binary so that one file runs the whole platform. `make web`
// builds it; without a build, dist/ holds only a placeholder and Handler
// answers every page with a short notice instead.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// Handler serves the app from the embedded build.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed directive guarantees dist exists
	}
	return NewHandler(sub)
}

// NewHandler serves an app build from files: existing files as they are,
// and index.html for any other path without a file extension, so that the
// app's own routes (/watch/<id>) survive a reload. Vite names the files
// under assets/ by their content hash, so those are cached for good;
// everything else, index.html above all, is revalidated on each load so a
// new release is picked up at once.
func NewHandler(files fs.FS) http.Handler {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return notBuilt{}
	}
	embedPage, _ := fs.ReadFile(files, "embed.html") // absent from older builds
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if embedPage != nil && IsEmbedPath(r.URL.Path) {
			// The one page other sites may frame. Who may is the
			// caller's to say (the gateway sets frame-ancestors from the
			// video's allowed origins); without a word, nobody.
			if h.Get("Content-Security-Policy") == "" {
				h.Set("Content-Security-Policy", "frame-ancestors 'none'")
			}
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
			if r.Method != http.MethodHead {
				_, _ = w.Write(embedPage)
			}
			return
		}
		// Every other page refuses to be framed (clickjacking).
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if st, err := fs.Stat(files, name); err == nil && !st.IsDir() {
				if strings.HasPrefix(name, "assets/") {
					h.Set("Cache-Control", "public, max-age=31536000, immutable")
				} else {
					h.Set("Cache-Control", "no-cache")
				}
				fileServer.ServeHTTP(w, r)
				return
			}
			if path.Ext(name) != "" {
				// A missing asset is a 404, never the app's HTML, which a
				// browser would try to run as a script.
				http.NotFound(w, r)
				return
			}
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(index)
	})
}

// EmbedPrefix is the embed page's path: EmbedPrefix + video id.
const EmbedPrefix = "/embed/"

// IsEmbedPath reports whether p is the embed page of a video,
// "/embed/<id>" (a trailing slash allowed, nothing deeper).
func IsEmbedPath(p string) bool {
	rest, ok := strings.CutPrefix(p, EmbedPrefix)
	rest = strings.TrimSuffix(rest, "/")
	return ok && rest != "" && !strings.Contains(rest, "/")
}

// notBuilt answers when the binary was built without `make web`.
type notBuilt struct{}

func (notBuilt) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "The StreamGate web app is not part of this build: run `make web` (or `make dev`), then rebuild the binary.", http.StatusNotFound)
}

// IsAPIPath reports whether p belongs to the API rather than to the app:
// Connect and gRPC procedures ("/streamgate.upload.v1.UploadService/...",
// "/grpc.health.v1.Health/..."), REST routes under /v1/, tus uploads,
// media delivery, the OpenAPI document, and /metrics (served on the admin
// listener only: the gateway answers it 404 rather than with the app).
func IsAPIPath(p string) bool {
	for _, prefix := range []string{"/v1/", "/uploads/", "/play/", "/streamgate.", "/grpc."} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	switch p {
	case "/v1", "/uploads", "/play", "/openapi.json", "/metrics":
		return true
	}
	return false
}
