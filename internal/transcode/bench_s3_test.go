package transcode

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/testing/s3test"
)

// BenchmarkPipelineS3VsLocal runs the same job (a 30 s 720p clip, the
// default ladder) with the source and the output on a real S3 server
// (versitygw on loopback, started here) and on a local directory, in turns,
// and reports the ratio of wall times and of CPU times (this process and
// FFmpeg's; not the S3 server's, which runs until the end). The aim is at
// most 1.05x.
//
//	go test -run '^$' -bench PipelineS3VsLocal -benchtime 3x ./internal/transcode/
func BenchmarkPipelineS3VsLocal(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "src.mp4")
	gen := exec.CommandContext(b.Context(), "ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "30", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", src)
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("make clip: %v: %s", err, out)
	}
	local, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	srv := s3test.Start(b)
	srv.SetEnv(b)
	s3, err := blob.Open(b.Context(), srv.URL("media"))
	if err != nil {
		b.Fatal(err)
	}
	type side struct {
		name      string
		tc        *Transcoder
		wall, cpu time.Duration
	}
	sides := []*side{{name: "local"}, {name: "s3"}}
	for i, store := range []blob.Store{local, s3} {
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		_, err = store.Put(b.Context(), "uploads/bench/source", f)
		_ = f.Close()
		if err != nil {
			b.Fatal(err)
		}
		tc, err := New(Config{WorkDir: filepath.Join(dir, "work-"+sides[i].name)}, store, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		sides[i].tc = tc
	}
	run := func(ctx context.Context, s *side) {
		cpu0, started := cpuTime(), time.Now()
		if _, err := s.tc.Run(ctx, Job{ID: "bench", VideoID: "vid_bench", SourceKey: "uploads/bench/source"}); err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
		s.wall += time.Since(started)
		s.cpu += cpuTime() - cpu0
		if err := s.tc.Clean(ctx, "vid_bench"); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so that drift in the machine's load
		// falls on both.
		first, second := sides[i%2], sides[1-i%2]
		run(b.Context(), first)
		run(b.Context(), second)
	}
	n := float64(b.N)
	b.ReportMetric(sides[0].wall.Seconds()/n, "local-s/op")
	b.ReportMetric(sides[1].wall.Seconds()/n, "s3-s/op")
	b.ReportMetric(sides[1].wall.Seconds()/sides[0].wall.Seconds(), "ratio")
	b.ReportMetric(sides[1].cpu.Seconds()/sides[0].cpu.Seconds(), "cpu-ratio")
}
