// Package transcoder implements streamgate.transcoder.v1.TranscoderService: FFmpeg ladder jobs pulled from a durable queue by a worker pool, CMAF segments served as HLS and DASH, and WatchJob progress streams.
package transcoder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"

	"github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1/transcoderv1connect"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/transcode"
)

// DefaultJobRetention is Config.JobRetention's default.
const DefaultJobRetention = 7 * 24 * time.Hour

// Config configures the transcoder service. Zero fields take the defaults.
type Config struct {
	// InstanceID names this instance in job records and pool stats;
	// default "<hostname>-<pid>-<random>". Use the etcd registration id.
	InstanceID string
	// Workers is how many jobs this instance runs at once; default
	// max(1, NumCPU/2).
	Workers int
	// MaxAttempts bounds the attempts of a job (worker lost, blob-store
	// error); default 3. A bad source fails at once.
	MaxAttempts int
	// AckWait is how long a job may go without a heartbeat from its worker
	// before it is redelivered to another; default 30s.
	AckWait time.Duration
	// RetryDelay is the wait before a job that failed transiently is
	// retried; default 5s.
	RetryDelay time.Duration
	// MaxQueueDepth caps QUEUED jobs; 0 means no cap.
	MaxQueueDepth int
	// ProgressInterval is the least time between progress reports of a
	// running job; default 500ms.
	ProgressInterval time.Duration
	// JobRetention is how long a finished job (SUCCEEDED, FAILED,
	// CANCELED) stays readable after it ended; then the job store drops
	// it. Default 7 days; at least 1s.
	JobRetention time.Duration
	// Transcode configures the FFmpeg pipeline (ladder, work dir...).
	Transcode transcode.Config
	// MeterProvider records the domain metrics (see metrics.go); nil: none.
	MeterProvider metric.MeterProvider
	// Protector decides per job whether its segments are encrypted and
	// under which keys; nil packages every video in the clear.
	Protector Protector
}

func (c *Config) defaults() error {
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.InstanceID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if c.Workers == 0 {
		c.Workers = max(1, runtime.NumCPU()/2)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = 5 * time.Second
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 500 * time.Millisecond
	}
	if c.JobRetention == 0 {
		c.JobRetention = DefaultJobRetention
	}
	switch {
	case c.Workers < 0:
		return fmt.Errorf("transcoder: Workers %d is negative", c.Workers)
	case c.MaxAttempts < 1:
		return fmt.Errorf("transcoder: MaxAttempts %d: want at least 1", c.MaxAttempts)
	case c.AckWait < time.Second:
		return fmt.Errorf("transcoder: AckWait %s: want at least 1s", c.AckWait)
	case c.MaxQueueDepth < 0:
		return fmt.Errorf("transcoder: MaxQueueDepth %d is negative", c.MaxQueueDepth)
	case c.JobRetention < time.Second:
		return fmt.Errorf("transcoder: JobRetention %s: want at least 1s", c.JobRetention)
	}
	return nil
}

// Service is the transcoder service.
type Service struct {
	cfg    Config
	bus    *events.Bus
	blobs  blob.Store
	tc     *transcode.Transcoder
	logger *slog.Logger
	start  time.Time

	setupMu sync.Mutex
	st      *store
	queue   jetstream.Consumer

	pool    *pool
	metrics *metrics
}

// New returns the transcoder service. bus carries events, the job queue and
// the job bucket; blobs holds sources and output. It fails when ffmpeg or
// ffprobe cannot be found.
func New(cfg Config, bus *events.Bus, blobs blob.Store, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("transcoder: nil logger")
	}
	if bus == nil || blobs == nil {
		return nil, errors.New("transcoder: a bus and a blob store are required")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	tc, err := transcode.New(cfg.Transcode, blobs, logger)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, bus: bus, blobs: blobs, tc: tc, logger: logger, start: time.Now()}
	s.pool = newPool(cfg.Workers)
	if s.metrics, err = newMetrics(s, cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("transcoder: metrics: %w", err)
	}
	return s, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "transcoder" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return transcoderv1connect.TranscoderServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return transcoderv1connect.NewTranscoderServiceHandler(&handler{svc: s}, opts...)
}

// InstanceID is the id this instance records on the jobs it runs.
func (s *Service) InstanceID() string { return s.cfg.InstanceID }

// setup creates (or finds) the job bucket, the queue stream and the
// workers' consumer; it is retried until it succeeds.
func (s *Service) setup(ctx context.Context) (*store, jetstream.Consumer, error) {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if s.st != nil {
		return s.st, s.queue, nil
	}
	js := s.bus.JetStream()
	kv, err := s.bus.EnsureKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: jobsBucket, Description: "StreamGate transcode jobs by id", History: 1, Storage: jetstream.FileStorage,
		// Finished jobs expire (see store).
		LimitMarkerTTL: markerTTL,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: job bucket: %v", ErrUnavailable, err)
	}
	st := newStore(kv, js, s.cfg.JobRetention)
	if err := st.backfill(ctx); err != nil {
		return nil, nil, fmt.Errorf("%w: job bucket: %v", ErrUnavailable, err)
	}
	if _, err := s.bus.EnsureStream(ctx, jetstream.StreamConfig{
		Name: queueStream, Description: "StreamGate transcode work queue: one message per job attempt",
		Subjects: []string{queueSubj}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
		Duplicates: 10 * time.Minute,
	}); err != nil {
		return nil, nil, fmt.Errorf("%w: queue stream: %v", ErrUnavailable, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, queueStream, jetstream.ConsumerConfig{
		Durable: workersName, Description: "StreamGate transcoder workers",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: s.cfg.AckWait,
		// Unbounded: claim counts attempts (deliveries less the ones a media
		// store outage ended) and fails the job on the one past the last.
		MaxDeliver: -1, MaxAckPending: -1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: queue consumer: %v", ErrUnavailable, err)
	}
	s.st, s.queue = st, cons
	return s.st, s.queue, nil
}

// Run consumes upload.completed events, runs the worker pool and answers
// pool-stats requests until ctx is done. Running jobs are abandoned without
// acknowledgement, so another instance picks them up after AckWait.
func (s *Service) Run(ctx context.Context) error {
	var st *store
	var cons jetstream.Consumer
	for {
		var err error
		if st, cons, err = s.setup(ctx); err == nil {
			break
		}
		s.logger.Warn("transcoder: setup", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	sub, err := events.Subscribe(ctx, s.bus, "transcoder-upload-completed", s.onUploadCompleted, events.SubscribeOptions{})
	if err != nil {
		return err
	}
	defer sub.Stop()
	stopStats, err := s.serveStats()
	if err != nil {
		return err
	}
	defer stopStats()
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Go(func() { s.workerLoop(ctx, st, cons) })
	}
	wg.Go(func() { s.repairLoop(ctx, st) })
	wg.Wait()
	return nil
}

// queueRepairInterval is how often each instance checks the queue index
// against the queued jobs (see store.repairQueue).
const queueRepairInterval = time.Minute

// repairLoop mends the queue index now and then, so an entry left by an
// instance that died between two writes does not hold a place in the
// queue (or count against MaxQueueDepth) for long.
func (s *Service) repairLoop(ctx context.Context, st *store) {
	t := time.NewTicker(queueRepairInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, queueReadTimeout)
			if _, err := st.repairQueue(rctx); err != nil && ctx.Err() == nil {
				s.logger.Warn("transcoder: repair the queue index", "err", err)
			}
			cancel()
		}
	}
}
