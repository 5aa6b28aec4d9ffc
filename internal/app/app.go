// Package app assembles the nine StreamGate services so that `streamgate
// serve` and `streamgate dev` build them one way, from explicit
// dependencies.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/streamgate/streamgate/gateway"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/mesh"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/services/auth"
	"github.com/streamgate/streamgate/services/cache"
	gatewaysvc "github.com/streamgate/streamgate/services/gateway"
	"github.com/streamgate/streamgate/services/metadata"
	"github.com/streamgate/streamgate/services/monitor"
	"github.com/streamgate/streamgate/services/streaming"
	"github.com/streamgate/streamgate/services/transcoder"
	"github.com/streamgate/streamgate/services/upload"
	"github.com/streamgate/streamgate/services/worker"
)

// Service is what the server runtime needs from each service.
type Service interface {
	// Name is the short name, e.g. "upload".
	Name() string
	// ServiceName is the protobuf service name, e.g. "streamgate.upload.v1.UploadService".
	ServiceName() string
	// Handler returns the Connect handler and the path prefix it serves.
	Handler(opts ...connect.HandlerOption) (string, http.Handler)
}

// Runner is a service with a background loop (probes, consumers), run for
// the instance's lifetime.
type Runner interface {
	Run(ctx context.Context) error
}

// HTTPMounter is a service that also serves plain HTTP routes on its
// listener (the gateway edge at "/", tus uploads, media delivery).
type HTTPMounter interface {
	HTTPHandlers() map[string]http.Handler
}

// Reflector is a service whose listener answers gRPC reflection for more
// services than its own: the gateway lists the whole API.
type Reflector interface {
	ReflectionNames() []string
}

// Names lists the nine services in start order.
var Names = []string{"gateway", "upload", "transcoder", "metadata", "auth", "streaming", "cache", "worker", "monitor"}

// Config holds per-service settings.
type Config struct {
	// ProbeInterval is the monitor's health probe interval; 0 for its default.
	ProbeInterval time.Duration
}

// Deps are the shared infrastructure services are built from. A nil field
// is an error for the services that need it.
type Deps struct {
	Logger   *slog.Logger
	Catalog  *catalog.Catalog
	Registry *registry.Watcher
	Mesh     *mesh.Client
	Bus      *events.Bus
	Etcd     *clientv3.Client
	Config   Config
}

// Build returns the named service.
func Build(name string, deps Deps) (Service, error) {
	logger := deps.Logger
	if logger == nil {
		return nil, errors.New("app: nil logger")
	}
	switch name {
	case "gateway":
		if deps.Mesh == nil || deps.Catalog == nil {
			return nil, errors.New("gateway: needs the mesh client and the catalog")
		}
		edge := gateway.New(deps.Mesh.Transport(), deps.Catalog, logger)
		return gatewaysvc.New(edge, serviceNames(deps.Catalog), logger)
	case "upload":
		return upload.New(logger)
	case "transcoder":
		return transcoder.New(logger)
	case "metadata":
		return metadata.New(logger)
	case "auth":
		return auth.New(logger)
	case "streaming":
		return streaming.New(logger)
	case "cache":
		return cache.New(logger)
	case "worker":
		return worker.New(logger)
	case "monitor":
		if deps.Registry == nil {
			return nil, errors.New("monitor: needs the registry watcher")
		}
		return monitor.New(monitor.Config{Services: Names, ProbeInterval: deps.Config.ProbeInterval},
			deps.Registry, monitor.GRPCHealthProbe(h2cClient()), logger)
	}
	return nil, fmt.Errorf("unknown service %q (want one of %v)", name, Names)
}

func serviceNames(cat *catalog.Catalog) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range cat.Methods() {
		if s := string(m.Service); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// h2cClient speaks HTTP/2 without TLS, as every StreamGate listener does.
func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}
