// Package upload implements streamgate.upload.v1.UploadService: resumable
// uploads over tus, the limits checked before bytes flow, media validation
// and the upload.completed event.
//
// CreateUpload checks every limit, records the upload (SQLite, or
// PostgreSQL shared by several instances), creates
// its video through MetadataService and opens the tus upload itself (the
// client never POSTs) in tusd's filestore under DataDir, or, when the media
// store is S3, in tusd's s3store in the same bucket, where every instance
// reaches it. The tus routes under /uploads/ accept HEAD, PATCH and
// DELETE from the upload's creator only, and PATCH only while the upload
// accepts bytes. When the last byte arrives the upload moves to VALIDATING;
// the completion pipeline (copy into the blob store while hashing, ffprobe,
// publish) is driven from that stored state, so a crash or a failed publish
// is retried and the event, keyed by a stable event_id, goes out once.
package upload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"connectrpc.com/connect"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"google.golang.org/protobuf/proto"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/mediaprobe"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

// Videos creates the video an upload carries (MetadataService.CreateVideo,
// an internal RPC). It must be idempotent on request_id.
type Videos interface {
	CreateVideo(ctx context.Context, req *metadatav1.CreateVideoRequest) (*metadatav1.Video, error)
}

// Publisher publishes a streamgate.events.v1 message (events.Bus does).
type Publisher interface {
	Publish(ctx context.Context, msg proto.Message) error
}

// Prober inspects a media file (mediaprobe.Prober does). A file the
// platform refuses is a *mediaprobe.RejectedError; any other error is a
// failure to probe, retried later.
type Prober interface {
	Probe(ctx context.Context, path string) (*mediaprobe.Info, error)
}

// filePather is a blob store that can name an object's file (blob.Local),
// so ffprobe reads it in place instead of from a temporary copy.
type filePather interface {
	Path(ctx context.Context, key string) (string, error)
}

// Service is the upload service.
type Service struct {
	cfg    Config
	logger *slog.Logger
	videos Videos
	bus    Publisher
	blobs  blob.Store
	probe  Prober

	db       *store
	tusDir   string
	composer *tusd.StoreComposer
	tus      *tusd.Handler

	locks   keyedMutex // one provision/completion/cancel per upload at a time in this process (see lockUpload)
	kick    chan struct{}
	metrics *metrics
}

// New returns the upload service. It opens (creating) the database and the
// tus directory under cfg.DataDir. Close releases them.
func New(cfg Config, videos Videos, bus Publisher, blobs blob.Store, probe Prober, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("upload: nil logger")
	}
	if videos == nil || bus == nil || blobs == nil || probe == nil {
		return nil, errors.New("upload: videos, bus, blob store and prober are required")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, logger: logger, videos: videos, bus: bus, blobs: blobs, probe: probe,
		tusDir: filepath.Join(cfg.DataDir, "tus"),
		kick:   make(chan struct{}, 1),
	}
	if s.metrics, err = newMetrics(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("upload: metrics: %w", err)
	}
	if err := os.MkdirAll(s.tusDir, 0o750); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	s.db, err = openStore(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	if err := s.newTusHandler(); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the database. Call it after the listener has stopped.
func (s *Service) Close() error { return s.db.Close() }

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "upload" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return uploadv1connect.UploadServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return uploadv1connect.NewUploadServiceHandler(&handler{svc: s}, opts...)
}

// HTTPHandlers returns the tus routes: "/uploads/" (HEAD, PATCH, DELETE,
// OPTIONS on /uploads/<upload id>). The gateway routes /uploads/ here and
// sets X-Forwarded-Host/-Proto, which tusd respects.
func (s *Service) HTTPHandlers() map[string]http.Handler {
	return map[string]http.Handler{"/uploads/": s.tusRoutes()}
}

// Run completes uploads whose bytes have all arrived (including those left
// in VALIDATING by a previous run) and, with Config.SelfSweep, sweeps
// expired uploads, until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.completionLoop(ctx) })
	if s.cfg.SelfSweep {
		wg.Go(func() { s.sweepLoop(ctx) })
	}
	wg.Wait()
	return nil
}

// opLockTimeout bounds the wait for another instance's step on the same
// upload where the caller has no deadline of its own.
const opLockTimeout = 5 * time.Minute

// lockUpload serializes the service's own steps on upload id (provision,
// completion, cancel, expiry, deletion of its bytes): in this process, and
// with Config.Locker across the instances that share it. It is a lock apart
// from the tus lock of id, which some of these steps take inside it.
func (s *Service) lockUpload(ctx context.Context, id string) (unlock func(), err error) {
	unlockLocal := s.locks.lock(id)
	if s.cfg.Locker == nil {
		return unlockLocal, nil
	}
	lock, err := s.cfg.Locker.NewLock(id + ".op")
	if err == nil {
		lctx, cancel := context.WithTimeout(ctx, opLockTimeout)
		err = lock.Lock(lctx, func() {}) // a step runs to its end; waiters wait
		cancel()
	}
	if err != nil {
		unlockLocal()
		return nil, rpcerr.Wrap(connect.CodeUnavailable, err, "upload "+id+" is busy, retry")
	}
	return func() {
		if err := lock.Unlock(); err != nil {
			s.logger.Warn("upload: unlock", "upload_id", id, "err", err)
		}
		unlockLocal()
	}, nil
}

// keyedMutex is a set of mutexes by key, created on demand and dropped
// when unused.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
