// Package natsservertest starts embedded NATS servers for tests, so tests of
// JetStream code run against the real server rather than a mock.
package natsservertest

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/natsserver"
)

// Start starts a server with a fresh store in t.TempDir and shuts it down
// when the test ends.
func Start(t testing.TB) *natsserver.Server {
	t.Helper()
	return StartInDir(t, t.TempDir())
}

// StartInDir starts a server on dir, so a test can shut one down and start
// another on the same store to exercise a restart. Each call gets a new random
// port. The server is shut down when the test ends (Shutdown is idempotent, so
// a test may also call it itself).
func StartInDir(t testing.TB, dir string) *natsserver.Server {
	t.Helper()
	return StartConfig(t, natsserver.Config{Dir: dir})
}

// testWriter sends log output to the test's output until the test's cleanup
// runs. Server goroutines may log during shutdown, and writing to a finished
// test panics.
type testWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

// newTestWriter must be called before the server's cleanup is registered:
// cleanups run last-in first-out, so the writer closes after the server has
// stopped.
func newTestWriter(t testing.TB) *testWriter {
	w := &testWriter{w: t.Output()}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	return w.w.Write(p)
}

// StartConfig starts a server with cfg, e.g. on the port of one just shut
// down, to test clients that reconnect. An empty cfg.Dir gets t.TempDir.
func StartConfig(t testing.TB, cfg natsserver.Config) *natsserver.Server {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	logger := slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := natsserver.Start(t.Context(), cfg, logger)
	if err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// StartCluster starts n servers that form one JetStream cluster, each with
// a fresh store, and returns them once every one accepts connections. A
// replicated stream can be created as soon as the cluster has elected its
// meta leader, which takes a few seconds: callers retry their first
// request (see Cluster's use in internal/events). The servers are shut
// down when the test ends.
func StartCluster(t testing.TB, n int) []*natsserver.Server {
	t.Helper()
	return startCluster(t, n, nil)
}

// StartTLSCluster is StartCluster with mesh TLS on clients and routes, as
// StartTLS.
func StartTLSCluster(t testing.TB, n int) ([]*natsserver.Server, *Mesh) {
	t.Helper()
	m, tc := newMesh(t)
	return startCluster(t, n, tc), m
}

func startCluster(t testing.TB, n int, tc *natsserver.TLSConfig) []*natsserver.Server {
	t.Helper()
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range n {
		ports[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
	}
	srvs := make([]*natsserver.Server, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		cfg := natsserver.Config{Dir: t.TempDir(), Cluster: &natsserver.ClusterConfig{
			Name: "test", ServerName: fmt.Sprintf("n%d", i+1), Port: ports[i], Routes: routes,
		}, TLS: tc}
		logger := slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
		// Started together: each waits for its routes.
		wg.Go(func() { srvs[i], errs[i] = natsserver.Start(t.Context(), cfg, logger) })
	}
	wg.Wait()
	for i, err := range errs {
		if srvs[i] != nil {
			t.Cleanup(srvs[i].Shutdown)
		}
		if err != nil {
			t.Fatalf("start cluster server %d: %v", i+1, err)
		}
	}
	return srvs
}

// freePort returns a port nothing listens on just now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Services are the services a TLS server started here has NATS users for:
// node.Names, which this package cannot import (node's own tests import it).
var Services = []string{"gateway", "upload", "transcoder", "metadata", "auth", "streaming", "cache", "worker", "monitor"}

// Mesh is the dev CA of a TLS server started by StartTLS or StartTLSCluster,
// in the layout meshtls.EnsureDev writes: <Dir>/ca, <Dir>/<service>.
type Mesh struct {
	Dir         string
	TrustDomain string
}

// newMesh makes a dev CA in t.TempDir with certificates for Services and
// the server, and the server's TLS configuration.
func newMesh(t testing.TB) (*Mesh, *natsserver.TLSConfig) {
	t.Helper()
	m := &Mesh{Dir: t.TempDir(), TrustDomain: meshtls.DefaultTrustDomain}
	return m, &natsserver.TLSConfig{Source: m.Source(t, natsserver.Service), Services: Services}
}

// Source returns service's certificate from the mesh CA, issuing it first
// if need be, so a test can also make one for a service the server does not
// know.
func (m *Mesh) Source(t testing.TB, service string) *meshtls.Source {
	t.Helper()
	if err := meshtls.EnsureDev(m.Dir, m.TrustDomain, []string{service}); err != nil {
		t.Fatalf("issue %s certificate: %v", service, err)
	}
	src, err := meshtls.Load(meshtls.Options{Dir: filepath.Join(m.Dir, service), Service: service, TrustDomain: m.TrustDomain})
	if err != nil {
		t.Fatalf("load %s certificate: %v", service, err)
	}
	return src
}

// ClientConfig is the TLS configuration service connects to the server
// with (events.WithTLS, nats.Secure): its certificate, and the server's
// verified to name natsserver.Service.
func (m *Mesh) ClientConfig(t testing.TB, service string) *tls.Config {
	t.Helper()
	return m.Source(t, service).ClientConfig(natsserver.Service)
}

// StartTLS starts a server, as Start, whose clients must speak mesh TLS with
// a certificate of a fresh dev CA naming one of Services, and may publish
// only their own events (see natsserver.TLSConfig). Its ClientURL is a
// tls:// URL.
func StartTLS(t testing.TB) (*natsserver.Server, *Mesh) {
	t.Helper()
	return StartTLSConfig(t, natsserver.Config{})
}

// StartTLSConfig is StartTLS with the rest of cfg (its TLS is set here).
func StartTLSConfig(t testing.TB, cfg natsserver.Config) (*natsserver.Server, *Mesh) {
	t.Helper()
	m, tc := newMesh(t)
	cfg.TLS = tc
	return StartConfig(t, cfg), m
}
