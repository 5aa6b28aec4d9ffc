package transcode

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/cenc"
)

// BenchmarkEncryptedVsClear packages a 30 s 720p clip through the default
// ladder clear and then encrypted (cbcs, with a 10 s preview under its own
// key), alternately on the same input, and reports the ratio of wall and
// of CPU times: what encrypting at publication costs over the encode. Run
// it with
//
//	go test -run '^$' -bench EncryptedVsClear -benchtime 1x ./internal/transcode/
//
// It is not part of make test.
func BenchmarkEncryptedVsClear(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "src.mp4")
	gen := exec.CommandContext(b.Context(), "ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "30", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", src)
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("make clip: %v: %s", err, out)
	}
	store, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Put(b.Context(), "uploads/bench/source", f); err != nil {
		b.Fatal(err)
	}
	_ = f.Close()
	tc, err := New(Config{WorkDir: filepath.Join(dir, "work")}, store, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	enc := &Encryption{Scheme: cenc.CBCS, Full: cenc.NewKey(), Preview: cenc.NewKey(), PreviewUntil: 10 * time.Second}

	var wall, cpu [2]time.Duration
	for b.Loop() {
		for i, e := range []*Encryption{nil, enc} {
			started, cpu0 := time.Now(), cpuTime()
			if _, err := tc.Run(b.Context(), Job{ID: "bench", VideoID: "vid_bench", SourceKey: "uploads/bench/source", Encryption: e}); err != nil {
				b.Fatal(err)
			}
			wall[i] += time.Since(started)
			cpu[i] += cpuTime() - cpu0
			if err := tc.Clean(b.Context(), "vid_bench"); err != nil {
				b.Fatal(err)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(wall[0].Seconds()/n, "clear-s/op")
	b.ReportMetric(wall[1].Seconds()/n, "encrypted-s/op")
	b.ReportMetric(wall[1].Seconds()/wall[0].Seconds(), "ratio")
	b.ReportMetric(cpu[1].Seconds()/cpu[0].Seconds(), "cpu-ratio")
}
