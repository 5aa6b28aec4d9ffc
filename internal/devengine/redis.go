package devengine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Redis is a running redis-server on 127.0.0.1, without persistence (its
// data is gone when it stops).
type Redis struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Dir is the server's working directory and holds its log.
	Dir string
	p   *proc
}

// StartRedis starts redis-server (from PATH) on 127.0.0.1 and a free port
// and waits until it answers PING.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (%v): run scripts/install-deps.sh, which installs the Debian redis-server package", err)
	}
	dir, err = mkdir(dir)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	var lastErr error
	for range portTries {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		cmd := exec.Command(bin,
			"--bind", "127.0.0.1",
			"--port", strconv.Itoa(port),
			"--save", "",
			"--appendonly", "no",
			"--dir", dir,
			"--daemonize", "no",
			"--protected-mode", "yes",
			"--loglevel", "warning",
		)
		cmd.Dir = dir
		p, err := startProc("redis-server", cmd, filepath.Join(dir, LogFile), syscall.SIGTERM, nil)
		if err != nil {
			return nil, err
		}
		r := &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, p: p}
		err = p.waitReady(ctx, func(ctx context.Context) error { return ping(ctx, r.Addr) })
		if err == nil {
			return r, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, lastErr
}

// URL is the server's redis:// URL (database 0).
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Done is closed when the server has exited.
func (r *Redis) Done() <-chan struct{} { return r.p.done }

// Stop stops the server (SIGTERM) and waits for it to exit, killing it if
// it takes too long. It returns the same result when called again.
func (r *Redis) Stop() error { return r.p.stop() }

func ping(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Second)
	}
	_ = c.SetDeadline(deadline)
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
