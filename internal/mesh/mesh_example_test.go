package mesh_test

import (
	"context"
	"log/slog"
	"os"

	"connectrpc.com/connect"
	clientv3 "go.etcd.io/etcd/client/v3"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/mesh"
	"github.com/streamgate/streamgate/internal/registry"
)

// How a service calls another: one watcher and one mesh client per process,
// a generated client per callee. (Compiled, not run: it needs etcd.)
func ExampleNew() {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
	if err != nil {
		logger.Error("etcd", "err", err)
		return
	}
	defer etcd.Close()

	watcher := registry.NewWatcher(etcd, registry.DefaultPrefix, logger)
	if err := watcher.Start(ctx); err != nil {
		logger.Error("watch registry", "err", err)
		return
	}
	defer watcher.Close()

	m := mesh.New(watcher, catalog.Default(), mesh.Options{}, logger)
	defer m.Close()
	videos := metadatav1connect.NewMetadataServiceClient(m.HTTPClient(), m.BaseURL("metadata"), m.ClientOptions()...)

	resp, err := videos.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "v1"}))
	if err != nil {
		logger.Error("get video", "code", connect.CodeOf(err), "err", err)
		return
	}
	logger.Info("video", "title", resp.Msg.GetVideo().GetTitle())
}
