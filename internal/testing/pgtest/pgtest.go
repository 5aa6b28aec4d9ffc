// Package pgtest starts a throwaway PostgreSQL 15 server for tests (through
// internal/devengine, from the Debian package in /usr/lib/postgresql/15/bin)
// on loopback, in a temp directory, with trust authentication. The server
// is stopped and its directory removed when the test ends.
//
// Starting a server costs about a second; start one per test function or
// package and call NewDatabase for each isolated case.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/devengine"
)

// BinDir is where Debian's postgresql-15 package installs the server.
const BinDir = devengine.PostgresBinDir

// Server is a running test server.
type Server struct {
	// Port is the loopback TCP port it listens on.
	Port int
	// Dir holds the data directory, the log and the unix socket.
	Dir string
	pg  *devengine.Postgres
	n   atomic.Int64
}

// URL returns the connection URL of database db (user postgres, no
// password).
func (s *Server) URL(db string) string { return s.pg.URL(db) }

// NewDatabase creates an empty database and returns its URL. The database
// goes away with the server.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := s.pg.CreateDatabase(ctx, fmt.Sprintf("test_%d", s.n.Add(1)))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return url
}

// Start initializes and starts a server, and stops it when t ends. It fails
// the test (never skips) when PostgreSQL 15 is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	// Not t.TempDir: its parents are private to root, and the server runs
	// as the postgres user when the test runs as root.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := devengine.StartPostgres(ctx, dir)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return &Server{Port: pg.Port, Dir: pg.Dir, pg: pg}
}
