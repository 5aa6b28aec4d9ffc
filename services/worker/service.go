// Package worker implements streamgate.worker.v1.WorkerService: durable background jobs with retries and dead-letter, cron schedules fired once across replicas, and webhook delivery.
package worker

import (
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/worker/v1/workerv1connect"
)

// Service is the worker service.
type Service struct {
	logger *slog.Logger
}

// New returns the worker service.
func New(logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("worker: nil logger")
	}
	return &Service{logger: logger}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "worker" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return workerv1connect.WorkerServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return workerv1connect.NewWorkerServiceHandler(&handler{svc: s}, opts...)
}

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	workerv1connect.UnimplementedWorkerServiceHandler
	svc *Service
}
