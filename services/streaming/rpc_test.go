package streaming_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events/eventstest"
)

func TestGetPlaybackInfo(t *testing.T) {
	store := encoded(t)
	e := newEnv(t, store, nil, readyVideo("vid_1", true), readyVideo("vid_pub", false),
		&metadatav1.Video{Id: "vid_up", Status: metadatav1.VideoStatus_VIDEO_STATUS_UPLOADING})
	tok := e.token(t, "vid_1")
	res, err := e.client.GetPlaybackInfo(t.Context(), connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: "vid_1", Token: tok}))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Msg
	base := e.srv.URL + "/play/vid_1/"
	for got, want := range map[string]string{
		m.GetHlsUrl(): base + "master.m3u8?token=" + tok, m.GetDashUrl(): base + "manifest.mpd?token=" + tok,
		m.GetPosterUrl(): base + "poster.jpg?token=" + tok, m.GetStoryboardUrl(): base + "storyboard.vtt?token=" + tok,
	} {
		if got != want {
			t.Errorf("url %q, want %q", got, want)
		}
	}
	if m.GetLive() || len(m.GetRenditions()) != 3 {
		t.Errorf("live %v, renditions %v", m.GetLive(), m.GetRenditions())
	}
	want := playbackClaims(e.clock.Now(), "vid_1", 10*time.Minute).ExpiresAt.Time
	if !m.GetTokenExpireTime().AsTime().Equal(want) {
		t.Errorf("token expiry %v, want %v", m.GetTokenExpireTime().AsTime(), want)
	}
	if r, _ := get(t, m.GetHlsUrl()); r.StatusCode != 200 {
		t.Errorf("hls_url: %d", r.StatusCode)
	}

	// Live: renditions with segments, from the store.
	live := readyVideo("vid_1", true)
	live.Status, live.Renditions = metadatav1.VideoStatus_VIDEO_STATUS_PROCESSING, nil
	le := newEnv(t, store, nil, live)
	lres, err := le.client.GetPlaybackInfo(t.Context(), connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: "vid_1", Token: le.token(t, "vid_1")}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range lres.Msg.GetRenditions() {
		names = append(names, r.GetName())
	}
	if !lres.Msg.GetLive() || strings.Join(names, ",") != "180p,144p,audio" {
		t.Errorf("live info: live %v renditions %v", lres.Msg.GetLive(), names)
	}

	pe := newEnv(t, store, nil, readyVideo("vid_1", false))
	pub, err := pe.client.GetPlaybackInfo(t.Context(), connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: "vid_1"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pub.Msg.GetHlsUrl(), "?") || pub.Msg.GetTokenExpireTime() != nil {
		t.Errorf("public: %v", pub.Msg)
	}

	errCases := []struct {
		name, id, token string
		code            connect.Code
	}{
		{"malformed id", "../x", "", connect.CodeInvalidArgument},
		{"unknown", "vid_9", "", connect.CodeNotFound},
		{"no token", "vid_1", "", connect.CodeUnauthenticated},
		{"other video's token", "vid_1", e.token(t, "vid_pub"), connect.CodePermissionDenied},
		{"still uploading", "vid_up", "", connect.CodeFailedPrecondition},
	}
	for _, c := range errCases {
		_, err := e.client.GetPlaybackInfo(t.Context(), connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: c.id, Token: c.token}))
		if connect.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %v", c.name, err, c.code)
		}
	}
	e.videos.mu.Lock()
	e.videos.fail = errors.New("metadata down")
	e.videos.mu.Unlock()
	if _, err := e.client.GetPlaybackInfo(t.Context(), connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: "vid_new"})); connect.CodeOf(err) != connect.CodeUnavailable || strings.Contains(err.Error(), "metadata down") {
		t.Errorf("metadata down: %v", err)
	}
}

func TestGetManifest(t *testing.T) {
	store := encoded(t)
	e := newEnv(t, store, nil, readyVideo("vid_1", true))
	tok := e.token(t, "vid_1")
	cases := []struct {
		format    streamingv1.ManifestFormat
		rendition string
		ct        string
		prefix    string
	}{
		{streamingv1.ManifestFormat_MANIFEST_FORMAT_HLS_MASTER, "", "application/vnd.apple.mpegurl", e.srv.URL + "/play/vid_1/"},
		{streamingv1.ManifestFormat_MANIFEST_FORMAT_HLS_MEDIA, "144p", "application/vnd.apple.mpegurl", e.srv.URL + "/play/vid_1/144p/"},
		{streamingv1.ManifestFormat_MANIFEST_FORMAT_DASH, "", "application/dash+xml", e.srv.URL + "/play/vid_1/"},
	}
	for _, c := range cases {
		res, err := e.client.GetManifest(t.Context(), connect.NewRequest(&streamingv1.GetManifestRequest{VideoId: "vid_1", Format: c.format, Rendition: c.rendition, Token: tok}))
		if err != nil {
			t.Fatalf("%v: %v", c.format, err)
		}
		if res.Msg.GetContentType() != c.ct || !res.Msg.GetComplete() {
			t.Errorf("%v: content type %q complete %v", c.format, res.Msg.GetContentType(), res.Msg.GetComplete())
		}
		var uris []string
		if c.format == streamingv1.ManifestFormat_MANIFEST_FORMAT_DASH {
			uris = mpdURIs(t, []byte(res.Msg.GetContent()))
		} else {
			uris = hlsURIs(t, res.Msg.GetContent())
		}
		for _, u := range uris {
			if !strings.HasPrefix(u, c.prefix) || !strings.Contains(u, "?token="+tok) {
				t.Errorf("%v: URI %q not absolute with token", c.format, u)
			}
			if !strings.Contains(u, "$") {
				if r, _ := get(t, u); r.StatusCode != 200 {
					t.Errorf("%v: GET %s: %d", c.format, u, r.StatusCode)
				}
			}
		}
	}
	bad := []struct {
		name string
		req  *streamingv1.GetManifestRequest
		code connect.Code
	}{
		{"no format", &streamingv1.GetManifestRequest{VideoId: "vid_1", Token: tok}, connect.CodeInvalidArgument},
		{"media without rendition", &streamingv1.GetManifestRequest{VideoId: "vid_1", Format: 2, Token: tok}, connect.CodeInvalidArgument},
		{"master with rendition", &streamingv1.GetManifestRequest{VideoId: "vid_1", Format: 1, Rendition: "144p", Token: tok}, connect.CodeInvalidArgument},
		{"traversal rendition", &streamingv1.GetManifestRequest{VideoId: "vid_1", Format: 2, Rendition: "../x", Token: tok}, connect.CodeInvalidArgument},
		{"unknown rendition", &streamingv1.GetManifestRequest{VideoId: "vid_1", Format: 2, Rendition: "4k", Token: tok}, connect.CodeNotFound},
		{"no token", &streamingv1.GetManifestRequest{VideoId: "vid_1", Format: 1}, connect.CodeUnauthenticated},
	}
	for _, c := range bad {
		if _, err := e.client.GetManifest(t.Context(), connect.NewRequest(c.req)); connect.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %v", c.name, err, c.code)
		}
	}
}

// collect reads a whole StreamSegments stream: segment bytes by sequence
// (init at 0), in arrival order, and the end message.
type streamed struct {
	order []uint32
	data  map[uint32][]byte
	end   *streamingv1.StreamEnd
}

func checkChunk(t *testing.T, s *streamed, c *streamingv1.SegmentChunk, cur *[]byte) {
	t.Helper()
	if c.GetOffset() != uint64(len(*cur)) || len(c.GetData()) > 1<<20 {
		t.Fatalf("chunk of seq %d: offset %d after %d bytes, %d bytes", c.GetSequence(), c.GetOffset(), len(*cur), len(c.GetData()))
	}
	*cur = append(*cur, c.GetData()...)
	if c.GetLastChunk() {
		if uint64(len(*cur)) != c.GetSizeBytes() {
			t.Fatalf("seq %d: %d bytes, size_bytes %d", c.GetSequence(), len(*cur), c.GetSizeBytes())
		}
		s.order = append(s.order, c.GetSequence())
		s.data[c.GetSequence()] = *cur
		*cur = nil
	}
}

func collect(t *testing.T, e *env, req *streamingv1.StreamSegmentsRequest) (*streamed, error) {
	t.Helper()
	st, err := e.client.StreamSegments(t.Context(), connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	s := &streamed{data: map[uint32][]byte{}}
	var cur []byte
	for st.Receive() {
		if c := st.Msg().GetChunk(); c != nil {
			checkChunk(t, s, c, &cur)
		} else {
			s.end = st.Msg().GetEnd()
		}
	}
	return s, st.Err()
}

func TestStreamSegmentsFinished(t *testing.T) {
	store := encoded(t)
	e := newEnv(t, store, nil, readyVideo("vid_1", true))
	tok := e.token(t, "vid_1")
	s, err := collect(t, e, &streamingv1.StreamSegmentsRequest{VideoId: "vid_1", Rendition: "180p", Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(store.Dir(), "videos/vid_1/180p/seg-*.m4s"))
	if s.end == nil || int(s.end.GetSegmentCount()) != len(files) || len(s.order) != len(files)+1 || s.order[0] != 0 {
		t.Fatalf("order %v end %v, %d files", s.order, s.end, len(files))
	}
	for i, seq := range s.order {
		if int(seq) != i {
			t.Fatalf("order %v", s.order)
		}
	}
	initB, _ := os.ReadFile(filepath.Join(store.Dir(), "videos/vid_1/180p/init.m4s"))
	seg2, _ := os.ReadFile(filepath.Join(store.Dir(), "videos/vid_1/180p/seg-00002.m4s"))
	if !bytes.Equal(s.data[0], initB) || !bytes.Equal(s.data[2], seg2) {
		t.Error("streamed bytes differ from the files")
	}

	s, err = collect(t, e, &streamingv1.StreamSegmentsRequest{VideoId: "vid_1", Rendition: "180p", FromSequence: 3, Token: tok})
	if err != nil || s.order[0] != 0 || s.order[1] != 3 || s.end == nil {
		t.Fatalf("from 3: %v %v", s.order, err)
	}
	s, err = collect(t, e, &streamingv1.StreamSegmentsRequest{VideoId: "vid_1", Rendition: "180p", FromSequence: 99, Token: tok})
	if err != nil || len(s.order) != 1 || s.end == nil {
		t.Fatalf("past the end: %v %v", s.order, err)
	}
	for name, c := range map[string]struct {
		req  *streamingv1.StreamSegmentsRequest
		code connect.Code
	}{
		"empty rendition":   {&streamingv1.StreamSegmentsRequest{VideoId: "vid_1", Token: tok}, connect.CodeInvalidArgument},
		"unknown rendition": {&streamingv1.StreamSegmentsRequest{VideoId: "vid_1", Rendition: "4k", Token: tok}, connect.CodeNotFound},
		"no token":          {&streamingv1.StreamSegmentsRequest{VideoId: "vid_1", Rendition: "180p"}, connect.CodeUnauthenticated},
		"bad token":         {&streamingv1.StreamSegmentsRequest{VideoId: "vid_1", Rendition: "180p", Token: "x"}, connect.CodePermissionDenied},
	} {
		if _, err := collect(t, e, c.req); connect.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %v", name, err, c.code)
		}
	}
}

func TestStreamSegmentsChunks(t *testing.T) {
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	big := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/32) // 2.5 MiB
	put(t, store, "videos/vid_big/r/init.m4s", []byte{})
	put(t, store, "videos/vid_big/r/seg-00001.m4s", big)
	put(t, store, "videos/vid_big/r/playlist.m3u8", playlistText(1, true))
	e := newEnv(t, store, nil, readyVideo("vid_big", false))
	st, err := e.client.StreamSegments(t.Context(), connect.NewRequest(&streamingv1.StreamSegmentsRequest{VideoId: "vid_big", Rendition: "r"}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var chunks []*streamingv1.SegmentChunk
	for st.Receive() {
		if c := st.Msg().GetChunk(); c != nil {
			chunks = append(chunks, c)
		}
	}
	if st.Err() != nil || len(chunks) != 4 {
		t.Fatalf("%d chunks, %v", len(chunks), st.Err())
	}
	if c := chunks[0]; c.GetKind() != streamingv1.SegmentKind_SEGMENT_KIND_INIT || c.GetSizeBytes() != 0 || !c.GetLastChunk() || c.GetDuration() != nil {
		t.Errorf("empty init chunk: %v", c)
	}
	for i, c := range chunks[1:] {
		if c.GetOffset() != uint64(i)<<20 || c.GetLastChunk() != (i == 2) || c.GetSizeBytes() != uint64(len(big)) || c.GetSequence() != 1 || c.GetDuration().AsDuration() != time.Second {
			t.Errorf("chunk %d: offset %d last %v size %d", i, c.GetOffset(), c.GetLastChunk(), c.GetSizeBytes())
		}
	}
}

func put(t *testing.T, store *blob.Local, key string, b []byte) {
	t.Helper()
	if _, err := store.Put(t.Context(), key, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func playlistText(n int, final bool) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-MAP:URI=\"init.m4s\"\n")
	for i := 1; i <= n; i++ {
		b.WriteString("#EXTINF:1.000000,\nseg-" + pad5(i) + ".m4s\n")
	}
	if final {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return []byte(b.String())
}

func pad5(i int) string { s := "0000" + itoa(i); return s[len(s)-5:] }

// TestStreamSegmentsLive follows a video while its segments appear,
// announced by SegmentReady events on embedded NATS (the poll interval is
// an hour, so only events can wake the stream), and checks a token that
// expires mid-stream ends it between segments with PERMISSION_DENIED.
func TestStreamSegmentsLive(t *testing.T) {
	_, bus := eventstest.Bus(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	src := encoded(t)
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join(src.Dir(), "videos/vid_1/180p", rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	live := &metadatav1.Video{Id: "vid_live", Status: metadatav1.VideoStatus_VIDEO_STATUS_PROCESSING}
	gated := readyVideo("vid_gated", true)
	gated.Status = metadatav1.VideoStatus_VIDEO_STATUS_PROCESSING
	e := newEnv(t, store, bus, live, gated)
	for _, id := range []string{"vid_live", "vid_gated"} {
		put(t, store, "videos/"+id+"/master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n180p/playlist.m3u8\n"))
		put(t, store, "videos/"+id+"/180p/init.m4s", read("init.m4s"))
		put(t, store, "videos/"+id+"/180p/playlist.m3u8", playlistText(0, false))
	}
	publishSeg := func(id string, i int) {
		t.Helper()
		put(t, store, "videos/"+id+"/180p/seg-"+pad5(i)+".m4s", read("seg-"+pad5(i)+".m4s"))
		put(t, store, "videos/"+id+"/180p/playlist.m3u8", playlistText(i, false))
		if err := bus.Publish(ctx, &eventsv1.SegmentReady{
			EventId: "segment.ready:" + id + ":180p:media:" + itoa(i), OccurTime: timestamppb.Now(), JobId: "job_x",
			VideoId: id, Rendition: "180p", Kind: eventsv1.SegmentKind_SEGMENT_KIND_MEDIA, Sequence: uint32(i),
			Path: "180p/seg-" + pad5(i) + ".m4s", Duration: durationpb.New(time.Second),
		}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("follows to the end", func(t *testing.T) {
		st, err := e.client.StreamSegments(ctx, connect.NewRequest(&streamingv1.StreamSegmentsRequest{VideoId: "vid_live", Rendition: "180p"}))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		s := &streamed{data: map[uint32][]byte{}}
		var cur []byte
		next := func() {
			t.Helper()
			if !st.Receive() {
				t.Fatalf("stream ended: %v", st.Err())
			}
			if c := st.Msg().GetChunk(); c != nil {
				checkChunk(t, s, c, &cur)
			} else {
				s.end = st.Msg().GetEnd()
			}
		}
		next() // init, sent before any media segment exists
		if len(s.order) != 1 || s.order[0] != 0 {
			t.Fatalf("first message: %v", s.order)
		}
		for i := 1; i <= 3; i++ {
			publishSeg("vid_live", i)
			for len(s.order) < i+1 {
				next()
			}
			if s.order[i] != uint32(i) || !bytes.Equal(s.data[uint32(i)], read("seg-"+pad5(i)+".m4s")) {
				t.Fatalf("segment %d: order %v", i, s.order)
			}
		}
		put(t, store, "videos/vid_live/180p/playlist.m3u8", playlistText(3, true))
		if err := bus.Publish(ctx, &eventsv1.TranscodeCompleted{EventId: "transcode.completed:job_x", OccurTime: timestamppb.Now(), JobId: "job_x", VideoId: "vid_live"}); err != nil {
			t.Fatal(err)
		}
		next()
		if s.end == nil || s.end.GetSegmentCount() != 3 || s.end.GetDuration().AsDuration() != 3*time.Second {
			t.Fatalf("end: %v", s.end)
		}
		if st.Receive() || st.Err() != nil {
			t.Fatalf("after end: %v", st.Err())
		}
	})

	t.Run("token expires mid-stream", func(t *testing.T) {
		tok := e.sign(t, e.key, playbackClaims(e.clock.Now(), "vid_gated", time.Minute))
		st, err := e.client.StreamSegments(ctx, connect.NewRequest(&streamingv1.StreamSegmentsRequest{VideoId: "vid_gated", Rendition: "180p", Token: tok}))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		publishSeg("vid_gated", 1)
		var got []uint32
		for len(got) < 2 && st.Receive() {
			if c := st.Msg().GetChunk(); c != nil && c.GetLastChunk() {
				got = append(got, c.GetSequence())
			}
		}
		if len(got) != 2 {
			t.Fatalf("got %v: %v", got, st.Err())
		}
		e.clock.Add(2 * time.Minute)
		publishSeg("vid_gated", 2)
		for st.Receive() {
			if c := st.Msg().GetChunk(); c != nil {
				t.Fatalf("segment %d sent after the token expired", c.GetSequence())
			}
		}
		if connect.CodeOf(st.Err()) != connect.CodePermissionDenied {
			t.Fatalf("err %v, want PERMISSION_DENIED", st.Err())
		}
		// A fresh token resumes from the next sequence.
		s, err := func() (*streamed, error) {
			put(t, store, "videos/vid_gated/180p/playlist.m3u8", playlistText(2, true))
			return collect(t, e, &streamingv1.StreamSegmentsRequest{VideoId: "vid_gated", Rendition: "180p", FromSequence: 2, Token: e.token(t, "vid_gated")})
		}()
		if err != nil || len(s.order) != 2 || s.order[1] != 2 || s.end == nil {
			t.Fatalf("resume: %v %v", s, err)
		}
	})

	t.Run("fails while followed", func(t *testing.T) {
		v := &metadatav1.Video{Id: "vid_fail", Status: metadatav1.VideoStatus_VIDEO_STATUS_PROCESSING}
		e.videos.set(v)
		put(t, store, "videos/vid_fail/180p/init.m4s", read("init.m4s"))
		put(t, store, "videos/vid_fail/180p/playlist.m3u8", playlistText(0, false))
		st, err := e.client.StreamSegments(ctx, connect.NewRequest(&streamingv1.StreamSegmentsRequest{VideoId: "vid_fail", Rendition: "180p"}))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if !st.Receive() {
			t.Fatal(st.Err())
		}
		if err := bus.Publish(ctx, &eventsv1.TranscodeFailed{EventId: "transcode.failed:job_f", OccurTime: timestamppb.Now(), JobId: "job_f", VideoId: "vid_fail", Reason: "boom"}); err != nil {
			t.Fatal(err)
		}
		for st.Receive() {
		}
		if connect.CodeOf(st.Err()) != connect.CodeFailedPrecondition {
			t.Fatalf("err %v, want FAILED_PRECONDITION", st.Err())
		}
	})
}

// TestFFmpegPlays proves players need no token logic: ffmpeg plays the HLS
// and DASH URLs of a gated video with only the token in the first URL.
func TestFFmpegPlays(t *testing.T) {
	store := encoded(t)
	e := newEnv(t, store, nil, readyVideo("vid_1", true))
	tok := e.token(t, "vid_1")
	for _, m := range []string{"master.m3u8", "manifest.mpd"} {
		u := e.srv.URL + "/play/vid_1/" + m + "?token=" + tok
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-nostdin", "-i", u, "-map", "0:v:0", "-map", "0:a:0", "-f", "null", "-").CombinedOutput()
		cancel()
		// (ffmpeg's DASH demuxer asks for one segment past the end of a
		// 4 s clip and logs the 404; any refused token would show as 401
		// or 403.)
		if err != nil || bytes.Contains(out, []byte("401")) || bytes.Contains(out, []byte("403")) {
			t.Errorf("ffmpeg %s: %v\n%s", m, err, out)
		}
		if len(bytes.TrimSpace(out)) > 0 {
			t.Logf("ffmpeg %s said:\n%s", m, out)
		}
	}
	// Without the token, ffmpeg fails.
	out, err := exec.CommandContext(t.Context(), "ffmpeg", "-v", "error", "-nostdin", "-i", e.srv.URL+"/play/vid_1/master.m3u8", "-f", "null", "-").CombinedOutput()
	if err == nil {
		t.Errorf("ffmpeg without a token succeeded: %s", out)
	}
}
