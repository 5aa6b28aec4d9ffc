// Package gateway implements streamgate.gateway.v1.GatewayService: the edge's own RPCs: the client configuration and the route table. The HTTP edge itself (pass-through, REST transcoding, CORS, limits) lives in the top-level gateway package.
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
	logger *slog.Logger
}

// New returns the gateway service.
func New(logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("gateway: nil logger")
	}
	return &Service{logger: logger}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "gateway" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return gatewayv1connect.GatewayServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return gatewayv1connect.NewGatewayServiceHandler(&handler{svc: s}, opts...)
}

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	gatewayv1connect.UnimplementedGatewayServiceHandler
	svc *Service
}
