package mesh_test

import (
	"net"
	"net/http"
	"slices"
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

// BenchmarkMeshTLS is BenchmarkMesh over the mesh's mutual TLS, to a
// server of the server runtime: pooled connections, so the handshake is
// paid once and each call pays the record encryption.
func BenchmarkMeshTLS(b *testing.B) {
	e := newEnv(b)
	p := newPKI(b)
	e.startTLS(b, "a", p.source(b, "metadata"))
	m := e.mesh(b, 1, mesh.Options{TLS: p.source(b, "upload")})
	benchmarkGetVideo(b, metadataClient(m))
}

// BenchmarkMeshTLSRatio times the same unary call over h2c and over mutual
// TLS, alternately, through two mesh clients with pooled connections to
// two instances of the server runtime, and reports each median and their
// ratio (mtls/h2c): alternating keeps machine noise out of the ratio.
func BenchmarkMeshTLSRatio(b *testing.B) {
	plainEnv, tlsEnv := newEnv(b), newEnv(b)
	p := newPKI(b)
	plainEnv.startRuntime(b, "h2c", nil)
	tlsEnv.startTLS(b, "mtls", p.source(b, "metadata"))
	plain := metadataClient(plainEnv.mesh(b, 1, mesh.Options{}))
	secure := metadataClient(tlsEnv.mesh(b, 1, mesh.Options{TLS: p.source(b, "upload")}))

	// Warm both pools: the handshake is not what is measured.
	for range 20 {
		if _, err := getVideo(b.Context(), plain); err != nil {
			b.Fatal(err)
		}
		if _, err := getVideo(b.Context(), secure); err != nil {
			b.Fatal(err)
		}
	}
	req := &metadatav1.GetVideoRequest{VideoId: "v1"}
	var h2cTimes, tlsTimes []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, c := range []struct {
			client metadatav1connect.MetadataServiceClient
			times  *[]time.Duration
		}{{plain, &h2cTimes}, {secure, &tlsTimes}} {
			start := time.Now()
			if _, err := c.client.GetVideo(b.Context(), connect.NewRequest(req)); err != nil {
				b.Fatal(err)
			}
			*c.times = append(*c.times, time.Since(start))
		}
	}
	h, s := median(h2cTimes), median(tlsTimes)
	b.ReportMetric(float64(h.Nanoseconds()), "h2c-ns/call")
	b.ReportMetric(float64(s.Nanoseconds()), "mtls-ns/call")
	b.ReportMetric(float64(s)/float64(h), "mtls/h2c")
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}
