package transcode

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/blob"
)

// benchSetup makes a seconds-long 720p clip in dir, stores it as
// uploads/bench/source in a local blob store and returns the clip's path
// and a transcoder over that store working under dir: what the pipeline's
// benchmarks start from.
func benchSetup(b *testing.B, dir string, seconds int) (string, *Transcoder) {
	b.Helper()
	src := filepath.Join(dir, "src.mp4")
	gen := exec.CommandContext(b.Context(), "ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", src)
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
	return src, tc
}

// BenchmarkPipelineVsFFmpeg encodes a 60 s 720p clip through the pipeline
// (default ladder: 720p, 480p, 360p and audio; progressive publishing,
// poster and storyboard) and then runs the same FFmpeg command by hand, and
// reports the ratio of wall times and the time until the first playable
// segment (the first media segment of every rendition published, which is
// when the master playlist appears). Run it with
//
//	go test -run '^$' -bench PipelineVsFFmpeg -benchtime 1x ./internal/transcode/
//
// It is not part of make test.
func BenchmarkPipelineVsFFmpeg(b *testing.B) {
	dir := b.TempDir()
	src, tc := benchSetup(b, dir, 60)

	var pipeline, byHand, firstPlayable, pipelineCPU, byHandCPU time.Duration
	for i := 0; b.Loop(); i++ {
		// Pipeline.
		var mu sync.Mutex
		started := time.Now()
		var renditions int
		firsts := map[string]bool{}
		var playable time.Duration
		cpu0 := cpuTime()
		res, err := tc.Run(b.Context(), Job{
			ID: "bench", VideoID: "vid_bench", SourceKey: "uploads/bench/source",
			OnPlan: func(_ *Source, p []PlannedRendition) { renditions = len(p) },
			OnSegment: func(s Segment) {
				mu.Lock()
				defer mu.Unlock()
				if s.Kind == SegmentMedia && !firsts[s.Rendition] {
					firsts[s.Rendition] = true
					if len(firsts) == renditions {
						playable = time.Since(started)
					}
				}
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		pipeline += time.Since(started)
		pipelineCPU += cpuTime() - cpu0
		firstPlayable += playable
		if err := tc.Clean(b.Context(), "vid_bench"); err != nil {
			b.Fatal(err)
		}

		// The same FFmpeg command by hand.
		work := filepath.Join(dir, "hand")
		_ = os.RemoveAll(work)
		p, err := tc.plan(res.Source, tc.cfg.Ladder)
		if err != nil {
			b.Fatal(err)
		}
		for r := range len(p.videos) + 1 {
			if err := os.MkdirAll(filepath.Join(work, "r"+string(rune('0'+r))), 0o750); err != nil {
				b.Fatal(err)
			}
		}
		cmd := exec.CommandContext(b.Context(), tc.cfg.FFmpeg, tc.args(src, p)...)
		cmd.Dir = work
		cmd.Stdout = io.Discard
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		started = time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("ffmpeg by hand: %v: %s", err, stderr.String())
		}
		byHand += time.Since(started)
		byHandCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	n := float64(b.N)
	b.ReportMetric(pipeline.Seconds()/n, "pipeline-s/op")
	b.ReportMetric(byHand.Seconds()/n, "ffmpeg-s/op")
	b.ReportMetric(pipeline.Seconds()/byHand.Seconds(), "ratio")
	b.ReportMetric(firstPlayable.Seconds()/n, "first-playable-s/op")
	b.ReportMetric(pipelineCPU.Seconds()/byHandCPU.Seconds(), "cpu-ratio")
}

// cpuTime is the CPU time used so far by this process and its waited-for
// children (FFmpeg, ffprobe): wall time on a shared machine is noisy, CPU
// time much less so.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}
