package metadata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/services/metadata/store/sqlstore"
)

// Config configures the metadata service.
type Config struct {
	// DatabaseURL names the database: "postgres://..." (or
	// "postgresql://...") for PostgreSQL; "sqlite:///path/to/file.db" or a
	// bare file path for SQLite. Used by New when it is given no Store.
	DatabaseURL string
}

// Publisher publishes events (events.Bus does).
type Publisher interface {
	Publish(ctx context.Context, msg proto.Message) error
}

// Service is the metadata service.
type Service struct {
	store     Store
	ownsStore bool
	bus       *events.Bus
	pub       Publisher
	logger    *slog.Logger
	now       func() time.Time
}

// New returns the metadata service. st is the database; when nil, New opens
// cfg.DatabaseURL with OpenStore and Close closes it. bus carries the events
// the service consumes (Run) and publishes.
func New(cfg Config, st Store, bus *events.Bus, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("metadata: nil logger")
	}
	if bus == nil {
		return nil, errors.New("metadata: an event bus is required")
	}
	owns := false
	if st == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var err error
		if st, err = OpenStore(ctx, cfg.DatabaseURL, logger); err != nil {
			return nil, err
		}
		owns = true
	}
	return &Service{
		store:     st,
		ownsStore: owns,
		bus:       bus,
		pub:       bus,
		logger:    logger,
		now:       func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}, nil
}

// OpenStore opens the database url names (see Config.DatabaseURL) and
// applies its migrations.
func OpenStore(ctx context.Context, url string, logger *slog.Logger) (Store, error) {
	switch {
	case url == "":
		return nil, errors.New("metadata: empty database URL")
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return sqlstore.OpenPostgres(ctx, url, logger)
	case strings.HasPrefix(url, "sqlite://"):
		return sqlstore.OpenSQLite(ctx, strings.TrimPrefix(url, "sqlite://"), logger)
	case strings.Contains(url, "://"):
		return nil, fmt.Errorf("metadata: database URL %q: want postgres:// or sqlite://", url)
	default:
		return sqlstore.OpenSQLite(ctx, url, logger)
	}
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "metadata" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return metadatav1connect.MetadataServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return metadatav1connect.NewMetadataServiceHandler(&handler{svc: s}, opts...)
}

// Close closes the store if New opened it.
func (s *Service) Close() error {
	if s.ownsStore {
		return s.store.Close()
	}
	return nil
}
