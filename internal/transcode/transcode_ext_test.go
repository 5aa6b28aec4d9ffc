package transcode_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/testing/s3test"
	"github.com/streamgate/streamgate/internal/transcode"
	"github.com/streamgate/streamgate/internal/video"
)

func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: install it with scripts/install-deps.sh", bin)
		}
	}
}

// clip generates a short test clip with ffmpeg. kind is "av", "audio" or
// "video".
func clip(t *testing.T, kind string, seconds int, size string) []byte {
	t.Helper()
	needFFmpeg(t)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	args := []string{"-v", "error", "-nostdin"}
	if kind != "audio" {
		args = append(args, "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30")
	}
	if kind != "video" {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000")
	}
	args = append(args, "-t", fmt.Sprint(seconds))
	if kind != "audio" {
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	}
	if kind != "video" {
		args = append(args, "-c:a", "aac")
	}
	args = append(args, out)
	if b, err := exec.CommandContext(t.Context(), "ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkingStore records, each time a media playlist is published while it
// is still an EVENT playlist, whether every segment it lists is already in
// the store.
type checkingStore struct {
	blob.Store
	mu         sync.Mutex
	events     int
	violations []string
}

func (s *checkingStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	n, err := s.Store.Put(ctx, key, bytes.NewReader(b))
	if err != nil || !strings.HasSuffix(key, "/playlist.m3u8") {
		return n, err
	}
	text := string(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !strings.Contains(text, "#EXT-X-PLAYLIST-TYPE:EVENT") {
		if !strings.Contains(text, "#EXT-X-PLAYLIST-TYPE:VOD") || !strings.HasSuffix(text, "#EXT-X-ENDLIST\n") {
			s.violations = append(s.violations, key+": neither EVENT nor a VOD with ENDLIST:\n"+text)
		}
		return n, nil
	}
	s.events++
	if strings.Contains(text, "#EXT-X-ENDLIST") {
		s.violations = append(s.violations, key+": EVENT playlist with ENDLIST")
	}
	dir := key[:strings.LastIndex(key, "/")+1]
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		uri := line
		if strings.HasPrefix(line, "#EXT-X-MAP:URI=") {
			uri = strings.Trim(strings.TrimPrefix(line, "#EXT-X-MAP:URI="), `"`)
		} else if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, err := s.Store.Stat(ctx, dir+uri); err != nil {
			s.violations = append(s.violations, fmt.Sprintf("%s lists %s before it is stored: %v", key, uri, err))
		}
	}
	return n, nil
}

type fixture struct {
	store *checkingStore
	tc    *transcode.Transcoder
	work  string
	// copied holds the published files of a store without local files,
	// fetched by the first path call.
	copied string
}

// newFixture runs the transcoder on a Local store.
func newFixture(t *testing.T, ladder []transcode.Rung) *fixture {
	t.Helper()
	local, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.Close() })
	return newFixtureOn(t, ladder, local)
}

// newS3Fixture runs the transcoder on an S3 store on a real server: it
// reads the source and publishes every segment and playlist through S3
// only, no disk shared with readers.
func newS3Fixture(t *testing.T, ladder []transcode.Rung) *fixture {
	t.Helper()
	srv := s3test.Start(t)
	srv.SetEnv(t)
	store, err := blob.Open(t.Context(), srv.URL("media"))
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, ladder, store)
}

func newFixtureOn(t *testing.T, ladder []transcode.Rung, blobs blob.Store) *fixture {
	t.Helper()
	needFFmpeg(t)
	work := t.TempDir()
	store := &checkingStore{Store: blobs}
	tc, err := transcode.New(transcode.Config{
		WorkDir: work, Ladder: ladder, Preset: "ultrafast", PollInterval: 50 * time.Millisecond,
	}, store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: store, tc: tc, work: work}
}

func (f *fixture) putSource(t *testing.T, b []byte) string {
	t.Helper()
	if _, err := f.store.Store.Put(t.Context(), "uploads/upl_1/source", bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return "uploads/upl_1/source"
}

// path names a published file of vid_1 on disk, for ffprobe: the store's
// own file when it has files, else a copy of everything published.
func (f *fixture) path(t *testing.T, rel string) string {
	t.Helper()
	if local, ok := f.store.Store.(*blob.Local); ok {
		p, err := local.Path(t.Context(), "videos/vid_1/"+rel)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if f.copied == "" {
		f.copied = t.TempDir()
		ctx := t.Context()
		list, err := f.store.List(ctx, "videos/vid_1/")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list {
			r, err := f.store.Get(ctx, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(f.copied, filepath.FromSlash(strings.TrimPrefix(o.Key, "videos/vid_1/")))
			if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := filepath.Join(f.copied, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s was not published: %v", rel, err)
	}
	return p
}

func ffprobe(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "ffprobe", append([]string{"-v", "error"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %v: %v: %s", args, err, out)
	}
	return string(out)
}

var testLadder = []transcode.Rung{
	{Name: "360p", Height: 360, VideoBitrate: 600_000},
	{Name: "240p", Height: 240, VideoBitrate: 300_000},
	{Name: "144p", Height: 144, VideoBitrate: 150_000, AudioBitrate: 96_000},
	{Name: "1080p", Height: 1080, VideoBitrate: 5_000_000},
}

type recorder struct {
	mu       sync.Mutex
	segs     []transcode.Segment
	progress []transcode.Progress
	plan     []transcode.PlannedRendition
}

func (r *recorder) job(id, src string) transcode.Job {
	return transcode.Job{
		ID: id, VideoID: "vid_1", SourceKey: src,
		OnPlan: func(_ *transcode.Source, p []transcode.PlannedRendition) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.plan = p
		},
		OnSegment: func(s transcode.Segment) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.segs = append(r.segs, s)
		},
		OnProgress: func(p transcode.Progress) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.progress = append(r.progress, p)
		},
	}
}

func TestRunLadder(t *testing.T) { testRunLadder(t, newFixture(t, testLadder)) }

// TestRunLadderOnS3: the same job, reading its source from and publishing
// to S3; the playlists published mid-job list only segments already there.
func TestRunLadderOnS3(t *testing.T) { testRunLadder(t, newS3Fixture(t, testLadder)) }

func testRunLadder(t *testing.T, f *fixture) {
	src := f.putSource(t, clip(t, "av", 9, "640x360"))
	var rec recorder
	res, err := f.tc.Run(t.Context(), rec.job("job_1", src))
	if err != nil {
		t.Fatal(err)
	}

	names := func() []string {
		var n []string
		for _, r := range res.Renditions {
			n = append(n, r.Name)
		}
		return n
	}()
	// 1080p is dropped (never upscale); 144p's 96k audio is a second
	// audio rendition.
	if want := []string{"360p", "240p", "144p", "audio-128k", "audio-96k"}; !slices.Equal(names, want) {
		t.Fatalf("renditions %v, want %v", names, want)
	}
	if len(rec.plan) != 5 || rec.plan[0].SegmentsTotal != 3 {
		t.Errorf("plan: %+v", rec.plan)
	}
	for _, r := range res.Renditions {
		if r.SegmentCount != 3 || r.SizeBytes == 0 || r.Bandwidth == 0 || r.AverageBandwidth == 0 || r.Bandwidth < r.AverageBandwidth {
			t.Errorf("%s: %+v", r.Name, r)
		}
		if r.Audio {
			if !slices.Equal(r.Codecs, []string{"mp4a.40.2"}) || r.Width != 0 {
				t.Errorf("audio: %+v", r)
			}
			continue
		}
		if len(r.Codecs) != 2 || !strings.HasPrefix(r.Codecs[0], "avc1.") || r.Codecs[1] != "mp4a.40.2" || r.FrameRate != 30 {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
	if r := res.Renditions[1]; r.Width != 426 || r.Height != 240 {
		t.Errorf("240p is %dx%d, want 426x240", r.Width, r.Height)
	}
	if res.Duration < 8900*time.Millisecond || res.PosterPath != "poster.jpg" || res.StoryboardPath != "storyboard.vtt" {
		t.Errorf("result: %+v", res)
	}

	// Segment callbacks: per rendition, init first, then 1, 2, 3.
	byRend := map[string][]transcode.Segment{}
	for _, s := range rec.segs {
		byRend[s.Rendition] = append(byRend[s.Rendition], s)
	}
	for _, name := range names {
		segs := byRend[name]
		if len(segs) != 4 || segs[0].Kind != transcode.SegmentInit || segs[0].Path != name+"/init.m4s" {
			t.Fatalf("%s segments: %+v", name, segs)
		}
		for i, s := range segs[1:] {
			if s.Kind != transcode.SegmentMedia || s.Sequence != i+1 || s.Size == 0 || s.Duration <= 0 ||
				s.Path != fmt.Sprintf("%s/seg-%05d.m4s", name, i+1) {
				t.Errorf("%s segment %d: %+v", name, i+1, s)
			}
		}
	}

	// Progress reaches 100.
	if n := len(rec.progress); n == 0 || rec.progress[n-1].Percent != 100 {
		t.Errorf("progress: %+v", rec.progress)
	}

	// The published playlists were valid EVENT playlists mid-job, listing
	// only stored segments, and are VOD at the end.
	f.store.mu.Lock()
	if len(f.store.violations) > 0 {
		t.Errorf("playlist violations:\n%s", strings.Join(f.store.violations, "\n"))
	}
	if f.store.events == 0 {
		t.Error("no EVENT playlist was published while encoding")
	}
	f.store.mu.Unlock()
	final, err := os.ReadFile(f.path(t, "240p/playlist.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(final); !strings.Contains(s, "#EXT-X-PLAYLIST-TYPE:VOD") || !strings.HasSuffix(s, "#EXT-X-ENDLIST\n") || strings.Count(s, "#EXTINF") != 3 {
		t.Errorf("final playlist:\n%s", s)
	}

	// Keyframes are aligned across rungs.
	var keys []string
	for _, name := range names[:3] {
		k := ffprobe(t, "-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries", "frame=pts_time", "-of", "csv=p=0", f.path(t, name+"/playlist.m3u8"))
		keys = append(keys, strings.Join(strings.Fields(k), " "))
	}
	if keys[0] != keys[1] || keys[0] != keys[2] || strings.Count(keys[0], " ") != 2 {
		t.Errorf("key frame times differ or are not every 4 s: %q", keys)
	}

	// The HLS master and the DASH MPD read back with ffprobe.
	master := ffprobe(t, "-show_entries", "stream=codec_type,width,height", "-of", "csv=p=0", f.path(t, "master.m3u8"))
	for _, want := range []string{"video,640,360", "video,426,240", "video,256,144", "audio"} {
		if !strings.Contains(master, want) {
			t.Errorf("master playlist streams %q lack %q", master, want)
		}
	}
	mpd := ffprobe(t, "-show_entries", "stream=codec_type,width,height", "-of", "csv=p=0", f.path(t, "manifest.mpd"))
	for _, want := range []string{"video,640,360", "video,426,240", "video,256,144", "audio"} {
		if !strings.Contains(mpd, want) {
			t.Errorf("MPD streams %q lack %q", mpd, want)
		}
	}
	mpdText, _ := os.ReadFile(f.path(t, "manifest.mpd"))
	if !strings.Contains(string(mpdText), `type="static"`) || !strings.Contains(string(mpdText), `initialization="240p/init.m4s"`) {
		t.Errorf("MPD:\n%s", mpdText)
	}

	// Poster and storyboard.
	poster := ffprobe(t, "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", f.path(t, "poster.jpg"))
	if strings.TrimSpace(poster) != "mjpeg,640,360" {
		t.Errorf("poster: %q", poster)
	}
	vtt, err := os.ReadFile(f.path(t, "storyboard.vtt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(vtt), "WEBVTT\n") || !strings.Contains(string(vtt), "storyboard.jpg#xywh=320,0,160,90") {
		t.Errorf("storyboard.vtt:\n%s", vtt)
	}
	sprite := ffprobe(t, "-show_entries", "stream=width,height", "-of", "csv=p=0", f.path(t, "storyboard.jpg"))
	masterText, _ := os.ReadFile(f.path(t, "master.m3u8"))
	for _, want := range []string{`GROUP-ID="audio-96k"`, `AUDIO="audio-96k"` + "\n144p/playlist.m3u8", `AUDIO="audio-128k"` + "\n360p/playlist.m3u8"} {
		if !strings.Contains(string(masterText), want) {
			t.Errorf("master playlist lacks %q:\n%s", want, masterText)
		}
	}
	if strings.TrimSpace(sprite) != "800,90" {
		t.Errorf("sprite size %q, want 800,90 (5 tiles of 160x90)", sprite)
	}

	// The work dir is gone.
	if entries, _ := os.ReadDir(f.work); len(entries) != 0 {
		t.Errorf("work dir not cleaned: %v", entries)
	}
}

func TestRunAudioOnlyAndVideoOnly(t *testing.T) {
	tests := []struct {
		kind      string
		want      []string
		thumbnail bool
	}{
		{"audio", []string{"audio-128k", "audio-96k"}, false},
		{"video", []string{"360p", "240p", "144p"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			f := newFixture(t, testLadder)
			src := f.putSource(t, clip(t, tt.kind, 5, "640x360"))
			res, err := f.tc.Run(t.Context(), transcode.Job{ID: "job_1", VideoID: "vid_1", SourceKey: src})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range res.Renditions {
				names = append(names, r.Name)
				if r.SegmentCount != 2 {
					t.Errorf("%s: %d segments, want 2", r.Name, r.SegmentCount)
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("renditions %v, want %v", names, tt.want)
			}
			if (res.PosterPath != "") != tt.thumbnail || (res.StoryboardPath != "") != tt.thumbnail {
				t.Errorf("poster %q storyboard %q", res.PosterPath, res.StoryboardPath)
			}
			streams := ffprobe(t, "-show_entries", "stream=codec_type", "-of", "csv=p=0", f.path(t, "master.m3u8"))
			if strings.Contains(streams, "audio") != (tt.kind == "audio") || strings.Contains(streams, "video") != (tt.kind == "video") {
				t.Errorf("master streams: %q", streams)
			}
			ffprobe(t, "-show_entries", "stream=codec_type", f.path(t, "manifest.mpd"))
		})
	}
}

func TestRunBadSource(t *testing.T) {
	good := clip(t, "av", 5, "320x180")
	junk := make([]byte, 64<<10)
	_, _ = rand.Read(junk)
	tests := []struct {
		name string
		src  []byte
		want string
	}{
		{"random bytes", junk, "not a media file"},
		{"truncated mp4", good[:len(good)/3], "not a media file"},
		{"empty file", nil, "not a media file"},
		// Attack cases: formats that make FFmpeg open other files or URLs
		// are not accepted.
		{"HLS playlist pointing elsewhere", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhttp://127.0.0.1:1/x.ts\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"), "not a media file"},
		{"concat script", []byte("ffconcat version 1.0\nfile '/etc/passwd'\n"), "not a media file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testLadder)
			src := f.putSource(t, tt.src)
			_, err := f.tc.Run(t.Context(), transcode.Job{ID: "job_1", VideoID: "vid_1", SourceKey: src})
			var fe *transcode.FailedError
			if !errors.As(err, &fe) || !strings.Contains(fe.Reason, tt.want) {
				t.Fatalf("got %v, want a FailedError containing %q", err, tt.want)
			}
			t.Logf("reason: %s", fe.Reason)
			if infos, _ := f.store.List(t.Context(), "videos/"); len(infos) != 0 {
				t.Errorf("published output left behind: %v", infos)
			}
		})
	}
	t.Run("bad ids and keys", func(t *testing.T) {
		f := newFixture(t, testLadder)
		for _, job := range []transcode.Job{
			{ID: "../x", VideoID: "vid_1", SourceKey: "uploads/a"},
			{ID: "job_1", VideoID: "vid/../../x", SourceKey: "uploads/a"},
			{ID: "job_1", VideoID: "vid_1", SourceKey: "../../etc/passwd"},
			{ID: "job_1", VideoID: "vid_1", SourceKey: "/etc/passwd"},
		} {
			if _, err := f.tc.Run(t.Context(), job); err == nil {
				t.Errorf("Run(%+v): no error", job)
			}
		}
		for _, id := range []string{"", "v1", "vid_../x", "vid_a/b", "vid_a\x00", "VID_x"} {
			if _, err := f.tc.Run(t.Context(), transcode.Job{ID: "job_1", VideoID: id, SourceKey: "uploads/a"}); !errors.Is(err, video.ErrInvalidID) {
				t.Errorf("Run(video id %q) error = %v, want one wrapping video.ErrInvalidID", id, err)
			}
			if err := f.tc.Clean(t.Context(), id); !errors.Is(err, video.ErrInvalidID) {
				t.Errorf("Clean(%q) error = %v, want one wrapping video.ErrInvalidID", id, err)
			}
		}
	})
	t.Run("missing source", func(t *testing.T) {
		f := newFixture(t, testLadder)
		_, err := f.tc.Run(t.Context(), transcode.Job{ID: "job_1", VideoID: "vid_1", SourceKey: "uploads/none"})
		var fe *transcode.FailedError
		if !errors.As(err, &fe) {
			t.Fatalf("got %v, want a FailedError", err)
		}
	})
}

// ffmpegRunningIn reports whether some process runs with dir in its
// command line or as its working directory.
func ffmpegRunningIn(dir string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if cwd, err := os.Readlink(p + "/cwd"); err == nil && strings.HasPrefix(cwd, dir) {
			return true
		}
		if cmd, err := os.ReadFile(p + "/cmdline"); err == nil && bytes.Contains(cmd, []byte(dir)) {
			return true
		}
	}
	return false
}

func TestRunCancel(t *testing.T) { testRunCancel(t, newFixture(t, testLadder)) }

// TestRunCancelOnS3: a cancelled job deletes what it published to S3.
func TestRunCancelOnS3(t *testing.T) { testRunCancel(t, newS3Fixture(t, testLadder)) }

func testRunCancel(t *testing.T, f *fixture) {
	src := f.putSource(t, clip(t, "av", 40, "640x360"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	job := transcode.Job{ID: "job_1", VideoID: "vid_1", SourceKey: src, OnSegment: func(s transcode.Segment) {
		if s.Kind == transcode.SegmentMedia {
			cancel()
		}
	}}
	_, err := f.tc.Run(ctx, job)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if ffmpegRunningIn(f.work) {
		t.Error("an ffmpeg process still runs in the work dir")
	}
	if entries, _ := os.ReadDir(f.work); len(entries) != 0 {
		t.Errorf("work dir not cleaned: %v", entries)
	}
	if infos, _ := f.store.List(t.Context(), "videos/"); len(infos) != 0 {
		t.Errorf("published output left behind: %v", infos)
	}
}

func TestRunRotatedSource(t *testing.T) {
	f := newFixture(t, testLadder)
	in := filepath.Join(t.TempDir(), "in.mp4")
	if err := os.WriteFile(in, clip(t, "av", 4, "640x360"), 0o600); err != nil {
		t.Fatal(err)
	}
	rotated := filepath.Join(t.TempDir(), "rotated.mp4")
	if b, err := exec.CommandContext(t.Context(), "ffmpeg", "-v", "error", "-i", in, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated).CombinedOutput(); err != nil {
		t.Fatalf("rotate: %v: %s", err, b)
	}
	b, err := os.ReadFile(rotated)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.tc.Run(t.Context(), transcode.Job{ID: "job_1", VideoID: "vid_1", SourceKey: f.putSource(t, b)})
	if err != nil {
		t.Fatal(err)
	}
	// Displayed 360x640: every rung is portrait, 360p at 202x360.
	if r := res.Renditions[0]; r.Name != "360p" || r.Width != 202 || r.Height != 360 {
		t.Fatalf("top rendition %+v, want 360p at 202x360", r)
	}
	got := ffprobe(t, "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", f.path(t, "360p/playlist.m3u8"))
	if f := strings.Fields(got); len(f) == 0 || f[0] != "202,360" {
		t.Errorf("encoded 360p is %q, want 202,360", got)
	}
	poster := ffprobe(t, "-show_entries", "stream=width,height", "-of", "csv=p=0", f.path(t, "poster.jpg"))
	if strings.TrimSpace(poster) != "202,360" {
		t.Errorf("poster is %q, want 202,360", poster)
	}
}
