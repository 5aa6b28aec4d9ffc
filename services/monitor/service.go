// Package monitor implements streamgate.monitor.v1.MonitorService: the health
// of every registered instance, metrics, alerts, recent logs and chain
// status.
package monitor

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"golang.org/x/sync/errgroup"

	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/registry"
)

// Config configures the monitor.
type Config struct {
	// Services are the names always listed in the health view.
	Services []string
	// ProbeInterval between health probe rounds; default 2s.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe; default 1s.
	ProbeTimeout time.Duration

	// LogRingSize is how many log records GetLogs can see; default 10,000.
	LogRingSize int
	// LogsLookback is how far back in the LOGS stream the ring starts
	// filling when Run starts (with WithBus); default 1h. Each instance
	// reads every record through an ordered consumer of its own, which
	// JetStream drops when the instance goes away, so restarts leave no
	// consumers behind.
	LogsLookback time.Duration

	// Chains maps a chain id to its JSON-RPC URL (which may carry an API
	// key: it is never shown, only its host).
	Chains map[uint64]string
	// ChainNames optionally names the chains; default a well-known name or
	// "chain-<id>".
	ChainNames map[uint64]string
	// ChainPollInterval between chain checks; default 15s.
	ChainPollInterval time.Duration
	// ChainPollTimeout bounds one chain check; default 10s.
	ChainPollTimeout time.Duration

	// MetricsScrapeInterval between scrapes of every instance's /metrics
	// (with WithMetricsClient); default 15s.
	MetricsScrapeInterval time.Duration

	// Alerts are the alert rules Run evaluates; all off by default.
	Alerts AlertRules
}

// Option adds an optional dependency to New.
type Option func(*Service)

// WithBus has the monitor consume LogRecord events into its log ring (Run
// subscribes). Without it, GetLogs answers from an empty ring.
func WithBus(b *events.Bus) Option { return func(s *Service) { s.bus = b } }

// WithBreakers reports each chain's circuit-breaker state from the chain
// client (e.g. *chain.Client) in GetChainStatus.
func WithBreakers(b BreakerSource) Option { return func(s *Service) { s.breakers = b } }

// WithMetricsClient has Run scrape every registered instance's /metrics
// (http://<address>/metrics) with c, which GetMetrics summarizes. Without
// it, GetMetrics answers Unimplemented.
func WithMetricsClient(c HTTPDoer) Option {
	return WithMetricsClients(func(string) HTTPDoer { return c })
}

// WithMetricsClients is WithMetricsClient with a client per service, for a
// mesh whose instances each prove their service (mutual TLS): clientFor
// returns the client to scrape an instance of that service with.
func WithMetricsClients(clientFor func(service string) HTTPDoer) Option {
	return func(s *Service) { s.metricsClient = clientFor }
}

// Service is the monitor service.
type Service struct {
	cfg      Config
	logger   *slog.Logger
	health   *HealthView
	logs     *LogRing
	bus      *events.Bus
	breakers BreakerSource
	chains   map[uint64]*chainPoller

	metricsClient func(service string) HTTPDoer
	metrics       *metricsScraper // nil without WithMetricsClient
	alerts        *alertEngine
	notifier      *notifyLeader // nil: every instance publishes
}

// New returns the monitor service. Instances come from src; probe checks one
// instance (see GRPCHealthProbe).
func New(cfg Config, src InstanceSource, probe ProbeFunc, logger *slog.Logger, opts ...Option) (*Service, error) {
	if logger == nil {
		return nil, errors.New("monitor: nil logger")
	}
	if src == nil || probe == nil {
		return nil, errors.New("monitor: an instance source and a probe are required")
	}
	if cfg.LogRingSize < 0 {
		return nil, errors.New("monitor: LogRingSize must not be negative")
	}
	if cfg.LogsLookback < 0 {
		return nil, errors.New("monitor: LogsLookback must not be negative")
	}
	if cfg.LogsLookback == 0 {
		cfg.LogsLookback = defaultLogsLookback
	}
	if cfg.ChainPollInterval <= 0 {
		cfg.ChainPollInterval = defaultChainPollInterval
	}
	if cfg.ChainPollTimeout <= 0 {
		cfg.ChainPollTimeout = defaultChainPollTimeout
	}
	hv := NewHealthView(HealthConfig{Services: cfg.Services, Interval: cfg.ProbeInterval, Timeout: cfg.ProbeTimeout}, src, probe, logger)
	s := &Service{cfg: cfg, logger: logger, health: hv, logs: NewLogRing(cfg.LogRingSize), chains: make(map[uint64]*chainPoller)}
	for id, u := range cfg.Chains {
		p, err := newChainPoller(id, cfg.ChainNames[id], u, cfg.ChainPollTimeout, logger)
		if err != nil {
			return nil, err
		}
		s.chains[id] = p
	}
	for _, o := range opts {
		o(s)
	}
	if cfg.Alerts.Interval <= 0 {
		cfg.Alerts.Interval = 15 * time.Second
	}
	if cfg.Alerts.ResolvedRetention <= 0 {
		cfg.Alerts.ResolvedRetention = 24 * time.Hour
	}
	if cfg.Alerts.ErrorRatioAbove < 0 || cfg.Alerts.ErrorRatioAbove >= 1 {
		return nil, errors.New("monitor: Alerts.ErrorRatioAbove must be in [0, 1)")
	}
	s.cfg.Alerts = cfg.Alerts
	s.alerts = &alertEngine{rules: cfg.Alerts, svc: s, firing: make(map[string]*Alert), downSince: make(map[string]time.Time)}
	if s.metricsClient != nil {
		every := cfg.MetricsScrapeInterval
		if every <= 0 {
			every = defaultScrapeInterval
		}
		s.metrics = &metricsScraper{
			// A scrape may take longer than a short interval on a busy
			// machine: rounds do not overlap (the ticker drops ticks).
			src: src, clientFor: s.metricsClient, every: every, timeout: min(max(every, 2*time.Second), 5*time.Second),
			samples: make(map[string][]rpcSample), service: make(map[string]string),
		}
	}
	return s, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "monitor" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return monitorv1connect.MonitorServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return monitorv1connect.NewMonitorServiceHandler(&handler{svc: s}, opts...)
}

// Run probes the registered instances, polls the chains and (with
// WithBus) consumes log records until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.health.Run(ctx) })
	for _, p := range s.chains {
		g.Go(func() error { p.run(ctx, s.cfg.ChainPollInterval); return nil })
	}
	if s.metrics != nil {
		g.Go(func() error { s.metrics.run(ctx); return nil })
	}
	g.Go(func() error { s.alerts.run(ctx); return nil })
	if s.notifier != nil && s.bus != nil {
		g.Go(func() error { s.notifier.run(ctx, s); return nil })
	}
	if s.bus != nil {
		// Every instance keeps its own ring, so every instance reads every
		// record; Follow returns nil once ctx is done.
		g.Go(func() error { return events.Follow(ctx, s.bus, s.cfg.LogsLookback, s.logs.Add) })
	}
	return g.Wait()
}

// Logs returns the log ring.
func (s *Service) Logs() *LogRing { return s.logs }

// ChainStatus returns the latest state of the configured chains, by id; a
// chainID of 0 means all of them. ok is false for an unconfigured chain.
func (s *Service) ChainStatus(chainID uint64) (states []ChainState, ok bool) {
	if chainID != 0 {
		p, found := s.chains[chainID]
		if !found {
			return nil, false
		}
		return []ChainState{p.snapshot(s.breakers)}, true
	}
	ids := make([]uint64, 0, len(s.chains))
	for id := range s.chains {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		states = append(states, s.chains[id].snapshot(s.breakers))
	}
	return states, true
}

// Health returns the health view.
func (s *Service) Health() *HealthView { return s.health }

// GRPCHealthProbe returns a ProbeFunc that asks an instance's
// grpc.health.v1.Health/Check for the whole server (service ""), directly
// at its registered address rather than through the mesh: the point is to
// learn about that one instance.
func GRPCHealthProbe(client connect.HTTPClient) ProbeFunc {
	return GRPCHealthProbeVia(func(string) connect.HTTPClient { return client })
}

// GRPCHealthProbeVia is GRPCHealthProbe with a client per service, for a
// mesh whose instances each prove their service (mutual TLS): clientFor
// returns the client to reach an instance of that service with, which
// takes "http://<address>" URLs.
func GRPCHealthProbeVia(clientFor func(service string) connect.HTTPClient) ProbeFunc {
	return func(ctx context.Context, inst registry.Instance) (bool, error) {
		res, err := grpchealth.NewClient(clientFor(inst.Service), "http://"+inst.Address).Check(ctx, &grpchealth.CheckRequest{})
		if err != nil {
			return false, err
		}
		return res.Status == grpchealth.StatusServing, nil
	}
}
