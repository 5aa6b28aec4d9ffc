package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/services/metadata"
	"github.com/streamgate/streamgate/services/metadata/store"
)

// BenchRows is how many videos the benchmarks generate:
// $METADATA_BENCH_ROWS, default 100,000.
func BenchRows() int {
	if n, err := strconv.Atoi(os.Getenv("METADATA_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// vocabulary is a deterministic list of pseudo-words, so searches have a
// realistic spread of frequent and rare terms.
func vocabulary(n int, r *rand.Rand) []string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	out := make([]string, n)
	for i := range out {
		l := 4 + r.IntN(6)
		b := make([]byte, l)
		for j := range b {
			b[j] = letters[r.IntN(len(letters))]
		}
		out[i] = string(b)
	}
	return out
}

// zipf picks index i with probability falling as 1/(i+1), like word use.
type picker struct{ z *rand.Zipf }

func (p picker) pick(words []string) string { return words[p.z.Uint64()] }

// Generate returns n synthetic videos: 1,000 creators, 90% READY (the rest
// spread over the other states), a third gated, 1 to 4 tags from 200, titles
// of 3 to 6 and descriptions of 15 to 40 words from a 5,000-word vocabulary
// used with a Zipf distribution, created over one year.
func Generate(n int) []*store.Video {
	r := rand.New(rand.NewPCG(1, 2))
	words := vocabulary(5000, r)
	tags := vocabulary(200, r)
	wp := picker{rand.NewZipf(r, 1.1, 2, uint64(len(words)-1))}
	creators := make([]string, 1000)
	for i := range creators {
		creators[i] = fmt.Sprintf("0x%040x", i+1)
	}
	start := time.Date(2025, 11, 28, 0, 0, 0, 0, time.UTC)
	sentence := func(k int) string {
		ws := make([]string, k)
		for i := range ws {
			ws[i] = wp.pick(words)
		}
		return strings.Join(ws, " ")
	}
	out := make([]*store.Video, n)
	for i := range out {
		ct := start.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour)))).Truncate(time.Microsecond)
		v := &store.Video{
			ID:          fmt.Sprintf("vid_%026d", i),
			Creator:     creators[r.IntN(len(creators))],
			Title:       sentence(3 + r.IntN(4)),
			Description: sentence(15 + r.IntN(26)),
			Status:      store.StatusReady,
			CreateTime:  ct,
			UpdateTime:  ct,
			Duration:    time.Duration(30+r.IntN(3600)) * time.Second,
			PosterPath:  "poster.jpg",
			HLSPath:     "master.m3u8",
			DASHPath:    "manifest.mpd",
			Renditions: []*metadatav1.Rendition{
				{Name: "720p", Width: 1280, Height: 720, FrameRate: 30, Codecs: []string{"avc1.64001f", "mp4a.40.2"}, BandwidthBps: 3_000_000, PlaylistPath: "720p/index.m3u8"},
				{Name: "360p", Width: 640, Height: 360, FrameRate: 30, Codecs: []string{"avc1.4d401e", "mp4a.40.2"}, BandwidthBps: 800_000, PlaylistPath: "360p/index.m3u8"},
			},
		}
		if x := r.IntN(100); x >= 90 {
			v.Status = store.Status(1 + (x % 5))
		}
		for range 1 + r.IntN(4) {
			if t := tags[r.IntN(len(tags))]; !slices.Contains(v.Tags, t) {
				v.Tags = append(v.Tags, t)
			}
		}
		if r.IntN(3) == 0 {
			v.Policy = &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ANY, Rules: []*authv1.AccessRule{{
				ChainId: 1337, ContractAddress: "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
			}}}
			v.Gated = true
		}
		out[i] = v
	}
	return out
}

// Load generates n videos and inserts them with insert, 10,000 per
// transaction, reporting how long it took.
func Load(b *testing.B, insert func(ctx context.Context, vs []*store.Video) error, n int) []*store.Video {
	b.Helper()
	vs := Generate(n)
	start := time.Now()
	for i := 0; i < len(vs); i += 10_000 {
		if err := insert(context.Background(), vs[i:min(i+10_000, len(vs))]); err != nil {
			b.Fatalf("insert: %v", err)
		}
	}
	b.Logf("inserted %d videos in %s", n, time.Since(start).Round(time.Millisecond))
	return vs
}

// Bench measures ListVideos and SearchVideos on a loaded store, reporting
// the median and 95th percentile latency of each scenario as p50-µs and
// p95-µs (plus Go's mean ns/op).
func Bench(b *testing.B, s metadata.Store, vs []*store.Video) {
	ready := []store.Status{store.StatusReady}
	yes := true
	// Cursors deep into the READY list, and values that exist.
	sorted := slices.Clone(vs)
	slices.SortFunc(sorted, func(a, b *store.Video) int {
		if c := b.CreateTime.Compare(a.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	r := rand.New(rand.NewPCG(3, 4))
	cursors := make([]*store.Cursor, 64)
	for i := range cursors {
		v := sorted[r.IntN(len(sorted))]
		cursors[i] = &store.Cursor{CreateTime: v.CreateTime, ID: v.ID}
	}
	pickTag := func(i int) string { t := vs[(i*7919)%len(vs)].Tags; return t[0] }
	pickCreator := func(i int) string { return vs[(i*104729)%len(vs)].Creator }
	// Search terms by document frequency: a word in about 90% of the
	// videos (a stop word, since the 'simple' configurations keep them),
	// about 10%, 1% and 0.1%.
	df := map[string]int{}
	for _, v := range vs {
		seen := map[string]bool{}
		for _, w := range strings.Fields(v.Title + " " + v.Description) {
			if !seen[w] {
				seen[w] = true
				df[w]++
			}
		}
	}
	near := func(frac float64) []string {
		target := frac * float64(len(vs))
		type wd struct {
			w string
			d float64
		}
		var all []wd
		for w, n := range df {
			all = append(all, wd{w, abs(float64(n) - target)})
		}
		slices.SortFunc(all, func(a, b wd) int {
			if a.d != b.d {
				if a.d < b.d {
					return -1
				}
				return 1
			}
			return strings.Compare(a.w, b.w)
		})
		out := make([]string, 0, 8)
		for _, x := range all[:min(8, len(all))] {
			out = append(out, x.w)
		}
		b.Logf("words in ~%.1f%% of videos: %v (df %d..%d)", frac*100, out, df[out[0]], df[out[len(out)-1]])
		return out
	}
	w90, w10, w1, w01 := near(0.9), near(0.1), near(0.01), near(0.001)

	list := func(q func(i int) store.ListQuery) func(i int) error {
		return func(i int) error { _, err := s.ListVideos(context.Background(), q(i)); return err }
	}
	search := func(words func(i int) []string) func(i int) error {
		return func(i int) error {
			_, err := s.SearchVideos(context.Background(), store.SearchQuery{Words: words(i), Limit: 21})
			return err
		}
	}
	scenarios := []struct {
		name string
		op   func(i int) error
	}{
		{"List/ready/first-page", list(func(int) store.ListQuery { return store.ListQuery{Statuses: ready, Limit: 21} })},
		{"List/ready/deep-cursor", list(func(i int) store.ListQuery {
			return store.ListQuery{Statuses: ready, After: cursors[i%len(cursors)], Limit: 21}
		})},
		{"List/creator/own-states", list(func(i int) store.ListQuery {
			return store.ListQuery{Creator: pickCreator(i), Statuses: []store.Status{1, 2, 3, 4}, Limit: 21}
		})},
		{"List/tag/ready", list(func(i int) store.ListQuery { return store.ListQuery{Tag: pickTag(i), Statuses: ready, Limit: 21} })},
		{"List/gated/ready", list(func(int) store.ListQuery { return store.ListQuery{Gated: &yes, Statuses: ready, Limit: 21} })},
		{"Search/word-in-90%", search(func(i int) []string { return []string{w90[i%len(w90)]} })},
		{"Search/word-in-10%", search(func(i int) []string { return []string{w10[i%len(w10)]} })},
		{"Search/word-in-1%", search(func(i int) []string { return []string{w1[i%len(w1)]} })},
		{"Search/word-in-0.1%", search(func(i int) []string { return []string{w01[i%len(w01)]} })},
		{"Search/two-words-10%-and-1%", search(func(i int) []string { return []string{w10[i%len(w10)], w1[(i+3)%len(w1)]} })},
		{"Search/prefix-3-letters-of-1%-word", search(func(i int) []string { return []string{w1[i%len(w1)][:3]} })},
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, 1024)
			i := 0
			for b.Loop() {
				t0 := time.Now()
				if err := sc.op(i); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				i++
			}
			slices.Sort(lat)
			p := func(q float64) float64 {
				return float64(lat[min(int(q*float64(len(lat))), len(lat)-1)].Nanoseconds()) / 1e3
			}
			b.ReportMetric(p(0.50), "p50-µs")
			b.ReportMetric(p(0.95), "p95-µs")
		})
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
