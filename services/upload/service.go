// Package upload implements streamgate.upload.v1.UploadService: resumable uploads over tus, the limits checked before bytes flow, media validation and the upload.completed event.
package upload

import (
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
)

// Service is the upload service.
type Service struct {
	logger *slog.Logger
}

// New returns the upload service.
func New(logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("upload: nil logger")
	}
	return &Service{logger: logger}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "upload" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return uploadv1connect.UploadServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return uploadv1connect.NewUploadServiceHandler(&handler{svc: s}, opts...)
}

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	uploadv1connect.UnimplementedUploadServiceHandler
	svc *Service
}
