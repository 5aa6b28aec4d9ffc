// Package pgtest starts a throwaway PostgreSQL 15 server for tests, from the
// Debian package (/usr/lib/postgresql/15/bin), on loopback, in a temp
// directory, with trust authentication. The server is stopped (immediate
// mode: nothing in it is worth a clean shutdown) and its directory removed
// when the test ends.
//
// Starting a server costs about a second; start one per test function or
// package and call NewDatabase for each isolated case.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir is where Debian's postgresql-15 package installs the server.
const BinDir = "/usr/lib/postgresql/15/bin"

// Server is a running test server.
type Server struct {
	// Port is the loopback TCP port it listens on.
	Port int
	// Dir holds the data directory, the log and the unix socket.
	Dir string
	n   atomic.Int64
}

// URL returns the connection URL of database db (user postgres, no
// password).
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// NewDatabase creates an empty database and returns its URL. The database
// goes away with the server.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", s.n.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return s.URL(name)
}

// Start initializes and starts a server, and stops it when t ends. It fails
// the test (never skips) when PostgreSQL 15 is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(BinDir, b)); err != nil {
			t.Fatalf("pgtest: %s not found in %s: install PostgreSQL 15 with scripts/install-deps.sh (%v)", b, BinDir, err)
		}
	}
	// Not t.TempDir: its parents are private to root, and the server runs
	// as the postgres user when the test runs as root.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	asUser, err := ownDir(dir)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	data := filepath.Join(dir, "data")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := run(ctx, asUser, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		opts := strings.Join([]string{
			"-c listen_addresses=127.0.0.1",
			"-p " + strconv.Itoa(port),
			"-k " + dir,
			// Durability is pointless for a throwaway server.
			"-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
			"-c max_connections=100",
		}, " ")
		out, err := run(ctx, asUser, "pg_ctl", "start", "-D", data, "-w", "-t", "60", "-l", filepath.Join(dir, "server.log"), "-o", opts)
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			lastErr = fmt.Errorf("%v\n%s\n%s", err, out, log)
			continue // most likely the port was taken meanwhile
		}
		s := &Server{Port: port, Dir: dir}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if out, err := run(ctx, asUser, "pg_ctl", "stop", "-D", data, "-m", "immediate", "-w"); err != nil {
				t.Errorf("pgtest: pg_ctl stop: %v\n%s", err, out)
			}
		})
		return s
	}
	t.Fatalf("pgtest: pg_ctl start: %v", lastErr)
	return nil
}

// ownDir makes dir usable by the server. initdb refuses to run as root, so
// as root the server runs as the postgres system user and owns dir; the
// name of that user is returned ("" when no switch is needed).
func ownDir(dir string) (string, error) {
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	if os.Getuid() != 0 {
		return "", nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return "", fmt.Errorf("running as root needs the postgres system user (scripts/install-deps.sh creates it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return "", err
	}
	return "postgres", nil
}

func run(ctx context.Context, asUser, bin string, args ...string) ([]byte, error) {
	path := filepath.Join(BinDir, bin)
	var cmd *exec.Cmd
	if asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	// pg_ctl leaves the server running with our stdout open if we capture
	// it through a pipe; a file avoids waiting on the server to exit.
	f, err := os.CreateTemp("", "pgtest-out-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = os.TempDir()
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%s timed out: %w", bin, err)
	}
	return out, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
