// Package worker implements streamgate.worker.v1.WorkerService: durable background jobs with retries and dead-letter, cron schedules fired once across replicas, and webhook delivery.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/streamgate/streamgate/gen/go/streamgate/worker/v1/workerv1connect"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/secretbox"
)

// Config configures the worker service. Zero values take the defaults.
type Config struct {
	// DataDir is where the service may keep local files (reserved for the
	// webhook store; jobs live in JetStream).
	DataDir string
	// DefaultMaxAttempts is used when SubmitJob leaves max_attempts 0
	// (default 5).
	DefaultMaxAttempts int
	// RetryBaseDelay and RetryMaxDelay shape the backoff: base x
	// 2^(attempt-1), capped at max, +/-20% jitter (defaults 10s and 1h, as
	// in the contract; tests shorten them).
	RetryBaseDelay, RetryMaxDelay time.Duration
	// AckWait is how long a job message stays leased without a heartbeat:
	// a worker that died has its job redelivered after it (default 30s).
	AckWait time.Duration
	// DevMode accepts http:// webhook URLs on loopback hosts and lets
	// deliveries reach them.
	DevMode bool
	// LoopbackWebhooks does only that, for a cluster on one machine
	// running production flags (streamgate cluster) and its tests.
	LoopbackWebhooks bool
	// KEK seals the webhook secrets at rest (internal/secretbox); secrets
	// stored in clear before are sealed at start. Nil: secrets are stored
	// in clear (tests); one already sealed then fails the start.
	KEK *secretbox.Keyring
	// NodeName identifies this replica in the scheduler election.
	NodeName string
	// LeaderTTL is the etcd session TTL of the scheduler leader: a dead
	// leader is replaced after it (default 10s).
	LeaderTTL time.Duration
	// ScheduleInterval is how often the leader looks for due ticks
	// (default 1s).
	ScheduleInterval time.Duration
	// MissedTickGrace is how late a tick may still fire, e.g. after a
	// leader change (default 2 minutes); older missed ticks are not
	// replayed.
	MissedTickGrace time.Duration
	// JobRetention is how long finished (SUCCEEDED, DEAD, CANCELED) jobs
	// are kept (default 7 days); their idempotency keys go with them.
	JobRetention time.Duration
	// ScanInterval is how often SCHEDULED jobs are checked for their
	// run_time (default 1s).
	ScanInterval time.Duration
}

func (c Config) withDefaults() Config {
	if c.DefaultMaxAttempts <= 0 {
		c.DefaultMaxAttempts = 5
	}
	if c.RetryBaseDelay <= 0 {
		c.RetryBaseDelay = 10 * time.Second
	}
	if c.RetryMaxDelay <= 0 {
		c.RetryMaxDelay = time.Hour
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.NodeName == "" {
		c.NodeName = "worker"
	}
	if c.LeaderTTL < time.Second {
		c.LeaderTTL = 10 * time.Second
	}
	if c.ScheduleInterval <= 0 {
		c.ScheduleInterval = time.Second
	}
	if c.MissedTickGrace <= 0 {
		c.MissedTickGrace = 2 * time.Minute
	}
	if c.JobRetention <= 0 {
		c.JobRetention = 7 * 24 * time.Hour
	}
	if c.ScanInterval <= 0 {
		c.ScanInterval = time.Second
	}
	return c
}

// Service is the worker service.
type Service struct {
	cfg    Config
	logger *slog.Logger
	etcd   *clientv3.Client
	jobs   *jobStore
	bus    *events.Bus

	webhooks   *webhookStore
	httpClient *http.Client
	builtins   Builtins

	setupMu sync.Mutex
	ready   bool

	metrics *metrics // WithMeterProvider; nil: none
}

// New returns the worker service. bus carries the JetStream connection the
// jobs live on; etcd (may be nil) elects the schedule leader. WithBuiltins
// adds the built-in kinds that call other services.
func New(cfg Config, bus *events.Bus, etcd *clientv3.Client, logger *slog.Logger, opts ...Option) (*Service, error) {
	if logger == nil {
		return nil, errors.New("worker: nil logger")
	}
	if bus == nil {
		return nil, errors.New("worker: nil events bus")
	}
	cfg = cfg.withDefaults()
	s := &Service{
		cfg: cfg, logger: logger, etcd: etcd, bus: bus,
		jobs:       &jobStore{cfg: cfg, bus: bus, js: bus.JetStream(), kinds: map[string]kindEntry{}, now: time.Now, logger: logger},
		webhooks:   &webhookStore{kek: cfg.KEK},
		httpClient: newHTTPClient(cfg.DevMode || cfg.LoopbackWebhooks),
	}
	for _, o := range opts {
		o(s)
	}
	if err := s.Register(KindWebhookDeliver, s.deliver, KindOptions{Concurrency: 8, Timeout: 30 * time.Second}); err != nil {
		return nil, err
	}
	if err := s.registerBuiltins(); err != nil {
		return nil, err
	}
	if err := s.metrics.register(s); err != nil {
		return nil, fmt.Errorf("worker: metrics: %w", err)
	}
	return s, nil
}

// Register adds the handler for a job kind. Call it before Run.
func (s *Service) Register(kind string, h Handler, opts KindOptions) error {
	return s.jobs.register(kind, h, opts)
}

func (s *Service) ensureSetup(ctx context.Context) error {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if s.ready {
		return nil
	}
	// On failure a later call tries again (NATS may have been down).
	if err := s.jobs.setup(ctx); err != nil {
		return err
	}
	kv, err := s.bus.EnsureKeyValue(ctx, jetstream.KeyValueConfig{Bucket: webhookBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		return fmt.Errorf("worker: kv %s: %w", webhookBucket, err)
	}
	s.webhooks.kv = kv
	n, err := s.webhooks.sealSecrets(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		s.logger.InfoContext(ctx, "webhook secrets sealed under the current key-encryption key", "webhooks", n, "kek", s.cfg.KEK.CurrentID())
	}
	s.ready = true
	return nil
}

// Submit stores a job and queues it; for other services in this binary.
func (s *Service) Submit(ctx context.Context, p SubmitParams) (Job, bool, error) {
	if err := s.ensureSetup(ctx); err != nil {
		return Job{}, false, errors.Join(ErrUnavailable, err)
	}
	if err := s.validatePayload(p.Kind, p.Payload); err != nil {
		return Job{}, false, err
	}
	return s.jobs.submit(ctx, p)
}

// Run consumes jobs of every registered kind and enqueues SCHEDULED jobs when
// due, until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	for {
		if err := s.ensureSetup(ctx); err == nil {
			break
		} else if errors.Is(err, ErrKEK) {
			return err
		} else {
			s.logger.WarnContext(ctx, "worker setup failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for {
			subs, err := s.subscribeEvents(gctx)
			if err == nil {
				<-gctx.Done()
				for _, sub := range subs {
					sub.Stop()
				}
				return nil
			}
			s.logger.WarnContext(gctx, "worker: subscribe to events; retrying", "err", err)
			select {
			case <-gctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
		}
	})
	s.jobs.mu.RLock()
	for kind, k := range s.jobs.kinds {
		g.Go(func() error { return s.jobs.consume(gctx, kind, k) })
	}
	s.jobs.mu.RUnlock()
	if s.etcd != nil {
		g.Go(func() error { s.runScheduler(gctx); return nil })
		g.Go(func() error {
			for {
				err := s.ensureBuiltinSchedules(gctx)
				if err == nil || gctx.Err() != nil {
					return nil
				}
				s.logger.WarnContext(gctx, "worker: create built-in schedules; retrying", "err", err)
				select {
				case <-gctx.Done():
					return nil
				case <-time.After(5 * time.Second):
				}
			}
		})
	}
	g.Go(func() error {
		t := time.NewTicker(s.cfg.ScanInterval)
		defer t.Stop()
		var lastSweep time.Time
		for {
			s.jobs.scan(gctx)
			if time.Since(lastSweep) > time.Minute {
				s.jobs.sweep(gctx)
				lastSweep = time.Now()
			}
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	return g.Wait()
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "worker" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return workerv1connect.WorkerServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return workerv1connect.NewWorkerServiceHandler(&handler{svc: s}, opts...)
}
