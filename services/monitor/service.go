// Package monitor implements streamgate.monitor.v1.MonitorService: the health of every registered instance, metrics, alerts, recent logs and chain status.
package monitor

import (
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
)

// Service is the monitor service.
type Service struct {
	logger *slog.Logger
}

// New returns the monitor service.
func New(logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("monitor: nil logger")
	}
	return &Service{logger: logger}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "monitor" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return monitorv1connect.MonitorServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return monitorv1connect.NewMonitorServiceHandler(&handler{svc: s}, opts...)
}

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	monitorv1connect.UnimplementedMonitorServiceHandler
	svc *Service
}
