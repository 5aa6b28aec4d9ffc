// Package server is the one runtime every StreamGate service runs in: an
// http.Server speaking HTTP/1.1 and HTTP/2, cleartext (h2c) or over the
// mesh's mutual TLS (Config.TLS), so each Connect
// handler answers the Connect, gRPC and gRPC-Web protocols; gRPC health and
// reflection; one interceptor chain (tracing and metrics, access log,
// request validation, a default deadline) shared by all services; and a
// shutdown that drains in-flight calls, server streams included.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/telemetry"
)

// Service is what the runtime needs from each service. It is declared here,
// by its consumer; app.Service has the same method set.
type Service interface {
	// Name is the short name, e.g. "upload".
	Name() string
	// ServiceName is the protobuf service name, e.g. "streamgate.upload.v1.UploadService".
	ServiceName() string
	// Handler returns the path prefix and the Connect handler, built with
	// the options the runtime passes.
	Handler(opts ...connect.HandlerOption) (string, http.Handler)
}

// Defaults applied by New to zero Config fields.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultDrainTimeout      = 15 * time.Second
	DefaultUnaryTimeout      = 60 * time.Second
	DefaultReadMaxBytes      = 8 << 20
)

// compressMinBytes is where gzip starts to pay for its CPU on our messages.
const compressMinBytes = 1024

// Config configures the HTTP server. Zero fields take the defaults above.
//
// There is deliberately no ReadTimeout or WriteTimeout: they bound a whole
// request, and server streams (WatchJob, StreamSegments, WatchSystemHealth)
// legitimately run for minutes. Slow-header clients are cut by
// ReadHeaderTimeout, idle connections by IdleTimeout, and unary calls by a
// per-call deadline (UnaryTimeout) that applies when the client sent none.
type Config struct {
	// Addr is the listen address; "127.0.0.1:0" picks a free port. Required.
	Addr string
	// ReadHeaderTimeout bounds reading request headers. Default 5s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps request header size. Default 64 KiB.
	MaxHeaderBytes int
	// DrainTimeout is how long Shutdown waits for in-flight calls, streams
	// included, before cutting them. Default 15s.
	DrainTimeout time.Duration
	// UnaryTimeout is the deadline given to a unary call whose client sent
	// none. A client's own deadline always wins. Default 60s.
	UnaryTimeout time.Duration
	// ReadMaxBytes caps one decoded request message. Default 8 MiB; uploads
	// go through tus, not RPC messages.
	ReadMaxBytes int
	// TLS, when set, makes the listener serve TLS with it (the mesh's
	// mutual TLS, meshtls.Source.ServerConfig) instead of h2c; ALPN offers
	// h2 and http/1.1. The handshake is bounded by ReadHeaderTimeout.
	TLS *tls.Config
}

func (c *Config) validate() error {
	if c.Addr == "" {
		return errors.New("server: Config.Addr is required")
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ReadHeaderTimeout", &c.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{"IdleTimeout", &c.IdleTimeout, DefaultIdleTimeout},
		{"DrainTimeout", &c.DrainTimeout, DefaultDrainTimeout},
		{"UnaryTimeout", &c.UnaryTimeout, DefaultUnaryTimeout},
	} {
		switch {
		case *d.v < 0:
			return fmt.Errorf("server: Config.%s is negative (%v)", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxHeaderBytes", &c.MaxHeaderBytes, DefaultMaxHeaderBytes},
		{"ReadMaxBytes", &c.ReadMaxBytes, DefaultReadMaxBytes},
	} {
		switch {
		case *n.v < 0:
			return fmt.Errorf("server: Config.%s is negative (%d)", n.name, *n.v)
		case *n.v == 0:
			*n.v = n.def
		}
	}
	return nil
}

// Option adds to what New builds.
type Option func(*options)

type options struct {
	routes       []route
	interceptors []connect.Interceptor
	telemetry    *telemetry.Telemetry
	reflection   []string
	noReflection bool
	reflectKeep  func(protoreflect.MethodDescriptor) bool
	noAccessLog  bool
}

type route struct {
	pattern string
	handler http.Handler
}

// WithHandler mounts a plain-HTTP handler on the same mux, e.g. tus at
// "/uploads/" or media at "/play/". Its requests are drained on Shutdown
// like RPCs, but do not pass through the Connect interceptors.
func WithHandler(pattern string, h http.Handler) Option {
	return func(o *options) { o.routes = append(o.routes, route{pattern, h}) }
}

// WithInterceptors appends interceptors after the built-in chain, so they
// run inside tracing, logging, validation and the default deadline.
func WithInterceptors(ics ...connect.Interceptor) Option {
	return func(o *options) { o.interceptors = append(o.interceptors, ics...) }
}

// WithTelemetry sets the providers otelconnect records into. Without it,
// spans and metrics go to no-op providers.
func WithTelemetry(t *telemetry.Telemetry) Option {
	return func(o *options) { o.telemetry = t }
}

// WithReflection adds services to the ones gRPC reflection lists, for a
// listener that passes calls through to other instances (the gateway), so
// `grpcurl list` there shows the API (WithReflectionFilter narrows it). Their descriptors must be
// linked into the binary.
func WithReflection(names ...string) Option {
	return func(o *options) { o.reflection = append(o.reflection, names...) }
}

// WithoutReflection serves no gRPC reflection on this listener: a mesh
// listener, whose process answers reflection on its admin port instead.
func WithoutReflection() Option {
	return func(o *options) { o.noReflection = true }
}

// WithReflectionFilter makes reflection list only the methods keep accepts
// (a service left with none is not listed), and only the message types
// those reach: the public listener shows what a client may call and hides
// internal RPCs. Health is always listed.
func WithReflectionFilter(keep func(protoreflect.MethodDescriptor) bool) Option {
	return func(o *options) { o.reflectKeep = keep }
}

// WithoutAccessLog leaves the per-RPC access log out of the chain, for a
// service whose calls an HTTP-level access log records already: the
// gateway's own RPCs pass through its edge, which logs them with the
// verified caller and client IP.
func WithoutAccessLog() Option {
	return func(o *options) { o.noAccessLog = true }
}

// Server runs the services on one listener. Build it with New, then Start,
// SetServing(true) once dependencies are ready, and Shutdown.
type Server struct {
	cfg    Config
	logger *slog.Logger
	http   *http.Server
	health *grpchealth.StaticChecker
	names  []string // protobuf service names, for health
	// reflection lists services served elsewhere but reflected here.
	reflection   []string
	noReflection bool
	reflectKeep  func(protoreflect.MethodDescriptor) bool
	inflight     *tracker
	watches      *watchSet
	// streamsStop ends the server streams still open when the drain
	// deadline passes, so they answer Unavailable (retry elsewhere) before
	// their connections are cut.
	streamsStop context.Context
	stopStreams context.CancelFunc

	// closing makes SetServing(true) a no-op once Shutdown has begun, so a
	// late readiness check cannot advertise a server that is going away.
	closing atomic.Bool

	mu      sync.Mutex
	state   state
	addr    string
	err     error
	done    chan struct{}
	doneOne sync.Once

	shutdownOnce sync.Once
	shutdownErr  error
}

type state int

const (
	stateNew state = iota
	stateStarted
	stateStopped
)

// New builds the server and mounts every service with the shared handler
// options. It does not listen; Start does. The logger is required.
func New(cfg Config, services []Service, logger *slog.Logger, opts ...Option) (*Server, error) {
	if logger == nil {
		return nil, errors.New("server: nil logger")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(services) == 0 {
		return nil, errors.New("server: no services")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}

	s := &Server{
		cfg:        cfg,
		logger:     logger,
		inflight:   newTracker(),
		watches:    newWatchSet(),
		done:       make(chan struct{}),
		reflection: o.reflection,

		noReflection: o.noReflection,
		reflectKeep:  o.reflectKeep,
	}
	s.streamsStop, s.stopStreams = context.WithCancel(context.Background())
	mux := http.NewServeMux()

	base, err := s.baseInterceptors(o.telemetry, !o.noAccessLog)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(services))
	for _, svc := range services {
		if svc == nil {
			return nil, errors.New("server: nil service")
		}
		name := svc.ServiceName()
		if name == "" || svc.Name() == "" {
			return nil, fmt.Errorf("server: service %T has an empty name", svc)
		}
		if seen[name] {
			return nil, fmt.Errorf("server: service %s registered twice", name)
		}
		seen[name] = true
		s.names = append(s.names, name)

		path, h := svc.Handler(s.handlerOptions(svc, base, o.interceptors)...)
		// A mismatch means the service wired the wrong generated handler;
		// health and reflection would advertise a service nobody serves.
		if want := "/" + name + "/"; path != want {
			return nil, fmt.Errorf("server: service %s serves %q, want %q", name, path, want)
		}
		if err := mount(mux, path, h); err != nil {
			return nil, err
		}
	}

	if err := s.mountHealthAndReflection(mux); err != nil {
		return nil, err
	}
	for _, r := range o.routes {
		if r.handler == nil {
			return nil, fmt.Errorf("server: nil handler for %q", r.pattern)
		}
		if err := mount(mux, r.pattern, r.handler); err != nil {
			return nil, err
		}
	}

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	if cfg.TLS != nil {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true) // h2c: gRPC without TLS, no x/net.
	}
	handler := s.inflight.wrap(mux, isHealthWatch)
	if cfg.TLS != nil {
		// The calling service, as its certificate names it, for handlers
		// and interceptors (meshtls.PeerServiceFromContext).
		handler = meshtls.WithPeerService(handler)
	}
	s.http = &http.Server{
		TLSConfig:         cfg.TLS,
		Addr:              cfg.Addr,
		Handler:           handler,
		Protocols:         protocols,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// mount turns ServeMux's panic on a bad or conflicting pattern into an error.
func mount(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("server: mount %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// Start binds the listener, so Addr is known when it returns, and serves in
// a goroutine the Server owns until Shutdown. ctx bounds only the bind; it
// does not stop the server. Health stays NOT_SERVING until SetServing(true).
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateStarted:
		return errors.New("server: already started")
	case stateStopped:
		return errors.New("server: already shut down")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", s.cfg.Addr, err)
	}
	s.addr = ln.Addr().String()
	s.state = stateStarted
	s.logger.Info("server listening", "addr", s.addr, "services", len(s.names))
	go s.serve(ln)
	return nil
}

func (s *Server) serve(ln net.Listener) {
	var err error
	if s.cfg.TLS != nil {
		err = s.http.ServeTLS(ln, "", "") // certificates come from TLSConfig
	} else {
		err = s.http.Serve(ln)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		// The listener failed underneath us: nothing new can arrive, so
		// stop advertising and let the owner see Done.
		s.setStatus(grpchealth.StatusNotServing)
		s.logger.Error("server stopped serving", "addr", s.addr, "error", err)
		s.mu.Lock()
		s.err = fmt.Errorf("server: serve: %w", err)
		s.mu.Unlock()
	}
	s.closeDone()
}

func (s *Server) closeDone() { s.doneOne.Do(func() { close(s.done) }) }

// Addr is the bound host:port, empty before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Done is closed when the server stops accepting connections: on Shutdown,
// or when the listener fails (then Err says why).
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the reason serving stopped on its own; nil while serving and after
// a requested Shutdown.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
