// Package app assembles the nine StreamGate services so that `streamgate
// serve` and `streamgate dev` build them one way.
package app

import (
	"fmt"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/services/auth"
	"github.com/streamgate/streamgate/services/cache"
	"github.com/streamgate/streamgate/services/gateway"
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

// Names lists the nine services in start order.
var Names = []string{"gateway", "upload", "transcoder", "metadata", "auth", "streaming", "cache", "worker", "monitor"}

// Build returns the named service.
func Build(name string, logger *slog.Logger) (Service, error) {
	logger = logger.With("service", name)
	switch name {
	case "gateway":
		return gateway.New(logger)
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
		return monitor.New(logger)
	}
	return nil, fmt.Errorf("unknown service %q (want one of %v)", name, Names)
}
