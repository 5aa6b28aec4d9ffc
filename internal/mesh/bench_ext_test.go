package mesh_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/mesh"
)

func benchmarkGetVideo(b *testing.B, client metadatav1connect.MetadataServiceClient) {
	b.Helper()
	req := &metadatav1.GetVideoRequest{VideoId: "v1"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := client.GetVideo(b.Context(), connect.NewRequest(req)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirect is a plain Connect client over h2c to the server's
// address: the baseline for BenchmarkMesh.
func BenchmarkDirect(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(metadatav1connect.NewMetadataServiceHandler(&videoServer{name: "direct"}))
	hs := &http.Server{Handler: mux, Protocols: h2c(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	defer tr.CloseIdleConnections()
	benchmarkGetVideo(b, metadatav1connect.NewMetadataServiceClient(&http.Client{Transport: tr}, "http://"+ln.Addr().String()))
}

// BenchmarkMesh is the same call through the mesh client: endpoint pick,
// breaker, in-flight accounting, retry and OpenTelemetry interceptors (with
// the no-op global providers).
func BenchmarkMesh(b *testing.B) {
	e := newEnv(b)
	e.start(b, "a")
	m := e.mesh(b, 1, mesh.Options{})
	benchmarkGetVideo(b, metadataClient(m))
}
