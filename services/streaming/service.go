// Package streaming implements streamgate.streaming.v1.StreamingService: token-checked HTTP delivery of manifests and segments, and StreamSegments following a video that is still encoding.
package streaming

import (
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1/streamingv1connect"
)

// Service is the streaming service.
type Service struct {
	logger *slog.Logger
}

// New returns the streaming service.
func New(logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("streaming: nil logger")
	}
	return &Service{logger: logger}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "streaming" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return streamingv1connect.StreamingServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return streamingv1connect.NewStreamingServiceHandler(&handler{svc: s}, opts...)
}

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	streamingv1connect.UnimplementedStreamingServiceHandler
	svc *Service
}
