package streaming_test

import (
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
	"github.com/streamgate/streamgate/internal/blob"
)

// Key ids as the packager writes them: in EXT-X-KEY (hex) and in the MPD
// (UUID).
const (
	fullKID    = "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1"
	previewKID = "e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2"
	fullUUID   = "f1f1f1f1-f1f1-f1f1-f1f1-f1f1f1f1f1f1"
	previewUUI = "e2e2e2e2-e2e2-e2e2-e2e2-e2e2e2e2e2e2"
)

func encMPD(kid, init, duration string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns:cenc="urn:mpeg:cenc:2013" xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="` + duration + `" minBufferTime="PT2.0S">
	<Period id="0" start="PT0.0S">
		<AdaptationSet id="0" contentType="video">
<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cbcs" cenc:default_KID="` + kid + `"/><ContentProtection schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" value="ClearKey1.0"/>
			<Representation id="0" mimeType="video/mp4" codecs="avc1.64000d" bandwidth="200000" width="320" height="180">
				<SegmentTemplate timescale="1000000" duration="1000000" initialization="180p/` + init + `" media="180p/seg-$Number%05d$.m4s" startNumber="1">
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
	</Period>
</MPD>
`
}

// encryptedStore holds what the transcoder publishes for an encrypted
// video of four 1 s segments: vid_pv with a 2 s preview (two segments
// under the preview key, manifest-preview.mpd), vid_nopv packaged
// without one (its preview set after the encode).
func encryptedStore(t *testing.T) blob.Store {
	t.Helper()
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tag := func(kid, uri string) string {
		return `#EXT-X-KEY:METHOD=SAMPLE-AES,URI="` + uri + `",KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1",KEYID=0x` + kid + "\n"
	}
	head := "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n"
	seg := func(n int) string { return "#EXTINF:1.000000,\nseg-" + pad5(n) + ".m4s\n" }
	playlists := map[string]string{
		"vid_pv": head + tag(previewKID, "../licence?scope=preview") + "#EXT-X-MAP:URI=\"init-preview.m4s\"\n" + seg(1) + seg(2) +
			tag(fullKID, "../licence") + "#EXT-X-MAP:URI=\"init.m4s\"\n" + seg(3) + seg(4) + "#EXT-X-ENDLIST\n",
		"vid_nopv": head + tag(fullKID, "../licence") + "#EXT-X-MAP:URI=\"init.m4s\"\n" + seg(1) + seg(2) + seg(3) + seg(4) + "#EXT-X-ENDLIST\n",
	}
	for id, pl := range playlists {
		p := "videos/" + id + "/"
		putFile(t, store, p+"master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000\n180p/playlist.m3u8\n")
		putFile(t, store, p+"manifest.mpd", encMPD(fullUUID, "init.m4s", "PT4S"))
		putFile(t, store, p+"180p/playlist.m3u8", pl)
		putFile(t, store, p+"180p/init.m4s", "full init")
		for n := 1; n <= 4; n++ {
			putFile(t, store, p+"180p/seg-"+pad5(n)+".m4s", "segment "+itoa(n))
		}
	}
	putFile(t, store, "videos/vid_pv/manifest-preview.mpd", encMPD(previewUUI, "init-preview.m4s", "PT2S"))
	putFile(t, store, "videos/vid_pv/180p/init-preview.m4s", "preview init")
	return store
}

// A preview token asking for the MPD of an encrypted video gets the
// preview key's MPD, cut; any other grant the full one. Without a preview
// MPD the preview is refused, saying why.
func TestDASHPreviewOfEncryptedVideo(t *testing.T) {
	e := newEnv(t, encryptedStore(t), nil, readyVideo("vid_pv", true), readyVideo("vid_nopv", true))
	previewToken := func(id string) string {
		c := playbackClaims(e.clock.Now(), id, 10*time.Minute)
		c.PreviewSeconds = 1
		return e.sign(t, e.key, c)
	}
	pv, full := previewToken("vid_pv"), e.token(t, "vid_pv")
	base := e.srv.URL + "/play/vid_pv/"

	isPreview := func(mpd, duration string) bool {
		return strings.Contains(mpd, `cenc:default_KID="`+previewUUI+`"`) && !strings.Contains(mpd, fullUUID) &&
			strings.Contains(mpd, "180p/init-preview.m4s") && !strings.Contains(mpd, "180p/init.m4s") && strings.Contains(mpd, `mediaPresentationDuration="`+duration+`"`)
	}
	isFull := func(mpd string) bool {
		return strings.Contains(mpd, `cenc:default_KID="`+fullUUID+`"`) && !strings.Contains(mpd, previewUUI) &&
			strings.Contains(mpd, "180p/init.m4s") && strings.Contains(mpd, `mediaPresentationDuration="PT4S"`)
	}
	for _, c := range []struct {
		name, rel, token string
		status           int
		ok               func(string) bool
	}{
		{"preview token", "manifest.mpd", pv, 200, func(b string) bool { return isPreview(b, "PT1S") }},
		{"full token", "manifest.mpd", full, 200, isFull},
		{"preview MPD, preview token", "manifest-preview.mpd", pv, 200, func(b string) bool { return isPreview(b, "PT1S") }},
		{"preview MPD, full token", "manifest-preview.mpd", full, 200, func(b string) bool { return isPreview(b, "PT2S") }},
		{"preview MPD, no token", "manifest-preview.mpd", "", 401, func(string) bool { return true }},
		{"preview init, no token", "180p/init-preview.m4s", "", 200, func(b string) bool { return b == "preview init" }},
	} {
		u := base + c.rel
		if c.token != "" {
			u += "?token=" + c.token
		}
		res, b := get(t, u)
		if res.StatusCode != c.status || !c.ok(string(b)) {
			t.Errorf("%s: GET %s: %d, want %d:\n%s", c.name, c.rel, res.StatusCode, c.status, b)
		}
	}
	// The encrypted init segments are named without the token.
	if _, b := get(t, base+"manifest.mpd?token="+pv); strings.Contains(string(b), "init-preview.m4s?token") {
		t.Errorf("the preview init segment carries the token:\n%s", b)
	}

	// The RPCs: GetManifest serves the same, GetPlaybackInfo points at
	// manifest.mpd for both.
	for _, c := range []struct {
		token string
		ok    func(string) bool
	}{{pv, func(b string) bool { return isPreview(b, "PT1S") }}, {full, isFull}} {
		m, err := e.client.GetManifest(t.Context(), connect.NewRequest(&streamingv1.GetManifestRequest{
			VideoId: "vid_pv", Format: streamingv1.ManifestFormat_MANIFEST_FORMAT_DASH, Token: c.token,
		}))
		if err != nil || !c.ok(m.Msg.GetContent()) || !m.Msg.GetComplete() {
			t.Errorf("GetManifest: %v\n%s", err, m.Msg.GetContent())
		}
		info, err := e.client.GetPlaybackInfo(t.Context(), connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: "vid_pv", Token: c.token}))
		if err != nil || !strings.HasPrefix(info.Msg.GetDashUrl(), base+"manifest.mpd?token=") {
			t.Errorf("GetPlaybackInfo: %v, DASH URL %q", err, info.Msg.GetDashUrl())
		}
	}

	// Encrypted without a preview key: the preview cannot play.
	nopv := previewToken("vid_nopv")
	res, b := get(t, e.srv.URL+"/play/vid_nopv/manifest.mpd?token="+nopv)
	if res.StatusCode != 403 || !strings.Contains(string(b), "holding the pass") {
		t.Errorf("preview of an encrypted video without a preview key: %d %s, want 403 saying the pass is needed", res.StatusCode, b)
	}
	_, err := e.client.GetManifest(t.Context(), connect.NewRequest(&streamingv1.GetManifestRequest{
		VideoId: "vid_nopv", Format: streamingv1.ManifestFormat_MANIFEST_FORMAT_DASH, Token: nopv,
	}))
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "holding the pass") {
		t.Errorf("GetManifest of the same: %v, want PermissionDenied saying the pass is needed", err)
	}
	if res, b := get(t, e.srv.URL+"/play/vid_nopv/manifest.mpd?token="+e.token(t, "vid_nopv")); res.StatusCode != 200 || !isFull(string(b)) {
		t.Errorf("full token of the same: %d\n%s", res.StatusCode, b)
	}
	if res, _ := get(t, e.srv.URL+"/play/vid_nopv/manifest-preview.mpd?token="+e.token(t, "vid_nopv")); res.StatusCode != 404 {
		t.Errorf("a preview MPD never published: %d, want 404", res.StatusCode)
	}
}

// streamedItem is one segment of a stream, or its end (kind
// unspecified).
type streamedItem struct {
	kind streamingv1.SegmentKind
	seq  uint32
	data string
}

func streamAll(t *testing.T, e *env, req *streamingv1.StreamSegmentsRequest) []streamedItem {
	t.Helper()
	st, err := e.client.StreamSegments(t.Context(), connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []streamedItem
	for st.Receive() {
		c := st.Msg().GetChunk()
		if c == nil {
			out = append(out, streamedItem{seq: st.Msg().GetEnd().GetSegmentCount()})
			continue
		}
		if !c.GetLastChunk() || c.GetOffset() != 0 {
			t.Fatalf("a small segment in parts: %v", c)
		}
		out = append(out, streamedItem{kind: c.GetKind(), seq: c.GetSequence(), data: string(c.GetData())})
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// StreamSegments sends each init segment before the first media segment
// it applies to; a preview token gets the preview key's only.
func TestStreamSegmentsTwoInits(t *testing.T) {
	e := newEnv(t, encryptedStore(t), nil, readyVideo("vid_pv", true))
	c := playbackClaims(e.clock.Now(), "vid_pv", 10*time.Minute)
	c.PreviewSeconds = 2
	pv, full := e.sign(t, e.key, c), e.token(t, "vid_pv")
	const (
		initK  = streamingv1.SegmentKind_SEGMENT_KIND_INIT
		mediaK = streamingv1.SegmentKind_SEGMENT_KIND_MEDIA
	)
	preInit, fullInit := streamedItem{initK, 0, "preview init"}, streamedItem{initK, 0, "full init"}
	media := func(n uint32) streamedItem { return streamedItem{mediaK, n, "segment " + itoa(int(n))} }
	end := func(n uint32) streamedItem { return streamedItem{seq: n} }
	for _, tc := range []struct {
		name  string
		token string
		from  uint32
		want  []streamedItem
	}{
		{"full", full, 0, []streamedItem{preInit, media(1), media(2), fullInit, media(3), media(4), end(4)}},
		{"full from 2", full, 2, []streamedItem{preInit, media(2), fullInit, media(3), media(4), end(4)}},
		{"full from 3", full, 3, []streamedItem{fullInit, media(3), media(4), end(4)}},
		{"full past the end", full, 99, []streamedItem{fullInit, end(4)}},
		{"preview", pv, 0, []streamedItem{preInit, media(1), media(2), end(2)}},
		{"preview past the cut", pv, 3, []streamedItem{preInit, end(2)}},
	} {
		got := streamAll(t, e, &streamingv1.StreamSegmentsRequest{VideoId: "vid_pv", Rendition: "180p", Token: tc.token, FromSequence: tc.from})
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: item %d is %v, want %v (all: %v)", tc.name, i, got[i], tc.want[i], got)
				break
			}
		}
	}
}
