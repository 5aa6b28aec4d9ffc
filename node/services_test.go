package node_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/mesh"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/testing/s3test"
	"github.com/streamgate/streamgate/node"
)

func testDeps(t *testing.T) node.Deps {
	t.Helper()
	_, etcd := etcdservertest.Start(t)
	logger := slog.New(slog.DiscardHandler)
	w := registry.NewWatcher(etcd, registry.DefaultPrefix, logger)
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	cat := catalog.Default()
	m := mesh.New(w, cat, mesh.Options{}, logger)
	t.Cleanup(m.Close)
	_, bus := eventstest.Bus(t)
	return node.Deps{Logger: logger, Catalog: cat, Registry: w, Mesh: m, Etcd: etcd, Bus: bus, Settings: node.Settings{
		DataDir:       t.TempDir(),
		PublicBaseURL: "http://127.0.0.1:8080",
		// Connected lazily; no RPC here needs the chain.
		Chains: map[uint64]string{1337: "http://127.0.0.1:1"},
	}}
}

// TestEveryRPCIsWired mounts all nine services and calls every RPC in the
// contracts. Each must reach a built handler: no RPC answers
// CodeUnimplemented, which is also what a missing route (HTTP 404) gives.
func TestEveryRPCIsWired(t *testing.T) {
	deps := testDeps(t)
	mux := http.NewServeMux()
	seen := map[string]bool{}
	for _, name := range node.Names {
		svc, err := node.Build(t.Context(), name, deps)
		if err != nil {
			t.Fatalf("Build(%q): %v", name, err)
		}
		if c, ok := svc.(node.Closer); ok {
			t.Cleanup(func() { _ = c.Close() })
		}
		if svc.Name() != name {
			t.Errorf("Build(%q).Name() = %q", name, svc.Name())
		}
		seen[svc.ServiceName()] = true
		path, h := svc.Handler()
		mux.Handle(path, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	methods := catalog.Default().Methods()
	if len(methods) == 0 {
		t.Fatal("catalog has no methods")
	}
	for _, m := range methods {
		if !seen[string(m.Service)] {
			t.Errorf("%s: service %s is not built by node.Build", m.Procedure, m.Service)
			continue
		}
		t.Run(m.Procedure, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			// Every request message accepts the empty encoding, so one
			// client type reaches every procedure.
			client := connect.NewClient[emptypb.Empty, emptypb.Empty](srv.Client(), srv.URL+m.Procedure)
			var err error
			switch m.StreamType {
			case catalog.Unary:
				_, err = client.CallUnary(ctx, connect.NewRequest(&emptypb.Empty{}))
			case catalog.ServerStream:
				var stream *connect.ServerStreamForClient[emptypb.Empty]
				stream, err = client.CallServerStream(ctx, connect.NewRequest(&emptypb.Empty{}))
				if err == nil {
					// A built stream sends a message or ends with an
					// error of its own.
					if !stream.Receive() {
						err = stream.Err()
					}
					_ = stream.Close()
				}
			default:
				t.Fatalf("unexpected stream type %v", m.StreamType)
			}
			if connect.CodeOf(err) == connect.CodeUnimplemented {
				t.Errorf("RPC answered %v, want it built", err)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	if _, err := node.Build(t.Context(), "nope", node.Deps{Logger: logger}); err == nil {
		t.Error("Build(nope) succeeded, want an error")
	}
	if _, err := node.Build(t.Context(), "monitor", node.Deps{Logger: logger}); err == nil {
		t.Error("Build(monitor) without a registry succeeded, want an error")
	}
	if _, err := node.Build(t.Context(), "gateway", node.Deps{Logger: logger}); err == nil {
		t.Error("Build(gateway) without the mesh succeeded, want an error")
	}
	if _, err := node.Build(t.Context(), "upload", node.Deps{}); err == nil {
		t.Error("Build without a logger succeeded, want an error")
	}
}

// TestMediaStoreFromBlobURL: upload, transcoder and streaming open the
// media store Settings.BlobURL names (here a real S3 server) and refuse to
// start on one they cannot reach.
func TestMediaStoreFromBlobURL(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	deps := testDeps(t)
	for _, name := range []string{"upload", "transcoder", "streaming"} {
		d := deps
		d.Settings.BlobURL = srv.URL("media")
		svc, err := node.Build(t.Context(), name, d)
		if err != nil {
			t.Errorf("Build(%s) on %s: %v", name, d.Settings.BlobURL, err)
			continue
		}
		if c, ok := svc.(node.Closer); ok {
			_ = c.Close()
		}
		d.Settings.BlobURL = "s3://no-such-bucket?endpoint=" + srv.Endpoint + "&path_style=true"
		if _, err := node.Build(t.Context(), name, d); err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
			t.Errorf("Build(%s) on a missing bucket = %v, want an error naming it", name, err)
		}
	}
}
