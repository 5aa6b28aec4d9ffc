// Package redistest starts a throwaway redis-server (the Debian package,
// through internal/devengine) on loopback for tests: no persistence, its
// directory under t.TempDir(), stopped when the test ends.
package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/devengine"
)

// startTimeout bounds the wait for the server to answer PING.
const startTimeout = 20 * time.Second

// Server is a running redis-server.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
}

// URL is the server's redis:// URL (database 0).
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start runs redis-server on 127.0.0.1 and a free port and waits until it
// answers PING. A missing binary fails the test (it never skips): run
// scripts/install-deps.sh.
func Start(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	r, err := devengine.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("redistest: %v", err)
		}
	})
	return &Server{Addr: r.Addr}
}
