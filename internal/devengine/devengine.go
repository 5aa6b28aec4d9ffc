// Package devengine starts throwaway local instances of the engines
// StreamGate runs on — PostgreSQL 15, redis-server and the versitygw S3
// server — as child processes on loopback. It is the one place that knows
// how to run each engine locally: the `streamgate cluster` launcher and the
// test harnesses (internal/testing/pgtest, redistest, s3test) share it.
//
// Each server is a direct child of the calling process, in its own process
// group (a Ctrl-C at the terminal reaches the launcher only, which then
// stops the engines in order) and with a parent-death signal of SIGKILL (if
// the launcher is killed, the engines die with it). Servers log to
// DIR/server.log; errors from Start carry the tail of that log.
package devengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LogFile is the name of the server log inside an engine's directory.
const LogFile = "server.log"

const (
	// startTimeout bounds the wait for a server to become ready, on top of
	// the caller's context.
	startTimeout = time.Minute
	// stopTimeout bounds the wait for a server to exit after the polite
	// signal; then its process group is killed.
	stopTimeout = 30 * time.Second
	// portTries is how often a start is tried on a fresh free port: a port
	// may be taken between probing it and the server binding it.
	portTries = 3
	logTail   = 4 << 10
)

// proc is a running server process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFrom int64 // log offset at start: the tail shows this run only
	stopSig syscall.Signal
	done    chan struct{}
	waitErr error // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// sysProcAttr is the process setup every server gets; cred may be nil.
// Go applies Credential before Pdeathsig, so the signal survives the
// switch to the postgres user. (Linux sends it when the forking thread
// exits, which Go threads do only after runtime.LockOSThread: do not start
// engines from such a goroutine.)
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
}

// startProc starts cmd with its output appended to logPath.
func startProc(name string, cmd *exec.Cmd, logPath string, stopSig syscall.Signal, cred *syscall.Credential) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr(cred)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, logFrom: st.Size(), stopSig: stopSig, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the end of this run's log.
func (p *proc) tail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	from := max(p.logFrom, st.Size()-logTail)
	b, _ := io.ReadAll(io.NewSectionReader(f, from, st.Size()-from))
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(log empty)"
	}
	return s
}

// failed wraps err with the log tail.
func (p *proc) failed(err error) error {
	return fmt.Errorf("%s: %w\n--- %s (tail) ---\n%s", p.name, err, p.logPath, p.tail())
}

// kill kills the whole process group and waits. Once the leader is
// reaped its pid (the group id) may be reused, so a gone leader is left be.
func (p *proc) kill() {
	if !p.exited() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-p.done
}

// errExited says the server exited while starting, most likely because its
// port was taken meanwhile: worth another try on another port.
var errExited = errors.New("exited while starting")

// waitReady polls ready until it returns nil, bounded by ctx and
// startTimeout. On failure the process is killed and the error carries the
// log tail; it wraps errExited if the server exited by itself.
func (p *proc) waitReady(ctx context.Context, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	interval := 5 * time.Millisecond
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(rctx)
		rcancel()
		if p.exited() {
			return p.failed(fmt.Errorf("%w (%v); last check: %v", errExited, p.waitErr, err))
		}
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			p.kill()
			return p.failed(fmt.Errorf("not ready (%w): %v", context.Cause(ctx), err))
		case <-time.After(interval):
			interval = min(2*interval, 100*time.Millisecond)
		}
	}
}

// stop sends the stop signal, waits up to stopTimeout, then kills the
// process group. It is idempotent. An exit the stop signal caused is not
// an error; an earlier exit is.
func (p *proc) stop() error {
	p.stopOnce.Do(func() {
		if p.exited() {
			p.stopErr = p.failed(fmt.Errorf("had exited before Stop: %v", p.waitErr))
			return
		}
		_ = p.cmd.Process.Signal(p.stopSig)
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			p.kill()
			p.stopErr = p.failed(fmt.Errorf("did not exit within %v of %v; killed", stopTimeout, p.stopSig))
			return
		}
		if err := p.waitErr; err != nil && !signalled(err, p.stopSig) {
			p.stopErr = p.failed(fmt.Errorf("exit after %v: %w", p.stopSig, err))
		}
	})
	return p.stopErr
}

func signalled(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// mkdir creates dir (and parents) and returns its absolute path.
func mkdir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", err
	}
	return abs, nil
}
