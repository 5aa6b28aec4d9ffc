package transcode

import (
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/cenc"
)

// BenchmarkEncryptedVsClear packages a 60 s 720p clip through the default
// ladder clear and encrypted (cbcs, with a 10 s preview under its own
// key), alternately on the same input, which goes first swapping each
// iteration so neither gains from the other's warm caches, and reports
// the ratio of wall and of CPU times (the process's and ffmpeg's): what
// encrypting at publication costs over the encode. Run it with an even
// -benchtime:
//
//	go test -run '^$' -bench EncryptedVsClear -benchtime 2x -count 3 ./internal/transcode/
//
// It is not part of make test.
func BenchmarkEncryptedVsClear(b *testing.B) {
	_, tc := benchSetup(b, b.TempDir(), 60)
	enc := &Encryption{Scheme: cenc.CBCS, Full: cenc.NewKey(), Preview: cenc.NewKey(), PreviewUntil: 10 * time.Second}

	encryption := [2]*Encryption{nil, enc}
	var wall, cpu [2]time.Duration
	for n := 0; b.Loop(); n++ {
		for k := range 2 {
			i := (n + k) % 2
			e := encryption[i]
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
