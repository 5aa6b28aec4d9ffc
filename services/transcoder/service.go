// Package transcoder implements streamgate.transcoder.v1.TranscoderService: FFmpeg ladder jobs pulled from a durable queue by a worker pool, CMAF segments served as HLS and DASH, and WatchJob progress streams.
package transcoder

import (
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1/transcoderv1connect"
)

// Service is the transcoder service.
type Service struct {
	logger *slog.Logger
}

// New returns the transcoder service.
func New(logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("transcoder: nil logger")
	}
	return &Service{logger: logger}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "transcoder" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return transcoderv1connect.TranscoderServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return transcoderv1connect.NewTranscoderServiceHandler(&handler{svc: s}, opts...)
}

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	transcoderv1connect.UnimplementedTranscoderServiceHandler
	svc *Service
}
