package streaming_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/services/streaming"
)

// BenchmarkSegmentGET measures authorized segment GETs over loopback HTTP/1.1
// keep-alive against nginx (sendfile on, access log off, a worker per core)
// and http.FileServer serving the same file, with the same client: the cost
// of the path parsing, the (cached) video lookup and the local token
// verification on top of the same sendfile delivery. nginx comes from the
// Debian package (`make bench` installs it).
//
//	go test -run '^$' -bench BenchmarkSegmentGET -benchtime 2s -count 3 ./services/streaming/
func BenchmarkSegmentGET(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1MiB", 1 << 20}, {"2MiB", 2 << 20}} {
		store := segmentStore(b, size.n, "videos/vid_b/720p/seg-00001.m4s")
		pub := newEnv(b, store, nil, readyVideo("vid_b", false))
		gated := newEnv(b, store, nil, readyVideo("vid_b", true))
		tok := gated.token(b, "vid_b")
		fs := httptest.NewServer(http.FileServer(http.Dir(store.Dir())))
		nginx := startNginx(b, store.Dir())
		targets := []struct{ name, url string }{
			{"nginx", nginx + "/videos/vid_b/720p/seg-00001.m4s"},
			{"fileserver", fs.URL + "/videos/vid_b/720p/seg-00001.m4s"},
			{"streaming-public", pub.srv.URL + "/play/vid_b/720p/seg-00001.m4s"},
			{"streaming-token", gated.srv.URL + "/play/vid_b/720p/seg-00001.m4s?token=" + tok},
		}
		for _, tg := range targets {
			b.Run(size.name+"/"+tg.name, func(b *testing.B) {
				client := benchClient()
				defer client.CloseIdleConnections()
				parallelGETs(b, client, tg.url, size.n)
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		}
		fs.Close()
	}
}

// segmentStore returns a local store holding the same n random bytes under
// each key.
func segmentStore(b *testing.B, n int, keys ...string) *blob.Local {
	b.Helper()
	store, err := blob.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	data := make([]byte, n)
	_, _ = rand.Read(data)
	for _, key := range keys {
		if _, err := store.Put(b.Context(), key, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	return store
}

// benchClient is the HTTP/1.1 keep-alive client of every delivery
// benchmark, with room for an idle connection per parallel goroutine.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

// getOK GETs u and reads the body, which must be n bytes with status 200.
func getOK(client *http.Client, u string, n int) error {
	res, err := client.Get(u)
	if err != nil {
		return err
	}
	got, _ := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || got != int64(n) {
		return fmt.Errorf("GET %s: status %d, %d bytes", u, res.StatusCode, got)
	}
	return nil
}

// parallelGETs is the timed loop of the delivery benchmarks: GETs of u
// from b.RunParallel, each answer checked.
func parallelGETs(b *testing.B, client *http.Client, u string, n int) {
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := getOK(client, u, n); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// rates keeps the req/s of every run of each sub-benchmark (-count runs
// each in turn), so that a ratio is of medians, steadier than of one run.
// A run is one *testing.B: the testing package calls the function several
// times on it with a growing b.N to size the run, and only the last call
// is the run it reports.
type rates map[string]map[*testing.B]float64

// record reports the call's req/s and keeps it as its run's, replacing
// the sizing calls before it.
func (r rates) record(b *testing.B, name string) {
	v := float64(b.N) / b.Elapsed().Seconds()
	if r[name] == nil {
		r[name] = map[*testing.B]float64{}
	}
	r[name][b] = v
	b.ReportMetric(v, "req/s")
}

func (r rates) median(name string) float64 {
	v := slices.Sorted(maps.Values(r[name]))
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

// startNginx serves root with the Debian nginx binary on a loopback port
// for the length of the benchmark and returns its base URL.
func startNginx(b *testing.B, root string) string {
	b.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/nginx"); statErr != nil {
			b.Fatal("nginx is the baseline: install it with scripts/install-bench-deps.sh")
		}
		bin = "/usr/sbin/nginx"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	dir := b.TempDir()
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  types { video/mp4 m4s; }
  server { listen %[2]s; root %[3]s; }
}
`, dir, addr, root)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGQUIT); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			b.Fatalf("nginx did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // waiting for an external process to bind
	}
}

// BenchmarkSegmentGETFromS3 measures segment delivery when the media store
// is S3 (a real server, versitygw, on loopback) against nginx serving the
// same files from disk, with the same client, in the same process:
//
//   - parallel/nginx and parallel/s3-cache-warm: b.RunParallel GETs as in
//     BenchmarkSegmentGET; the streaming side reads the segment through its
//     segment cache, filled by one GET before the timer starts (the warm
//     case). parallel/s3-no-cache is the same service without the cache (a
//     Stat and a ranged Get per request), for reference.
//   - sequential/nginx and sequential/s3-cache-cold: one GET at a time; on
//     the streaming side each GET goes to a new service with an empty cache
//     (built while the timer is stopped), so every GET is a first read:
//     Stat and Get from S3, the copy to the cache file, then sendfile.
//
// The ratios (streaming req/s over nginx req/s, medians of the -count runs)
// are the metrics of the last sub-benchmark, <size>/ratio-to-nginx: warm-x,
// no-cache-x, cold-x.
//
//	go test -run '^$' -bench BenchmarkSegmentGETFromS3 -benchtime 2s -count 3 ./services/streaming/
func BenchmarkSegmentGETFromS3(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1MiB", 1 << 20}, {"2MiB", 2 << 20}} {
		const key, rel = "videos/vid_b/720p/seg-00001.m4s", "/play/vid_b/720p/seg-00001.m4s"
		local := segmentStore(b, size.n, key)
		s3store := onS3(b, local)
		nginx := startNginx(b, local.Dir()) + "/" + key
		cacheDir := b.TempDir()
		warm := newEnvWith(b, func(c *streaming.Config) { c.SegmentCacheDir = cacheDir }, s3store, nil, readyVideo("vid_b", false))
		uncached := newEnv(b, s3store, nil, readyVideo("vid_b", false))
		client := benchClient()
		fetch := func(u string) error { return getOK(client, u, size.n) }
		if err := fetch(warm.srv.URL + rel); err != nil { // fills the cache
			b.Fatal(err)
		}
		rate := rates{}
		parallel := func(name, u string) {
			b.Run(size.name+"/parallel/"+name, func(b *testing.B) {
				parallelGETs(b, client, u, size.n)
				rate.record(b, name)
			})
		}
		parallel("nginx", nginx)
		parallel("s3-cache-warm", warm.srv.URL+rel)
		parallel("s3-no-cache", uncached.srv.URL+rel)

		b.Run(size.name+"/sequential/nginx", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				if err := fetch(nginx); err != nil {
					b.Fatal(err)
				}
			}
			rate.record(b, "seq-nginx")
		})
		b.Run(size.name+"/sequential/s3-cache-cold", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				e := newEnvWith(b, func(c *streaming.Config) { c.SegmentCacheDir = dir }, s3store, nil, readyVideo("vid_b", false))
				b.StartTimer()
				if err := fetch(e.srv.URL + rel); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				client.CloseIdleConnections()
				e.srv.Close()
				e.raw.Close()
				_ = os.RemoveAll(dir)
				b.StartTimer()
			}
			rate.record(b, "seq-cold")
		})
		client.CloseIdleConnections()
		// The ratios, as the metrics of a sub-benchmark that measures
		// nothing itself (its ns/op is meaningless).
		b.Run(size.name+"/ratio-to-nginx", func(b *testing.B) {
			for b.Loop() {
			}
			if rate.median("nginx") == 0 || rate.median("seq-nginx") == 0 {
				return // the runs above were filtered out
			}
			b.ReportMetric(rate.median("s3-cache-warm")/rate.median("nginx"), "warm-x")
			b.ReportMetric(rate.median("s3-no-cache")/rate.median("nginx"), "no-cache-x")
			b.ReportMetric(rate.median("seq-cold")/rate.median("seq-nginx"), "cold-x")
		})
	}
}

// pairedParallel calls a and z in turn (which goes first swapping every
// iteration) from b.RunParallel and returns the mean duration of each.
// Both see the same load at the same moments, so the ratio of the means
// holds on a machine whose load moves between sub-benchmarks (a shared
// one), where a ratio of separate runs does not.
func pairedParallel(b *testing.B, a, z func(context.Context) error) (meanA, meanZ time.Duration) {
	var sumA, sumZ, n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		first := true
		for pb.Next() {
			calls := [2]func(context.Context) error{a, z}
			sums := [2]*atomic.Int64{&sumA, &sumZ}
			if !first {
				calls[0], calls[1] = calls[1], calls[0]
				sums[0], sums[1] = sums[1], sums[0]
			}
			first = !first
			for i, call := range calls {
				start := time.Now()
				if err := call(b.Context()); err != nil {
					b.Error(err)
					return
				}
				sums[i].Add(int64(time.Since(start)))
			}
			n.Add(1)
		}
	})
	if n.Load() == 0 {
		return 0, 0
	}
	return time.Duration(sumA.Load() / n.Load()), time.Duration(sumZ.Load() / n.Load())
}
