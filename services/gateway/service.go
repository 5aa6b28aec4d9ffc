// Package gateway implements streamgate.gateway.v1.GatewayService, the
// edge's own RPCs (the client configuration and the route table), and mounts
// the HTTP edge (package github.com/streamgate/streamgate/gateway) on the
// gateway's listener.
package gateway

import (
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
)

// Service is the gateway service.
type Service struct {
	logger     *slog.Logger
	edge       http.Handler
	reflection []string
}

// New returns the gateway service. edge serves every path the gateway's own
// RPCs do not; reflection names the services the gateway's reflection
// lists (the whole API, since every call passes through it).
func New(edge http.Handler, reflection []string, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("gateway: nil logger")
	}
	if edge == nil {
		return nil, errors.New("gateway: nil edge handler")
	}
	return &Service{logger: logger, edge: edge, reflection: reflection}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "gateway" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return gatewayv1connect.GatewayServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return gatewayv1connect.NewGatewayServiceHandler(&handler{svc: s}, opts...)
}

// HTTPHandlers mounts the edge at the root: every other service's calls.
func (s *Service) HTTPHandlers() map[string]http.Handler {
	return map[string]http.Handler{"/": s.edge}
}

// ReflectionNames lists every service of the API.
func (s *Service) ReflectionNames() []string { return s.reflection }

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	gatewayv1connect.UnimplementedGatewayServiceHandler
	svc *Service
}
