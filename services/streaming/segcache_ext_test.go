package streaming_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/services/streaming"
)

// countingStore wraps a store, counts the reads of each key and can make
// them fail or wait.
type countingStore struct {
	blob.Store

	mu     sync.Mutex
	stats  map[string]int
	gets   map[string]int // Get and GetRange
	statFn func(key string) error
	getFn  func(key string) error // called before Get and GetRange
}

func newCountingStore(s blob.Store) *countingStore {
	return &countingStore{Store: s, stats: map[string]int{}, gets: map[string]int{}}
}

func (c *countingStore) Stat(ctx context.Context, key string) (blob.Info, error) {
	c.mu.Lock()
	c.stats[key]++
	fn := c.statFn
	c.mu.Unlock()
	if fn != nil {
		if err := fn(key); err != nil {
			return blob.Info{}, err
		}
	}
	return c.Store.Stat(ctx, key)
}

func (c *countingStore) read(key string) error {
	c.mu.Lock()
	c.gets[key]++
	fn := c.getFn
	c.mu.Unlock()
	if fn != nil {
		return fn(key)
	}
	return nil
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := c.read(key); err != nil {
		return nil, err
	}
	return c.Store.Get(ctx, key)
}

func (c *countingStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := c.read(key); err != nil {
		return nil, err
	}
	return c.Store.GetRange(ctx, key, off, n)
}

// counts returns the Stat and read counts of key.
func (c *countingStore) counts(key string) (stats, gets int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats[key], c.gets[key]
}

func (c *countingStore) totalReads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.stats {
		n += v
	}
	for _, v := range c.gets {
		n += v
	}
	return n
}

// cachedFiles returns the total bytes and count of the files in dir.
func cachedFiles(t *testing.T, dir string) (int64, int) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "tmp-") {
			t.Errorf("temporary file %s left in the cache", de.Name())
		}
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	return total, len(des)
}

const segKey = "videos/vid_1/180p/seg-00002.m4s"

// TestSegmentCache runs the cache against a real S3 server, through the
// /play/ handler.
func TestSegmentCache(t *testing.T) {
	s3store := onS3(t, encoded(t))
	setup := func(t *testing.T, adjust func(*streaming.Config)) (*env, *countingStore, string, string) {
		cs := newCountingStore(s3store)
		dir := t.TempDir()
		e := newEnvWith(t, func(c *streaming.Config) {
			c.SegmentCacheDir = dir
			if adjust != nil {
				adjust(c)
			}
		}, cs, nil, readyVideo("vid_1", false))
		return e, cs, dir, e.srv.URL + "/play/vid_1/"
	}

	t.Run("second GET reads nothing from the store", func(t *testing.T) {
		_, cs, dir, base := setup(t, nil)
		want := readBlob(t, s3store, segKey)
		for i := range 3 {
			res, b := get(t, base+"180p/seg-00002.m4s")
			if res.StatusCode != 200 || !bytes.Equal(b, want) {
				t.Fatalf("GET %d: %d, %d bytes, want 200, %d", i, res.StatusCode, len(b), len(want))
			}
		}
		res, b := get(t, base+"180p/seg-00002.m4s", "Range", "bytes=5-14")
		if res.StatusCode != 206 || !bytes.Equal(b, want[5:15]) {
			t.Errorf("range on a hit: %d %q", res.StatusCode, b)
		}
		if stats, gets := cs.counts(segKey); stats != 1 || gets != 1 {
			t.Errorf("store reads for 4 GETs: %d Stat, %d Get; want 1 and 1", stats, gets)
		}
		if n, files := cachedFiles(t, dir); files != 1 || n != int64(len(want)) {
			t.Errorf("cache holds %d files, %d bytes; want 1, %d", files, n, len(want))
		}
	})

	t.Run("concurrent first GETs make one store read", func(t *testing.T) {
		const viewers = 12
		cs := newCountingStore(s3store)
		dir := t.TempDir()
		e := newEnvWith(t, func(c *streaming.Config) { c.SegmentCacheDir = dir }, cs, nil, readyVideo("vid_1", false))
		// The first Get waits until every viewer's request is in the
		// handler, so they all arrive while the segment is being fetched.
		var inHandler atomic.Int32
		arrived := make(chan struct{})
		cs.getFn = func(string) error {
			select {
			case <-arrived:
			case <-time.After(waitTimeout):
				return errors.New("viewers did not arrive")
			}
			return nil
		}
		play := e.svc.HTTPHandlers()["/play/"]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if inHandler.Add(1) == viewers {
				close(arrived)
			}
			play.ServeHTTP(w, r)
		}))
		defer srv.Close()
		want := readBlob(t, s3store, "videos/vid_1/144p/seg-00001.m4s")
		var wg sync.WaitGroup
		codes := make([]int, viewers)
		bodies := make([][]byte, viewers)
		for i := range viewers {
			wg.Go(func() {
				res, err := http.Get(srv.URL + "/play/vid_1/144p/seg-00001.m4s")
				if err != nil {
					t.Error(err)
					return
				}
				defer res.Body.Close()
				codes[i] = res.StatusCode
				bodies[i], _ = io.ReadAll(res.Body)
			})
		}
		wg.Wait()
		for i := range viewers {
			if codes[i] != 200 || !bytes.Equal(bodies[i], want) {
				t.Errorf("viewer %d: %d, %d bytes", i, codes[i], len(bodies[i]))
			}
		}
		if _, gets := cs.counts("videos/vid_1/144p/seg-00001.m4s"); gets != 1 {
			t.Errorf("%d store reads for %d concurrent first GETs, want 1", gets, viewers)
		}
	})

	t.Run("eviction keeps the byte bound", func(t *testing.T) {
		list, err := s3store.List(t.Context(), "videos/vid_1/180p/seg-")
		if err != nil || len(list) < 4 {
			t.Fatalf("list: %v, %d segments", err, len(list))
		}
		var largest int64
		for _, o := range list {
			largest = max(largest, o.Size)
		}
		limit := 2*largest + largest/2 // room for two segments, not three
		_, cs, dir, base := setup(t, func(c *streaming.Config) { c.SegmentCacheMaxBytes = limit })
		for _, o := range list {
			rel := strings.TrimPrefix(o.Key, "videos/vid_1/")
			if res, b := get(t, base+rel); res.StatusCode != 200 || int64(len(b)) != o.Size {
				t.Fatalf("%s: %d, %d bytes", rel, res.StatusCode, len(b))
			}
			if n, _ := cachedFiles(t, dir); n > limit {
				t.Fatalf("after %s the cache holds %d bytes, bound %d", rel, n, limit)
			}
		}
		if _, files := cachedFiles(t, dir); files >= len(list) {
			t.Errorf("cache holds %d files of %d fetched: nothing evicted", files, len(list))
		}
		// The most recent is a hit, the first was evicted and is read again.
		last, first := list[len(list)-1], list[0]
		get(t, base+strings.TrimPrefix(last.Key, "videos/vid_1/"))
		get(t, base+strings.TrimPrefix(first.Key, "videos/vid_1/"))
		if _, gets := cs.counts(last.Key); gets != 1 {
			t.Errorf("%s read %d times, want 1 (a hit)", last.Key, gets)
		}
		if _, gets := cs.counts(first.Key); gets != 2 {
			t.Errorf("%s read %d times, want 2 (evicted, then read again)", first.Key, gets)
		}
	})

	t.Run("manifests are never cached", func(t *testing.T) {
		_, cs, dir, base := setup(t, nil)
		const plKey = "videos/vid_1/144p/playlist.m3u8"
		orig := readBlob(t, s3store, plKey)
		t.Cleanup(func() {
			if _, err := s3store.Put(context.Background(), plKey, bytes.NewReader(orig)); err != nil {
				t.Error(err)
			}
		})
		res, b := get(t, base+"144p/playlist.m3u8")
		if res.StatusCode != 200 || !strings.Contains(string(b), "seg-00001.m4s") {
			t.Fatalf("playlist: %d %q", res.StatusCode, b)
		}
		// The transcoder rewrites the playlist while encoding.
		rewritten := strings.Replace(string(orig), "#EXTM3U", "#EXTM3U\n#EXT-X-DISCONTINUITY-SEQUENCE:7", 1)
		if _, err := s3store.Put(t.Context(), plKey, strings.NewReader(rewritten)); err != nil {
			t.Fatal(err)
		}
		res, b = get(t, base+"144p/playlist.m3u8")
		if res.StatusCode != 200 || !strings.Contains(string(b), "DISCONTINUITY-SEQUENCE:7") {
			t.Errorf("rewritten playlist not served fresh: %d %q", res.StatusCode, b)
		}
		for _, rel := range []string{"master.m3u8", "manifest.mpd", "storyboard.vtt", "poster.jpg"} {
			if res, _ := get(t, base+rel); res.StatusCode != 200 {
				t.Errorf("%s: %d", rel, res.StatusCode)
			}
		}
		if _, files := cachedFiles(t, dir); files != 0 {
			t.Errorf("%d files cached after manifests and a poster, want 0", files)
		}
		if stats, _ := cs.counts(plKey); stats != 2 {
			t.Errorf("playlist Stat %d times for 2 GETs", stats)
		}
	})

	t.Run("a failed store read caches nothing", func(t *testing.T) {
		_, cs, dir, base := setup(t, nil)
		unavailable := errors.New("connection reset by peer")
		cs.getFn = func(string) error { return unavailable }
		res, _ := get(t, base+"180p/seg-00002.m4s")
		if res.StatusCode != 503 || res.Header.Get("Retry-After") != "1" {
			t.Errorf("failed Get: %d, Retry-After %q; want 503, 1", res.StatusCode, res.Header.Get("Retry-After"))
		}
		cs.getFn = nil
		cs.statFn = func(string) error { return unavailable }
		// Without the cache a failed Stat is a 503 too.
		plain := newEnv(t, cs, nil, readyVideo("vid_1", false))
		for _, u := range []string{base, plain.srv.URL + "/play/vid_1/"} {
			if res, _ := get(t, u+"180p/seg-00002.m4s"); res.StatusCode != 503 {
				t.Errorf("failed Stat via %s: %d, want 503", u, res.StatusCode)
			}
		}
		cs.statFn = nil
		for _, u := range []string{base, plain.srv.URL + "/play/vid_1/"} {
			if res, _ := get(t, u+"180p/seg-00099.m4s"); res.StatusCode != 404 {
				t.Errorf("missing segment via %s: %d, want 404", u, res.StatusCode)
			}
		}
		if _, files := cachedFiles(t, dir); files != 0 {
			t.Fatalf("%d files cached after failed reads", files)
		}
		_, before := cs.counts(segKey)
		if res, b := get(t, base+"180p/seg-00002.m4s"); res.StatusCode != 200 || len(b) == 0 {
			t.Errorf("after recovery: %d, %d bytes", res.StatusCode, len(b))
		}
		if _, after := cs.counts(segKey); after != before+1 {
			t.Errorf("recovery read the store %d times, want 1", after-before)
		}
	})

	t.Run("objects over the size limit bypass the cache", func(t *testing.T) {
		_, cs, dir, base := setup(t, func(c *streaming.Config) { c.SegmentCacheMaxObjectBytes = 100 })
		want := readBlob(t, s3store, segKey)
		for range 2 {
			if res, b := get(t, base+"180p/seg-00002.m4s"); res.StatusCode != 200 || !bytes.Equal(b, want) {
				t.Fatalf("large segment: %d, %d bytes", res.StatusCode, len(b))
			}
		}
		if _, files := cachedFiles(t, dir); files != 0 {
			t.Errorf("%d files cached", files)
		}
		if _, gets := cs.counts(segKey); gets != 2 {
			t.Errorf("%d ranged reads for 2 GETs, want 2", gets)
		}
	})

	t.Run("revalidation bounds staleness", func(t *testing.T) {
		const key = "videos/vid_1/144p/seg-00003.m4s"
		orig := readBlob(t, s3store, key)
		t.Cleanup(func() {
			if _, err := s3store.Put(context.Background(), key, bytes.NewReader(orig)); err != nil {
				t.Error(err)
			}
		})
		e, cs, _, base := setup(t, func(c *streaming.Config) { c.SegmentCacheRevalidate = time.Minute })
		u := base + "144p/seg-00003.m4s"
		get(t, u)
		e.clock.Add(2 * time.Minute)
		if res, b := get(t, u); res.StatusCode != 200 || !bytes.Equal(b, orig) {
			t.Fatalf("revalidated: %d", res.StatusCode)
		}
		if stats, gets := cs.counts(key); stats != 2 || gets != 1 {
			t.Errorf("after revalidation of an unchanged object: %d Stat, %d Get; want 2, 1", stats, gets)
		}
		// Replaced in the store: served from the cache until the next
		// revalidation, then fetched again.
		repl := bytes.Repeat([]byte("x"), 4000)
		if _, err := s3store.Put(t.Context(), key, bytes.NewReader(repl)); err != nil {
			t.Fatal(err)
		}
		if _, b := get(t, u); !bytes.Equal(b, orig) {
			t.Error("replaced object served before the revalidation interval")
		}
		e.clock.Add(2 * time.Minute)
		if res, b := get(t, u); res.StatusCode != 200 || !bytes.Equal(b, repl) {
			t.Errorf("after revalidation: %d, %d bytes; want the replacement", res.StatusCode, len(b))
		}
	})

	t.Run("a deleted video is refused before the cache", func(t *testing.T) {
		e, cs, _, base := setup(t, nil)
		if res, _ := get(t, base+"180p/seg-00002.m4s"); res.StatusCode != 200 {
			t.Fatalf("first GET: %d", res.StatusCode)
		}
		v := readyVideo("vid_1", false)
		v.Status = metadatav1.VideoStatus_VIDEO_STATUS_DELETED
		e.videos.set(v)
		e.clock.Add(6 * time.Second) // past VideoCacheTTL
		before := cs.totalReads()
		if res, _ := get(t, base+"180p/seg-00002.m4s"); res.StatusCode != 404 {
			t.Errorf("deleted video's cached segment: %d, want 404", res.StatusCode)
		}
		if cs.totalReads() != before {
			t.Error("the store was read for a deleted video")
		}
	})
}

// TestSegmentCacheAnswersLikeRangedGets: the same requests through the
// cache and through ranged gets on the same S3 store get the same status,
// body and headers; through blob.Local the same status, body and range
// headers (its ETag and Last-Modified come from the file's own mtime).
func TestSegmentCacheAnswersLikeRangedGets(t *testing.T) {
	local := encoded(t)
	s3store := onS3(t, local)
	dir := t.TempDir()
	cached := newEnvWith(t, func(c *streaming.Config) { c.SegmentCacheDir = dir }, s3store, nil, readyVideo("vid_1", false))
	ranged := newEnv(t, s3store, nil, readyVideo("vid_1", false))
	onDisk := newEnv(t, local, nil, readyVideo("vid_1", false))
	const rel = "/play/vid_1/180p/seg-00002.m4s"
	res, _ := get(t, ranged.srv.URL+rel)
	etag, lastMod := res.Header.Get("ETag"), res.Header.Get("Last-Modified")
	resL, _ := get(t, onDisk.srv.URL+rel)
	etagL, lastModL := resL.Header.Get("ETag"), resL.Header.Get("Last-Modified")

	cases := []struct {
		name   string
		method string
		hdr    []string
		hdrL   []string // for the Local store, when validators differ
	}{
		{"plain", "GET", nil, nil},
		{"head", "HEAD", nil, nil},
		{"range", "GET", []string{"Range", "bytes=10-109"}, nil},
		{"suffix", "GET", []string{"Range", "bytes=-50"}, nil},
		{"open-ended", "GET", []string{"Range", "bytes=100-"}, nil},
		{"unsatisfiable", "GET", []string{"Range", "bytes=99999999-"}, nil},
		{"if-none-match", "GET", []string{"If-None-Match", etag}, []string{"If-None-Match", etagL}},
		{"if-none-match-other", "GET", []string{"If-None-Match", `"other"`}, nil},
		{"if-modified-since", "GET", []string{"If-Modified-Since", lastMod}, []string{"If-Modified-Since", lastModL}},
		{"if-range-match", "GET", []string{"Range", "bytes=0-9", "If-Range", etag}, []string{"Range", "bytes=0-9", "If-Range", etagL}},
		{"if-range-stale", "GET", []string{"Range", "bytes=0-9", "If-Range", `"old"`}, nil},
	}
	compared := []string{"Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "Cache-Control", "ETag", "Last-Modified", "Access-Control-Allow-Origin", "X-Content-Type-Options"}
	do := func(base, method string, hdr []string) (*http.Response, []byte) {
		req, err := http.NewRequestWithContext(t.Context(), method, base+rel, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	for _, pass := range []string{"miss", "hit"} {
		for _, c := range cases {
			if pass == "miss" && c.name != "plain" {
				continue // the first request of the cached env is the miss
			}
			want, wantBody := do(ranged.srv.URL, c.method, c.hdr)
			got, gotBody := do(cached.srv.URL, c.method, c.hdr)
			hdrL := c.hdr
			if c.hdrL != nil {
				hdrL = c.hdrL
			}
			gotL, gotBodyL := do(onDisk.srv.URL, c.method, hdrL)
			if got.StatusCode != want.StatusCode || !bytes.Equal(gotBody, wantBody) {
				t.Errorf("%s/%s: cached %d, %d bytes; ranged gets %d, %d bytes", pass, c.name, got.StatusCode, len(gotBody), want.StatusCode, len(wantBody))
			}
			if gotL.StatusCode != want.StatusCode || !bytes.Equal(gotBodyL, wantBody) {
				t.Errorf("%s/%s: local %d, %d bytes; ranged gets %d, %d bytes", pass, c.name, gotL.StatusCode, len(gotBodyL), want.StatusCode, len(wantBody))
			}
			for _, h := range compared {
				if g, w := got.Header.Get(h), want.Header.Get(h); g != w {
					t.Errorf("%s/%s: cached %s %q, ranged gets %q", pass, c.name, h, g, w)
				}
				if h == "ETag" || h == "Last-Modified" {
					continue
				}
				if g, w := gotL.Header.Get(h), want.Header.Get(h); g != w {
					t.Errorf("%s/%s: local %s %q, ranged gets %q", pass, c.name, h, g, w)
				}
			}
		}
	}
}
