package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/server"
)

// exampleService is the smallest Service: every RPC answers Unimplemented.
type exampleService struct {
	metadatav1connect.UnimplementedMetadataServiceHandler
}

func (exampleService) Name() string        { return "metadata" }
func (exampleService) ServiceName() string { return metadatav1connect.MetadataServiceName }
func (s exampleService) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return metadatav1connect.NewMetadataServiceHandler(s, opts...)
}

// The lifecycle cmd/ drives: New, Start, SetServing once dependencies are
// up, Shutdown on a signal.
func Example() {
	logger := slog.New(slog.DiscardHandler)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0"}, []server.Service{exampleService{}}, logger)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	srv.SetServing(true)

	health := grpchealth.NewClient(&http.Client{}, "http://"+srv.Addr())
	res, err := health.Check(ctx, &grpchealth.CheckRequest{Service: metadatav1connect.MetadataServiceName})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Status)

	shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fmt.Println(srv.Shutdown(shutdownCtx))
	// Output:
	// serving
	// <nil>
}
