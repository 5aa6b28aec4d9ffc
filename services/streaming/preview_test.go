package streaming_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
)

// A preview token plays the start and no more, whichever way it asks:
// manifests end at the cut, a segment past it (listed or guessed) is
// refused, and the segment stream ends there. A full token of the same
// video is not affected.
func TestPreviewToken(t *testing.T) {
	store := encoded(t)
	e := newEnv(t, store, nil, readyVideo("vid_1", true))
	claims := playbackClaims(e.clock.Now(), "vid_1", 10*time.Minute)
	claims.PreviewSeconds = 2 // 1 s segments: the first two
	pv := e.sign(t, e.key, claims)
	full := e.token(t, "vid_1")
	base := e.srv.URL + "/play/vid_1/"

	res, body := get(t, base+"180p/playlist.m3u8?token="+pv)
	p := string(body)
	if res.StatusCode != 200 || !strings.Contains(p, "seg-00002.m4s") || strings.Contains(p, "seg-00003.m4s") || !strings.HasSuffix(p, "#EXT-X-ENDLIST\n") {
		t.Fatalf("preview media playlist (%d):\n%s", res.StatusCode, p)
	}
	if _, body := get(t, base+"180p/playlist.m3u8?token="+full); !strings.Contains(string(body), "seg-00004.m4s") {
		t.Fatalf("full playlist cut:\n%s", body)
	}
	_, mpd := get(t, base+"manifest.mpd?token="+pv)
	if !strings.Contains(string(mpd), `mediaPresentationDuration="PT2S"`) {
		t.Fatalf("preview MPD not cut:\n%s", mpd)
	}
	if res, master := get(t, base+"master.m3u8?token="+pv); res.StatusCode != 200 || !strings.Contains(string(master), "180p/playlist.m3u8") {
		t.Fatalf("master (%d):\n%s", res.StatusCode, master)
	}

	for _, c := range []struct {
		seg  string
		want int
	}{
		{"180p/seg-00001.m4s", 200},
		{"180p/seg-00002.m4s", 200},
		{"180p/seg-00003.m4s", 403},
		{"180p/seg-00004.m4s", 403},
		{"180p/seg-00099.m4s", 403}, // not listed: refused, not a 404 that tells
		{"180p/init.m4s", 200},
	} {
		res, body := get(t, base+c.seg+"?token="+pv)
		if res.StatusCode != c.want {
			t.Errorf("%s: %d, want %d (%s)", c.seg, res.StatusCode, c.want, body)
		}
		if c.want == 403 && !strings.Contains(string(body), "free preview") {
			t.Errorf("%s: refusal says %q", c.seg, body)
		}
	}
	if res, _ := get(t, base+"180p/seg-00004.m4s?token="+full); res.StatusCode != 200 {
		t.Errorf("a full token's last segment: %d", res.StatusCode)
	}

	// The RPCs: GetManifest cuts, StreamSegments ends at the cut.
	m, err := e.client.GetManifest(t.Context(), connect.NewRequest(&streamingv1.GetManifestRequest{
		VideoId: "vid_1", Format: streamingv1.ManifestFormat_MANIFEST_FORMAT_HLS_MEDIA, Rendition: "180p", Token: pv,
	}))
	if err != nil || strings.Contains(m.Msg.GetContent(), "seg-00003") || !m.Msg.GetComplete() {
		t.Fatalf("GetManifest: %v\n%s", err, m.Msg.GetContent())
	}
	s, err := collect(t, e, &streamingv1.StreamSegmentsRequest{VideoId: "vid_1", Rendition: "180p", Token: pv})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.order) != 3 || s.end == nil || s.end.GetSegmentCount() != 2 || s.end.GetDuration().AsDuration() != 2*time.Second {
		t.Fatalf("preview stream: order %v end %v", s.order, s.end)
	}
	seg2, _ := os.ReadFile(filepath.Join(store.Dir(), "videos/vid_1/180p/seg-00002.m4s"))
	if !bytes.Equal(s.data[2], seg2) {
		t.Error("streamed preview segment differs from the file")
	}
	if s, err := collect(t, e, &streamingv1.StreamSegmentsRequest{VideoId: "vid_1", Rendition: "180p", Token: pv, FromSequence: 3}); err != nil || len(s.order) != 1 || s.end.GetSegmentCount() != 2 {
		t.Fatalf("preview stream from 3: %v %+v", err, s)
	}
}

// A preview viewer's segments cost one playlist read per rendition once
// the playlist is final (the cut cannot move), and a read each while the
// encode has not reached the cut (the free names may still grow).
func TestPreviewSegmentNamesRemembered(t *testing.T) {
	store := newCountingStore(encoded(t))
	e := newEnv(t, store, nil, readyVideo("vid_1", true))
	claims := playbackClaims(e.clock.Now(), "vid_1", 10*time.Minute)
	claims.PreviewSeconds = 2
	pv := e.sign(t, e.key, claims)
	const playlist = "videos/vid_1/180p/playlist.m3u8"
	for i := 0; i < 3; i++ {
		for _, seg := range []string{"seg-00001.m4s", "seg-00002.m4s"} {
			if res, body := get(t, e.srv.URL+"/play/vid_1/180p/"+seg+"?token="+pv); res.StatusCode != 200 {
				t.Fatalf("%s: %d %s", seg, res.StatusCode, body)
			}
		}
	}
	if _, gets := store.counts(playlist); gets != 1 {
		t.Errorf("a final playlist read %d times for 6 preview segments, want once", gets)
	}

	// An encoding video whose playlist has not reached the cut.
	const event = "videos/vid_2/180p/playlist.m3u8"
	putFile(t, store, event, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-MAP:URI=\"init.m4s\"\n#EXTINF:1.000,\nseg-00001.m4s\n")
	putFile(t, store, "videos/vid_2/180p/seg-00001.m4s", "segment")
	e.videos.set(readyVideo("vid_2", true))
	claims = playbackClaims(e.clock.Now(), "vid_2", 10*time.Minute)
	claims.PreviewSeconds = 2
	pv2 := e.sign(t, e.key, claims)
	for i := 0; i < 3; i++ {
		if res, body := get(t, e.srv.URL+"/play/vid_2/180p/seg-00001.m4s?token="+pv2); res.StatusCode != 200 {
			t.Fatalf("encoding video's first segment: %d %s", res.StatusCode, body)
		}
	}
	if _, gets := store.counts(event); gets != 3 {
		t.Errorf("a growing playlist read %d times for 3 preview segments, want each time", gets)
	}
}
