package upload

import (
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	"go.opentelemetry.io/otel/metric"
)

// Config configures the upload service.
type Config struct {
	// DevMode accepts identity.DevAddressHeader on the tus routes in place
	// of a session (`streamgate dev` only).
	DevMode bool
	// PublicBaseURL is the gateway's public URL, e.g. "http://127.0.0.1:8080";
	// tus URLs are PublicBaseURL + "/uploads/" + upload id. Required.
	PublicBaseURL string
	// DataDir holds the database (unless DBPath is set) and the tus
	// partial uploads ("<DataDir>/tus"), except with an S3 media store:
	// New's blob store is then a *blob.S3 and the tus uploads are in its
	// bucket under its prefix + "tus/", which every instance reaches, and
	// "<DataDir>/tus" holds only parts on their way there. Required.
	DataDir string
	// DBPath is the SQLite database file; default "<DataDir>/upload.db".
	// Ignored with DatabaseURL.
	DBPath string
	// DatabaseURL is a PostgreSQL database (postgres://...) holding the
	// upload records in schema streamgate_upload, shared by every upload
	// instance; it may be the database auth and metadata use. Empty: the
	// SQLite file DBPath, which serves one instance: several instances on
	// SQLite files of their own each see only their own uploads, and
	// nothing here can detect it.
	DatabaseURL string
	// MaxUploadBytes is the largest accepted file; default 10 GiB.
	MaxUploadBytes uint64
	// CreatorQuotaBytes bounds the sum of the sizes of a creator's uploads
	// that are not FAILED, CANCELED or EXPIRED; default 100 GiB.
	CreatorQuotaBytes uint64
	// MaxConcurrentUploads bounds a creator's unfinished uploads (CREATED,
	// UPLOADING, VALIDATING); default 3.
	MaxConcurrentUploads int
	// Inactivity is how long an unfinished upload lives without receiving
	// bytes; default 24h.
	Inactivity time.Duration
	// SelfSweep has Run expire abandoned uploads itself every
	// SweepInterval. Off by default: the worker's "upload.cleanup"
	// schedule calls ExpireAbandonedUploads instead.
	SelfSweep bool
	// SweepInterval is how often expired uploads are removed with
	// SelfSweep; default 1m.
	SweepInterval time.Duration
	// RetryInterval is how often uploads left in VALIDATING (after a
	// failure to publish, a crash, an unreachable store) are retried;
	// default 30s.
	RetryInterval time.Duration
	// Now returns the current time; default time.Now. For tests.
	Now func() time.Time
	// MeterProvider records the domain metrics (see metrics.go); nil: none.
	MeterProvider metric.MeterProvider
	// Locker serializes the work on one upload: tus requests (one PATCH,
	// HEAD or DELETE at a time) and, under "<id>.op", the service's own
	// steps (provisioning, completion, cancel, expiry, deletion). Several
	// instances serving the same uploads need one they all share
	// (etcdlocker, which node passes). Nil: tusd's filelocker in
	// "<DataDir>/tus", which holds only for the processes sharing that
	// directory, with the service's own steps serialized in memory.
	Locker tusd.Locker
}

func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		return c, errors.New("upload: Config.DataDir is required")
	}
	if c.PublicBaseURL == "" {
		return c, errors.New("upload: Config.PublicBaseURL is required")
	}
	u, err := url.Parse(c.PublicBaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errors.New("upload: Config.PublicBaseURL must be an absolute http(s) URL")
	}
	c.PublicBaseURL = strings.TrimRight(c.PublicBaseURL, "/")
	if c.DBPath == "" {
		c.DBPath = filepath.Join(c.DataDir, "upload.db")
	}
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = 10 << 30
	}
	if c.CreatorQuotaBytes == 0 {
		c.CreatorQuotaBytes = 100 << 30
	}
	if c.MaxConcurrentUploads <= 0 {
		c.MaxConcurrentUploads = 3
	}
	if c.Inactivity <= 0 {
		c.Inactivity = 24 * time.Hour
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Minute
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
