// Package monitor implements streamgate.monitor.v1.MonitorService: the health
// of every registered instance, metrics, alerts, recent logs and chain
// status.
package monitor

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/registry"
)

// Config configures the monitor.
type Config struct {
	// Services are the names always listed in the health view.
	Services []string
	// ProbeInterval between health probe rounds; default 2s.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe; default 1s.
	ProbeTimeout time.Duration
}

// Service is the monitor service.
type Service struct {
	logger *slog.Logger
	health *HealthView
}

// New returns the monitor service. Instances come from src; probe checks one
// instance (see GRPCHealthProbe).
func New(cfg Config, src InstanceSource, probe ProbeFunc, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("monitor: nil logger")
	}
	if src == nil || probe == nil {
		return nil, errors.New("monitor: an instance source and a probe are required")
	}
	hv := NewHealthView(HealthConfig{Services: cfg.Services, Interval: cfg.ProbeInterval, Timeout: cfg.ProbeTimeout}, src, probe, logger)
	return &Service{logger: logger, health: hv}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "monitor" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return monitorv1connect.MonitorServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return monitorv1connect.NewMonitorServiceHandler(&handler{svc: s}, opts...)
}

// Run probes the registered instances until ctx is done.
func (s *Service) Run(ctx context.Context) error { return s.health.Run(ctx) }

// Health returns the health view.
func (s *Service) Health() *HealthView { return s.health }

// GRPCHealthProbe returns a ProbeFunc that asks an instance's
// grpc.health.v1.Health/Check for the whole server (service ""), directly
// at its registered address rather than through the mesh: the point is to
// learn about that one instance.
func GRPCHealthProbe(client connect.HTTPClient) ProbeFunc {
	return func(ctx context.Context, inst registry.Instance) (bool, error) {
		res, err := grpchealth.NewClient(client, "http://"+inst.Address).Check(ctx, &grpchealth.CheckRequest{})
		if err != nil {
			return false, err
		}
		return res.Status == grpchealth.StatusServing, nil
	}
}
