// Package cache implements streamgate.cache.v1.CacheService: a shared cache with namespaces and TTLs over an in-process or Redis backend.
package cache

import (
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/cache/v1/cachev1connect"
)

// Service is the cache service.
type Service struct {
	logger *slog.Logger
}

// New returns the cache service.
func New(logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("cache: nil logger")
	}
	return &Service{logger: logger}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "cache" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return cachev1connect.CacheServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return cachev1connect.NewCacheServiceHandler(&handler{svc: s}, opts...)
}

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	cachev1connect.UnimplementedCacheServiceHandler
	svc *Service
}
