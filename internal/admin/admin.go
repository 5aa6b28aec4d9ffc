// Package admin is a process's admin listener: one plain-HTTP (and h2c)
// port, apart from the service listeners, for operators and the platform
// around the process. It serves the Prometheus metrics of every service in
// the process (/metrics, and /metrics/<service> for one), gRPC health with
// each service's status (Kubernetes grpc probes) and /healthz and /readyz
// (HTTP probes), and gRPC reflection of every service in the process,
// internal RPCs included (grpcurl). It is never exposed to clients: bind it
// to loopback, or to a pod address only the cluster reaches.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// ServiceLabel is the label the merged /metrics adds to every series of a
// service, with the service's short name: the services of one process
// export the same metric names. The Go runtime and process series are the
// process's own and appear once, unlabelled.
const ServiceLabel = "service_name"

// MetricsPath is where the merged metrics are served; MetricsPath + "/" +
// a service's short name serves that service's alone, as the monitor
// scrapes them.
const MetricsPath = "/metrics"

// Target is one service of the process, as the admin listener reports it.
type Target struct {
	// Name is the short name, e.g. "upload"; it names the service in
	// /metrics/<name>, in the service_name label and in health checks.
	Name string
	// ServiceName is the protobuf service name, also accepted by health
	// checks; empty for a target with metrics only (the node's own).
	ServiceName string
	// Health answers for the service (server.Server.HealthChecker); nil
	// for a target with metrics only.
	Health grpchealth.Checker
	// Metrics is the service's Prometheus registry; nil: none.
	Metrics prometheus.Gatherer
	// Reflection names further services reflected for it (the gateway's
	// whole API).
	Reflection []string
}

// Server is the admin listener.
type Server struct {
	addr   string
	logger *slog.Logger
	http   *http.Server

	draining atomic.Bool

	mu      sync.Mutex
	targets []Target
	bound   string
}

// New builds the admin listener for addr ("127.0.0.1:0" picks a port).
func New(addr string, logger *slog.Logger) (*Server, error) {
	if addr == "" {
		return nil, errors.New("admin: an address is required")
	}
	s := &Server{addr: addr, logger: logger}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, promhttp.HandlerFor(prometheus.GathererFunc(s.gather), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET "+MetricsPath+"/{service}", s.serviceMetrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	path, h := grpchealth.NewHandler(checker{s})
	mux.Handle(path, h)
	reflector := grpcreflect.NewReflector(grpcreflect.NamerFunc(s.reflectionNames))
	path, h = grpcreflect.NewHandlerV1(reflector)
	mux.Handle(path, h)
	path, h = grpcreflect.NewHandlerV1Alpha(reflector)
	mux.Handle(path, h)

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // grpcurl -plaintext, Kubernetes grpc probes
	s.http = &http.Server{
		Handler:           mux,
		Protocols:         protocols,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Start binds the listener, so Addr is known when it returns, and serves
// until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.addr, err)
	}
	s.mu.Lock()
	s.bound = ln.Addr().String()
	s.mu.Unlock()
	go func() {
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("admin listener stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	s.logger.Info("admin listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the bound host:port, empty before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}

// Add reports one more service of the process.
func (s *Server) Add(t Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets = append(s.targets, t)
}

// Drain makes every health answer NOT_SERVING from now on, whatever the
// services say: the process is shutting down and takes no new work.
func (s *Server) Drain() { s.draining.Store(true) }

// Shutdown closes the listener, giving the requests in flight until ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	return err
}

func (s *Server) snapshot() []Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.targets)
}

func (s *Server) find(name string) (Target, bool) {
	for _, t := range s.snapshot() {
		if name != "" && (t.Name == name || t.ServiceName == name) {
			return t, true
		}
	}
	return Target{}, false
}

func (s *Server) reflectionNames() []string {
	names := []string{grpchealth.HealthV1ServiceName}
	for _, t := range s.snapshot() {
		for _, n := range append([]string{t.ServiceName}, t.Reflection...) {
			if n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// status is the health of one target, NOT_SERVING once draining.
func (s *Server) status(ctx context.Context, t Target) grpchealth.Status {
	if s.draining.Load() {
		return grpchealth.StatusNotServing
	}
	res, err := t.Health.Check(ctx, &grpchealth.CheckRequest{Service: t.ServiceName})
	if err != nil {
		return grpchealth.StatusUnknown
	}
	return res.Status
}

// statuses is every service's health, in the order they started.
func (s *Server) statuses(ctx context.Context) (names []string, status []grpchealth.Status) {
	for _, t := range s.snapshot() {
		if t.Health == nil {
			continue
		}
		names = append(names, t.Name)
		status = append(status, s.status(ctx, t))
	}
	return names, status
}

// checker answers grpc.health.v1.Health/Check: "" is the whole process,
// SERVING when every service is; a service by short or protobuf name.
type checker struct{ s *Server }

func (c checker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	if req.Service == "" {
		_, status := c.s.statuses(ctx)
		if len(status) == 0 || slices.ContainsFunc(status, func(st grpchealth.Status) bool { return st != grpchealth.StatusServing }) {
			return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
		}
		return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
	}
	t, ok := c.s.find(req.Service)
	if !ok || t.Health == nil {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown service %q", req.Service))
	}
	return &grpchealth.CheckResponse{Status: c.s.status(ctx, t)}, nil
}

// readyz answers 200 when every service of the process is SERVING, else
// 503; the body lists each service's status.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	names, status := s.statuses(r.Context())
	var b strings.Builder
	ready := len(names) > 0
	for i, n := range names {
		if status[i] != grpchealth.StatusServing {
			ready = false
		}
		fmt.Fprintf(&b, "%s %s\n", n, strings.ToUpper(status[i].String()))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) serviceMetrics(w http.ResponseWriter, r *http.Request) {
	t, ok := s.find(r.PathValue("service"))
	if !ok || t.Metrics == nil || t.Name != r.PathValue("service") {
		http.NotFound(w, r)
		return
	}
	promhttp.HandlerFor(t.Metrics, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}

// gather merges the services' registries: each series gets the service's
// label, and the runtime series (go_*, process_*), the same in every
// registry of the process, come once, from the first.
func (s *Server) gather() ([]*dto.MetricFamily, error) {
	var gs prometheus.Gatherers
	for _, t := range s.snapshot() {
		if t.Metrics != nil {
			gs = append(gs, labelled(t.Name, t.Metrics, len(gs) == 0))
		}
	}
	return gs.Gather()
}

func labelled(name string, g prometheus.Gatherer, runtime bool) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		fams, err := g.Gather()
		out := fams[:0]
		for _, f := range fams {
			if isRuntime(f.GetName()) {
				if runtime {
					out = append(out, f)
				}
				continue
			}
			for _, m := range f.GetMetric() {
				if slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == ServiceLabel }) {
					continue // target_info names its service already
				}
				m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(ServiceLabel), Value: proto.String(name)})
				sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
			}
			out = append(out, f)
		}
		return out, err
	})
}

func isRuntime(family string) bool {
	return strings.HasPrefix(family, "go_") || strings.HasPrefix(family, "process_")
}
