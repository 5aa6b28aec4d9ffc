package streaming_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/streamgate/streamgate/internal/blob"
)

// BenchmarkSegmentGET measures authorized segment GETs over loopback HTTP/1.1
// keep-alive against http.FileServer serving the same file in the same
// process: the cost of the path parsing, the (cached) video lookup and the
// local token verification on top of the same sendfile delivery.
//
//	go test -run '^$' -bench BenchmarkSegmentGET -benchtime 2s -count 3 ./services/streaming/
func BenchmarkSegmentGET(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1MiB", 1 << 20}, {"2MiB", 2 << 20}} {
		store, err := blob.NewLocal(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = store.Close() })
		data := make([]byte, size.n)
		_, _ = rand.Read(data)
		if _, err := store.Put(b.Context(), "videos/vid_b/720p/seg-00001.m4s", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		pub := newEnv(b, store, nil, readyVideo("vid_b", false))
		gated := newEnv(b, store, nil, readyVideo("vid_b", true))
		tok := gated.token(b, "vid_b")
		fs := httptest.NewServer(http.FileServer(http.Dir(store.Dir())))
		targets := []struct{ name, url string }{
			{"fileserver", fs.URL + "/videos/vid_b/720p/seg-00001.m4s"},
			{"streaming-public", pub.srv.URL + "/play/vid_b/720p/seg-00001.m4s"},
			{"streaming-token", gated.srv.URL + "/play/vid_b/720p/seg-00001.m4s?token=" + tok},
		}
		for _, tg := range targets {
			b.Run(size.name+"/"+tg.name, func(b *testing.B) {
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
				defer client.CloseIdleConnections()
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						res, err := client.Get(tg.url)
						if err != nil {
							b.Error(err)
							return
						}
						n, _ := io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != 200 || n != int64(size.n) {
							b.Errorf("status %d, %d bytes", res.StatusCode, n)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		}
		fs.Close()
	}
}
