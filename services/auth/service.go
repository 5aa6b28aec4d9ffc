// Package auth implements streamgate.auth.v1.AuthService: Sign-In with Ethereum, sessions and rotating signing keys, access policies evaluated against the chain, and playback tokens.
package auth

import (
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
)

// Service is the auth service.
type Service struct {
	logger *slog.Logger
}

// New returns the auth service.
func New(logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("auth: nil logger")
	}
	return &Service{logger: logger}, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "auth" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return authv1connect.AuthServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return authv1connect.NewAuthServiceHandler(&handler{svc: s}, opts...)
}

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	authv1connect.UnimplementedAuthServiceHandler
	svc *Service
}
