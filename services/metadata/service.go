// Package metadata implements streamgate.metadata.v1.MetadataService: the catalogue of videos, renditions and access policies, on SQLite or PostgreSQL, with full-text search.
package metadata

import (
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
)

// Service is the metadata service.
type Service struct {
	logger *slog.Logger
}

// New returns the metadata service.
func New(logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("metadata: nil logger")
	}
	return &Service{logger: logger}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "metadata" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return metadatav1connect.MetadataServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return metadatav1connect.NewMetadataServiceHandler(&handler{svc: s}, opts...)
}

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	metadatav1connect.UnimplementedMetadataServiceHandler
	svc *Service
}
