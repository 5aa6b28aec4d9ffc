// Package streaming implements streamgate.streaming.v1.StreamingService: token-checked HTTP delivery of manifests and segments, and StreamSegments following a video that is still encoding.
package streaming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/metric"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1/streamingv1connect"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/video"
)

// Config configures the streaming service. Zero fields take the defaults.
type Config struct {
	// PublicBaseURL is the scheme and host players reach /play/ at, e.g.
	// "http://127.0.0.1:8080" or "https://media.example.com". Required.
	PublicBaseURL string
	// BlobPrefix is prepended to "<video_id>/..." to form blob keys, as the
	// transcoder writes them; default "videos/".
	BlobPrefix string
	// VideoCacheTTL is how long a video's status and policy are reused
	// before metadata is asked again; default 5s.
	VideoCacheTTL time.Duration
	// LicenceCacheTTL is how long the key server reuses auth's answer for
	// one wallet, video and kind of token (full or preview): a player asks
	// for keys at every key session, several a minute. A Transfer
	// (ownership.changed) and a sign-out drop it sooner. Default 2s;
	// negative: auth is asked every time.
	LicenceCacheTTL time.Duration
	// ReadyManifestMaxAge is the Cache-Control max-age of the manifests of
	// a READY video; default 60s.
	ReadyManifestMaxAge time.Duration
	// PollInterval is how often StreamSegments re-reads the playlist of a
	// video still encoding when no event arrives; default 2s.
	PollInterval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MeterProvider records the domain metrics (see metrics.go); nil: none.
	MeterProvider metric.MeterProvider

	// SegmentCacheDir is the directory of the local read-through cache of
	// init and media segments, used when the blob store has no local files
	// (S3): a segment is read from the store once, then served from its
	// local copy. Empty: no cache, every request reads the store (a Stat and
	// ranged gets). The directory belongs to one instance: the cache's files
	// in it are removed at start.
	SegmentCacheDir string
	// SegmentCacheMaxBytes bounds the bytes of the cached segments; the
	// least recently used go first. Default 2 GiB.
	SegmentCacheMaxBytes int64
	// SegmentCacheMaxObjectBytes is the largest segment the cache holds;
	// bigger ones are served from the store. Default 64 MiB, at most
	// SegmentCacheMaxBytes.
	SegmentCacheMaxObjectBytes int64
	// SegmentCacheRevalidate is how long a cached segment is served before
	// the store is asked (one Stat) whether it is still the same object;
	// it bounds how long a deleted or replaced segment can be served from
	// the cache to a viewer who passes the access check. Default 10m.
	SegmentCacheRevalidate time.Duration
}

// Videos looks videos up in metadata (video.FromMetadata in the binary). A
// video that does not exist is an error wrapping video.ErrNotFound; any
// other error means metadata could not be asked.
type Videos interface {
	GetVideo(ctx context.Context, id string) (*metadatav1.Video, error)
}

// TokenVerifier verifies playback tokens locally; *authtoken.Verifier
// satisfies it. Refusals wrap authtoken.ErrInvalidToken, a missing key set
// authtoken.ErrKeysUnavailable.
type TokenVerifier interface {
	VerifyPlayback(ctx context.Context, token, videoID string) (*authtoken.PlaybackClaims, error)
}

// Service is the streaming service.
type Service struct {
	cfg      Config
	base     string
	blobs    blob.Store
	videos   Videos
	verifier TokenVerifier
	keys     ContentKeys // nil: no licence endpoint
	bus      *events.Bus // nil: live streams poll, revocations are not followed
	logger   *slog.Logger

	mu    sync.Mutex
	cache map[string]cachedVideo

	tmu    sync.Mutex
	tokens map[string]cachedToken

	rmu             sync.Mutex
	revoked         map[revKey]time.Time
	revokedSessions map[string]time.Time // session id -> expiry bound of its tokens

	emu        sync.Mutex
	encryption map[string]encryptionEntry // "<video>/<rendition>"
	// pmu guards previews: a rendition's free segment names per preview
	// length, once final (previewNames). Per instance, a cache only.
	pmu      sync.Mutex
	previews map[string][]string
	// lmu guards licences: auth's recent answers (licenceCache).
	lmu      sync.Mutex
	licences map[licenceKey]cachedLicence

	metrics *metrics
	segs    *segmentCache // nil: segments are read from the store each time
}

type cachedVideo struct {
	v       *metadatav1.Video
	expires time.Time
}

// New returns the streaming service. keys (auth's key release, for the
// licence endpoint) and bus may be nil; without keys, licence requests are
// answered 501.
func New(cfg Config, blobs blob.Store, videos Videos, verifier TokenVerifier, keys ContentKeys, bus *events.Bus, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("streaming: nil logger")
	}
	if blobs == nil || videos == nil || verifier == nil {
		return nil, errors.New("streaming: a blob store, a video source and a token verifier are required")
	}
	u, err := url.Parse(cfg.PublicBaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("streaming: Config.PublicBaseURL must be an absolute http(s) URL")
	}
	if cfg.BlobPrefix == "" {
		cfg.BlobPrefix = "videos/"
	}
	if cfg.VideoCacheTTL <= 0 {
		cfg.VideoCacheTTL = 5 * time.Second
	}
	if cfg.LicenceCacheTTL == 0 {
		cfg.LicenceCacheTTL = 2 * time.Second
	}
	if cfg.ReadyManifestMaxAge <= 0 {
		cfg.ReadyManifestMaxAge = time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SegmentCacheMaxBytes <= 0 {
		cfg.SegmentCacheMaxBytes = 2 << 30
	}
	if cfg.SegmentCacheMaxObjectBytes <= 0 {
		cfg.SegmentCacheMaxObjectBytes = 64 << 20
	}
	cfg.SegmentCacheMaxObjectBytes = min(cfg.SegmentCacheMaxObjectBytes, cfg.SegmentCacheMaxBytes)
	if cfg.SegmentCacheRevalidate <= 0 {
		cfg.SegmentCacheRevalidate = 10 * time.Minute
	}
	s := &Service{
		cfg: cfg, base: strings.TrimRight(cfg.PublicBaseURL, "/"),
		blobs: blobs, videos: videos, verifier: verifier, keys: keys, bus: bus, logger: logger,
		cache: map[string]cachedVideo{}, tokens: map[string]cachedToken{},
		revoked: map[revKey]time.Time{}, revokedSessions: map[string]time.Time{},
		encryption: map[string]encryptionEntry{},
		previews:   map[string][]string{},
		licences:   map[licenceKey]cachedLicence{},
	}
	if s.metrics, err = newMetrics(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("streaming: metrics: %w", err)
	}
	if _, local := blobs.(pather); !local && cfg.SegmentCacheDir != "" {
		s.segs, err = newSegmentCache(cfg.SegmentCacheDir, cfg.SegmentCacheMaxBytes, cfg.SegmentCacheMaxObjectBytes,
			cfg.SegmentCacheRevalidate, blobs, cfg.Now, logger)
		if err != nil {
			return nil, fmt.Errorf("streaming: %w", err)
		}
	}
	return s, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "streaming" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return streamingv1connect.StreamingServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return streamingv1connect.NewStreamingServiceHandler(&handler{svc: s}, opts...)
}

// HTTPHandlers returns the plain HTTP delivery path.
func (s *Service) HTTPHandlers() map[string]http.Handler {
	return map[string]http.Handler{"/play/": http.HandlerFunc(s.servePlay)}
}

// video returns a video from the cache or metadata.
func (s *Service) video(ctx context.Context, id string) (*metadatav1.Video, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	c, ok := s.cache[id]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.v, nil
	}
	v, err := s.videos.GetVideo(ctx, id)
	if err != nil {
		if errors.Is(err, video.ErrNotFound) {
			return nil, errNotFound
		}
		s.logger.WarnContext(ctx, "metadata lookup failed", "video_id", id, "err", err)
		return nil, errUnavailable
	}
	s.mu.Lock()
	if len(s.cache) > 10000 {
		for k, e := range s.cache {
			if !now.Before(e.expires) {
				delete(s.cache, k)
			}
		}
	}
	s.cache[id] = cachedVideo{v: v, expires: now.Add(s.cfg.VideoCacheTTL)}
	s.mu.Unlock()
	return v, nil
}

func (s *Service) videoPrefix(id string) string { return s.cfg.BlobPrefix + id + "/" }
