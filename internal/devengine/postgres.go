package devengine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresBinDir is where Debian's postgresql-15 package installs the
// server.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// Postgres is a running PostgreSQL server: user postgres, trust
// authentication, on 127.0.0.1, durability off (fsync=off).
type Postgres struct {
	// Port is the loopback TCP port it listens on.
	Port int
	// Dir holds the data directory (Dir/data), the log and the unix socket.
	Dir string
	p   *proc
}

// StartPostgres starts a server on dir, running initdb into dir/data first
// if that holds no cluster yet (so a restart on the same dir keeps the
// data). It listens on 127.0.0.1 and a free port.
//
// initdb refuses to run as root, so as root the server runs as the
// postgres system user, which then owns dir; every parent of dir must be
// searchable by that user (os.MkdirTemp("", ...) is, a t.TempDir() is not).
func StartPostgres(ctx context.Context, dir string) (*Postgres, error) {
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(PostgresBinDir, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: install PostgreSQL 15 with scripts/install-deps.sh (%v)", b, PostgresBinDir, err)
		}
	}
	dir, err := mkdir(dir)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cred, err := ownDir(dir)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		cmd := exec.CommandContext(ctx, filepath.Join(PostgresBinDir, "initdb"),
			"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8",
			"--no-sync", "--no-instructions")
		cmd.Dir = dir
		cmd.SysProcAttr = sysProcAttr(cred)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %w\n%s", err, out)
		}
	} else if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}

	var lastErr error
	for range portTries {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		cmd := exec.Command(filepath.Join(PostgresBinDir, "postgres"),
			"-D", data,
			"-p", strconv.Itoa(port),
			"-k", dir,
			"-c", "listen_addresses=127.0.0.1",
			// Durability is pointless for throwaway data.
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=100",
		)
		cmd.Dir = dir
		// SIGINT is a fast shutdown: clients are cut off, but a restart
		// on the same dir needs no recovery.
		p, err := startProc("postgres", cmd, filepath.Join(dir, LogFile), syscall.SIGINT, cred)
		if err != nil {
			return nil, err
		}
		pg := &Postgres{Port: port, Dir: dir, p: p}
		err = p.waitReady(ctx, func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, pg.URL("postgres"))
			if err != nil {
				return err
			}
			return conn.Close(ctx)
		})
		if err == nil {
			return pg, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, lastErr
}

// URL returns the connection URL of database db (user postgres, no
// password).
func (pg *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, db)
}

// CreateDatabase creates database name unless it exists, and returns its
// URL.
func (pg *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("postgres: look up database %s: %w", name, err)
	}
	if !exists {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database: a concurrent create
			return "", fmt.Errorf("postgres: create database %s: %w", name, err)
		}
	}
	return pg.URL(url.PathEscape(name)), nil
}

// Done is closed when the server has exited.
func (pg *Postgres) Done() <-chan struct{} { return pg.p.done }

// Stop stops the server (fast shutdown) and waits for it to exit, killing
// it if it takes too long. It returns the same result when called again.
func (pg *Postgres) Stop() error { return pg.p.stop() }

// ownDir makes dir usable by the server and returns the credential to run
// it with: nil unless running as root, when it is the postgres system
// user's, which then owns dir.
func ownDir(dir string) (*syscall.Credential, error) {
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if os.Getuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres system user (scripts/install-deps.sh creates it): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	// Fail clearly rather than with initdb's "permission denied".
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return nil, err
		}
		m, sys := st.Mode().Perm(), st.Sys().(*syscall.Stat_t)
		if m&0o001 == 0 && !(uint64(sys.Uid) == uid && m&0o100 != 0) && !(uint64(sys.Gid) == gid && m&0o010 != 0) {
			return nil, fmt.Errorf("the server runs as the postgres user (we are root), which cannot reach into %s: use a directory whose parents it can search, e.g. from os.MkdirTemp(\"\", ...)", d)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
