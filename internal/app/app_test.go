package app_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/streamgate/streamgate/internal/app"
	"github.com/streamgate/streamgate/internal/catalog"
)

// TestEveryRPCIsWired mounts all nine services and calls every RPC in the
// contracts. Each must reach its handler: an RPC that is not built yet
// answers CodeUnimplemented, never a transport-level 404.
func TestEveryRPCIsWired(t *testing.T) {
	mux := http.NewServeMux()
	seen := map[string]bool{}
	for _, name := range app.Names {
		svc, err := app.Build(name, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("Build(%q): %v", name, err)
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
			t.Errorf("%s: service %s is not built by app.Build", m.Procedure, m.Service)
			continue
		}
		t.Run(m.Procedure, func(t *testing.T) {
			// Every request message accepts the empty encoding, so one
			// client type reaches every procedure.
			client := connect.NewClient[emptypb.Empty, emptypb.Empty](srv.Client(), srv.URL+m.Procedure)
			var err error
			switch m.StreamType {
			case catalog.Unary:
				_, err = client.CallUnary(t.Context(), connect.NewRequest(&emptypb.Empty{}))
			case catalog.ServerStream:
				var stream *connect.ServerStreamForClient[emptypb.Empty]
				stream, err = client.CallServerStream(t.Context(), connect.NewRequest(&emptypb.Empty{}))
				if err == nil {
					for stream.Receive() {
					}
					err = stream.Err()
					_ = stream.Close()
				}
			default:
				t.Fatalf("unexpected stream type %v", m.StreamType)
			}
			var cerr *connect.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error = %v, want a Connect error", err)
			}
			if cerr.Code() != connect.CodeUnimplemented {
				t.Errorf("code = %v, want %v", cerr.Code(), connect.CodeUnimplemented)
			}
		})
	}
}

func TestBuildUnknown(t *testing.T) {
	if _, err := app.Build("nope", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("Build(nope) succeeded, want an error")
	}
}
