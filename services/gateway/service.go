// Package gateway implements streamgate.gateway.v1.GatewayService, the
// edge's own RPCs (the client configuration and the route table), and mounts
// the HTTP edge (package github.com/streamgate/streamgate/gateway) on the
// gateway's listener.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/web"
)

// Edge is the HTTP edge: it serves every path the gateway's own RPCs do
// not, and wraps those RPCs in the same checks (CORS, access, limits,
// access log). *gateway.Edge satisfies it.
type Edge interface {
	http.Handler
	Wrap(local http.Handler) http.Handler
}

// InstanceSource lists the registered instances of a service (short name,
// "upload"); *registry.Watcher satisfies it.
type InstanceSource interface {
	Instances(service string) []registry.Instance
}

// Service is the gateway service.
type Service struct {
	logger     *slog.Logger
	edge       Edge
	cat        *catalog.Catalog
	instances  InstanceSource
	config     *gatewayv1.GetClientConfigResponse
	webApp     http.Handler
	embed      *embedPolicy // WithEmbedPolicy; nil: the embed page refuses frames
	reflection []string
	loops      []func(context.Context) error // WithBackground
}

// New returns the gateway service. edge serves every path the gateway's own
// RPCs do not; cat is the route table; instances says which services have
// a live instance. Reflection lists every service of the catalog (the whole
// API, since every call passes through the gateway).
func New(cfg Config, edge Edge, cat *catalog.Catalog, instances InstanceSource, logger *slog.Logger, opts ...Option) (*Service, error) {
	if logger == nil {
		return nil, errors.New("gateway: nil logger")
	}
	if edge == nil || cat == nil || instances == nil {
		return nil, errors.New("gateway: New needs the edge, the catalog and an instance source")
	}
	config, err := cfg.clientConfig()
	if err != nil {
		return nil, err
	}
	s := &Service{logger: logger, edge: edge, cat: cat, instances: instances, config: config, webApp: cfg.WebApp}
	for _, o := range opts {
		o(s)
	}
	seen := map[string]bool{}
	for _, m := range cat.Methods() {
		if name := string(m.Service); !seen[name] {
			seen[name] = true
			s.reflection = append(s.reflection, name)
		}
	}
	return s, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "gateway" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return gatewayv1connect.GatewayServiceName }

// Handler returns the Connect handler and the path prefix it serves, behind
// the edge's checks: browsers call GetClientConfig cross-origin, and
// ListRoutes needs the verified operator credential.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	path, h := gatewayv1connect.NewGatewayServiceHandler(&handler{svc: s}, opts...)
	return path, s.edge.Wrap(h)
}

// HTTPHandlers mounts the edge at the root: every other service's calls.
// Page loads (GET or HEAD of a path outside the API's) go to the web app
// instead, so the app and the API share one origin and need no CORS.
func (s *Service) HTTPHandlers() map[string]http.Handler {
	if s.webApp == nil {
		return map[string]http.Handler{"/": s.edge}
	}
	return map[string]http.Handler{"/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !web.IsAPIPath(r.URL.Path) {
			if web.IsEmbedPath(r.URL.Path) {
				s.serveEmbed(w, r)
				return
			}
			s.webApp.ServeHTTP(w, r)
			return
		}
		s.edge.ServeHTTP(w, r)
	})}
}

// EdgeLogged marks the gateway's own RPCs as access-logged by the edge
// they pass through (see app.EdgeLogged).
func (s *Service) EdgeLogged() {}

// ReflectionNames lists every service of the API.
func (s *Service) ReflectionNames() []string { return s.reflection }
