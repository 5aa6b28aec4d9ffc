package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/streamgate/streamgate/internal/cenc"
)

// TestEME plays one set of Common Encryption segments in headless Chromium
// with hls.js (HLS) and with shaka-player (DASH), each getting the key from
// a W3C ClearKey licence endpoint through EME, for both schemes; and checks
// that each player stops with a key error, and decodes nothing, when the
// endpoint refuses. It is the regression test of the signalling the
// streaming service writes for encrypted videos (the helpers below).
func TestEME(t *testing.T) {
	src := emeLadder(t)
	key := cenc.NewKey()
	lic := &clearKeyServer{keys: map[string][]byte{b64url(key.ID[:]): key.Key[:]}}
	root := t.TempDir()
	for _, scheme := range []cenc.Scheme{cenc.CENC, cenc.CBCS} {
		emePackage(t, src, filepath.Join(root, string(scheme)), scheme, key, "/licence")
	}

	mux := http.NewServeMux()
	mux.Handle("POST /licence", lic)
	mux.Handle("GET /media/", http.StripPrefix("/media/", http.FileServer(http.Dir(root))))
	srv := servePlayers(t, mux)

	b := newBrowser(t, srv.URL)
	// EME_DEBUG=1 logs every console message, with hls.js's debug log.
	debug := os.Getenv("EME_DEBUG")
	if debug != "" {
		_ = chromedp.Listen(b.ctx, func(ev any) {
			if ev, ok := ev.(*runtime.EventConsoleAPICalled); ok {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, a.Description+string(a.Value))
				}
				t.Logf("console.%s: %s", ev.Type, strings.Join(parts, " "))
			}
		})
	}
	manifests := map[string]string{"hls": "master.m3u8", "dash": "manifest.mpd"}
	for _, scheme := range []cenc.Scheme{cenc.CENC, cenc.CBCS} {
		for _, player := range []string{"hls", "dash"} {
			page := fmt.Sprintf("%s/player?debug=%s&player=%s&licence=%s&src=%s", srv.URL, debug, player,
				url.QueryEscape(srv.URL+"/licence"), url.QueryEscape(srv.URL+"/media/"+string(scheme)+"/"+manifests[player]))
			t.Run(string(scheme)+"/"+player+"/plays", func(t *testing.T) {
				b := b.in(t)
				t.Cleanup(func() {
					if t.Failed() {
						b.emeState()
					}
				})
				lic.refuse.Store(false)
				before := lic.issued.Load()
				b.run("open the player", 30*time.Second, chromedp.Navigate(page))
				b.waitJS("playback starts", `document.querySelector("video").currentTime > 0.5`, 20*time.Second)
				// Switching rendition mid-play loads the other video init
				// segment (its own IVs, same key): decryption must go on.
				if h := value[int](b, "switch rendition", `eme.switchRendition()`); h < 0 {
					t.Fatal("no other video rendition to switch to")
				}
				b.waitJS("plays past 3 s", `document.querySelector("video").currentTime > 3`, 20*time.Second)
				b.waitJS("plays to the end", `eme.ended || document.querySelector("video").currentTime > 5.5`, 20*time.Second)
				got := b.emeState()
				if len(got.Fatal) > 0 {
					t.Errorf("fatal player errors: %s", got.Fatal)
				}
				if len(got.Heights) < 2 {
					t.Errorf("video heights shown %v, want both renditions (240 and 120)", got.Heights)
				}
				// Switching drops what was buffered of the first rendition.
				if got.Frames < 90 {
					t.Errorf("%d video frames decoded, want at least half the clip's 180", got.Frames)
				}
				if lic.issued.Load() == before {
					t.Error("the licence endpoint issued no key")
				}
			})
			t.Run(string(scheme)+"/"+player+"/refused", func(t *testing.T) {
				b := b.in(t)
				t.Cleanup(func() {
					if t.Failed() {
						b.emeState()
					}
				})
				lic.refuse.Store(true)
				before := lic.refused.Load()
				b.run("open the player", 30*time.Second, chromedp.Navigate(page))
				// The segments reach the media element, and nothing of them
				// decodes.
				b.waitJS("the player reports a fatal error", `eme.state().fatal.length > 0 && eme.state().buffered > 0`, 20*time.Second)
				got := b.emeState()
				if lic.refused.Load() == before {
					t.Error("the licence endpoint was not asked")
				}
				if !got.keyError() {
					t.Errorf("fatal errors %s, want a key system (DRM) error", got.Fatal)
				}
				if got.Time > 0 || got.Frames > 0 {
					t.Errorf("without the key: currentTime %.2f and %d frames decoded, want none", got.Time, got.Frames)
				}
			})
		}
	}
}

// servePlayers adds emePage (/player) and the players' scripts from
// node_modules (/lib/hls.js, /lib/shaka.js) to mux and serves it until the
// test ends.
func servePlayers(t *testing.T, mux *http.ServeMux) *httptest.Server {
	t.Helper()
	mux.HandleFunc("GET /lib/hls.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("..", "node_modules", "hls.js", "dist", "hls.js"))
	})
	mux.HandleFunc("GET /lib/shaka.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("..", "node_modules", "shaka-player", "dist", "shaka-player.compiled.js"))
	})
	mux.HandleFunc("GET /player", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(emePage))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, lib := range []string{"/lib/hls.js", "/lib/shaka.js"} {
		resp, err := http.Get(srv.URL + lib)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s (node_modules comes from `npm ci`)", lib, resp.Status)
		}
	}
	return srv
}

// in returns the browser for use by subtest t.
func (b *browser) in(t *testing.T) *browser {
	c := *b
	c.t = t
	return &c
}

// emeState is what the page reports of its player (emePage's eme.state()).
type emeState struct {
	Time     float64           `json:"time"`
	Buffered float64           `json:"buffered"`
	Ended    bool              `json:"ended"`
	Frames   int               `json:"frames"`
	Heights  []int             `json:"heights"`
	Fatal    []json.RawMessage `json:"fatal"`
	Other    []json.RawMessage `json:"other"`
}

// emeState reads and logs the page's player state, errors included.
func (b *browser) emeState() emeState {
	b.t.Helper()
	s := value[emeState](b, "read the player state", `eme.state()`)
	b.t.Logf("player: currentTime %.2f, buffered to %.2f, ended %v, %d video frames decoded, video heights %v",
		s.Time, s.Buffered, s.Ended, s.Frames, s.Heights)
	for _, e := range s.Fatal {
		b.t.Logf("player fatal error: %s", e)
	}
	for _, e := range s.Other {
		b.t.Logf("player error: %s", e)
	}
	return s
}

// keyError says whether a fatal error is a key system one: hls.js's
// ErrorTypes.KEY_SYSTEM_ERROR, or shaka's Error.Category.DRM (6).
func (s emeState) keyError() bool {
	for _, e := range s.Fatal {
		var v struct {
			Type     string `json:"type"`
			Category int    `json:"category"`
		}
		if json.Unmarshal(e, &v) == nil && (v.Type == "keySystemError" || v.Category == 6) {
			return true
		}
	}
	return false
}

// emePage plays ?src with ?player (hls: hls.js, dash: shaka; shaka from
// ?start seconds on, when given) and the ClearKey licence URL ?licence, and
// reports through window.eme.
const emePage = `<!doctype html>
<html><head><meta charset="utf-8"><title>EME</title></head>
<body>
<video muted autoplay playsinline width="320" height="240"></video>
<script src="/lib/hls.js"></script>
<script src="/lib/shaka.js"></script>
<script>
const q = new URLSearchParams(location.search);
const video = document.querySelector("video");
const fatal = [], other = [], heights = [];
let ended = false;
video.addEventListener("resize", () => { if (!heights.includes(video.videoHeight)) heights.push(video.videoHeight); });
video.addEventListener("ended", () => { ended = true; });
const note = (isFatal, e) => (isFatal ? fatal : other).push(e);
window.eme = {
  state: () => ({time: video.currentTime, ended, heights, fatal, other,
    buffered: video.buffered.length ? video.buffered.end(video.buffered.length - 1) : 0,
    frames: video.getVideoPlaybackQuality().totalVideoFrames}),
  switchRendition: () => -1,
};
if (q.get("player") === "hls") {
  const hls = new Hls({
    emeEnabled: true, debug: !!q.get("debug"),
    drmSystems: {"org.w3.clearkey": {licenseUrl: q.get("licence")}},
  });
  hls.on(Hls.Events.ERROR, (_, d) => note(d.fatal, {type: d.type, details: d.details,
    error: String(d.error || d.reason || ""), status: d.response ? d.response.code : undefined}));
  hls.attachMedia(video);
  hls.loadSource(q.get("src"));
  eme.switchRendition = () => {
    const i = hls.levels.findIndex((l) => !heights.includes(l.height));
    if (i >= 0) hls.currentLevel = i;
    return i < 0 ? -1 : hls.levels[i].height;
  };
} else {
  // shaka.util.Error: severity 2 is CRITICAL; data may nest the Error
  // that caused it (a licence request's HTTP status, say).
  const shakaError = (e) => ({category: e.category, code: e.code, data: JSON.stringify(e.data,
    (k, v) => ["stack", "headers", "initData"].includes(k) ? undefined : v)});
  const player = new shaka.Player();
  player.addEventListener("error", (ev) => note(ev.detail.severity === 2, shakaError(ev.detail)));
  player.configure({drm: {servers: {"org.w3.clearkey": q.get("licence")}}});
  // ?start: the presentation starts there, in seconds (shaka fetches
  // nothing before it).
  const start = q.get("start") ? Number(q.get("start")) : undefined;
  if (start !== undefined) player.configure({playRangeStart: start});
  player.attach(video).then(() => player.load(q.get("src"), start)).catch((e) => note(true, shakaError(e)));
  eme.switchRendition = () => {
    const t = player.getVariantTracks().find((t) => !heights.includes(t.height));
    if (!t) return -1;
    player.configure({abr: {enabled: false}});
    player.selectVariantTrack(t, true);
    return t.height;
  };
}
</script>
</body></html>
`

// clearKeyServer is a W3C ClearKey licence endpoint (EME, "Clear Key"):
// the CDM's request {"kids":[b64url...],"type":"temporary"} is answered
// with a JSON Web Key set of the keys it knows, {"keys":[{"kty":"oct",
// "kid":b64url,"k":b64url}],"type":"temporary"}; or refused with 403.
type clearKeyServer struct {
	keys            map[string][]byte // by key id, base64url
	refuse          atomic.Bool
	issued, refused atomic.Int64
}

func (s *clearKeyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		KIDs []string `json:"kids"`
		Type string   `json:"type"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil || len(req.KIDs) == 0 {
		http.Error(w, "not a ClearKey licence request", http.StatusBadRequest)
		return
	}
	if s.refuse.Load() {
		s.refused.Add(1)
		http.Error(w, "no pass, no key", http.StatusForbidden)
		return
	}
	type jwk struct {
		Kty string `json:"kty"`
		KID string `json:"kid"`
		K   string `json:"k"`
	}
	resp := struct {
		Keys []jwk  `json:"keys"`
		Type string `json:"type"`
	}{Type: req.Type}
	for _, kid := range req.KIDs {
		if k, ok := s.keys[strings.TrimRight(kid, "=")]; ok {
			resp.Keys = append(resp.Keys, jwk{Kty: "oct", KID: strings.TrimRight(kid, "="), K: b64url(k)})
		}
	}
	if len(resp.Keys) == 0 {
		http.Error(w, "unknown key ids", http.StatusNotFound)
		return
	}
	s.issued.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(resp)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// emeRendition is one rendition of the clear ladder FFmpeg wrote.
type emeRendition struct {
	ID        int    `xml:"id,attr"`
	Codecs    string `xml:"codecs,attr"`
	Bandwidth int    `xml:"bandwidth,attr"`
	Width     int    `xml:"width,attr"`
	Height    int    `xml:"height,attr"`
	MimeType  string `xml:"mimeType,attr"`
	segs      []emeSegment
}

type emeSegment struct {
	name string
	dur  float64
}

// emeLadder has FFmpeg write a clear CMAF ladder the way the packager
// does (internal/transcode: -f dash with FFmpeg's HLS playlists): two
// video renditions (r0 320x240, r1 160x120) and one AAC rendition (r2),
// 6 s in segments of 2 s. It returns the directory.
func emeLadder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, r := range []string{"r0", "r1", "r2"} {
		if err := os.Mkdir(filepath.Join(dir, r), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "6", "-map", "0:v", "-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
		"-b:v:0", "400k", "-s:v:1", "160x120", "-b:v:1", "150k", "-c:a", "aac", "-b:a", "64k",
		"-f", "dash", "-seg_duration", "2", "-use_template", "1", "-use_timeline", "0",
		"-adaptation_sets", "id=0,streams=v id=1,streams=a",
		"-init_seg_name", "r$RepresentationID$/init.m4s", "-media_seg_name", "r$RepresentationID$/seg-$Number%05d$.m4s",
		"-hls_playlist", "1", "-hls_master_name", "ffmpeg-master.m3u8",
		"manifest.mpd")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg (scripts/install-deps.sh installs it): %v\n%s", err, out)
	}
	return dir
}

// emeRenditions reads the renditions of FFmpeg's MPD, with their segments
// and durations from FFmpeg's media playlists.
func emeRenditions(t *testing.T, dir string) []emeRendition {
	t.Helper()
	var mpd struct {
		Reps []emeRendition `xml:"Period>AdaptationSet>Representation"`
	}
	if err := xml.Unmarshal(mustReadFile(t, filepath.Join(dir, "manifest.mpd")), &mpd); err != nil {
		t.Fatal(err)
	}
	for i := range mpd.Reps {
		r := &mpd.Reps[i]
		var dur float64
		for line := range strings.Lines(string(mustReadFile(t, filepath.Join(dir, fmt.Sprintf("media_%d.m3u8", r.ID))))) {
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "#EXTINF:"):
				v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
				dur, _ = strconv.ParseFloat(v, 64)
			case line != "" && !strings.HasPrefix(line, "#"):
				r.segs = append(r.segs, emeSegment{name: filepath.Base(line), dur: dur})
			}
		}
		if len(r.segs) == 0 {
			t.Fatalf("rendition %d has no segments", r.ID)
		}
	}
	return mpd.Reps
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWriteFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// emePackage encrypts the clear ladder in src into dst with one key for
// every rendition (track numbers 0, 1, 2 keep their IVs apart) and writes
// the HLS playlists and the MPD that signal it; licence is the ClearKey
// licence URL.
//
// One key, audio included, because hls.js 1.7.4 cannot play ClearKey
// audio under a key of its own: it reads no key id from ClearKey init data
// (EMEController.onMediaEncrypted parses only FairPlay, PlayReady and
// Widevine's), so the audio init segment's "encrypted" event goes to the
// first active key, the video's ("encrypted-event-no-match"), the audio key
// is never asked for, and playback waits for it at 0 s without an error.
// shaka plays a second audio key.
func emePackage(t *testing.T, src, dst string, scheme cenc.Scheme, key cenc.Key, licence string) {
	t.Helper()
	reps := emeRenditions(t, src)
	keyTag := hlsKeyTag(scheme, key, licence)
	for _, r := range reps {
		rdir := fmt.Sprintf("r%d", r.ID)
		init, track, err := cenc.ProtectInit(mustReadFile(t, filepath.Join(src, rdir, "init.m4s")), scheme, key, uint16(r.ID))
		if err != nil {
			t.Fatalf("%s: %v", rdir, err)
		}
		mustWriteFile(t, filepath.Join(dst, rdir, "init.m4s"), init)
		for seq, s := range r.segs {
			enc, err := track.EncryptSegment(mustReadFile(t, filepath.Join(src, rdir, s.name)), uint32(seq+1))
			if err != nil {
				t.Fatalf("%s/%s: %v", rdir, s.name, err)
			}
			mustWriteFile(t, filepath.Join(dst, rdir, s.name), enc)
		}
		mustWriteFile(t, filepath.Join(dst, rdir, "index.m3u8"), hlsMediaPlaylist(keyTag, r.segs))
	}
	mustWriteFile(t, filepath.Join(dst, "master.m3u8"), hlsMaster(reps))
	mpd, err := dashProtect(mustReadFile(t, filepath.Join(src, "manifest.mpd")), scheme, key)
	if err != nil {
		t.Fatal(err)
	}
	mustWriteFile(t, filepath.Join(dst, "manifest.mpd"), mpd)
}

// hlsKeyTag is the EXT-X-KEY of an encrypted rendition, for hls.js 1.7
// with emeEnabled and drmSystems["org.w3.clearkey"].licenseUrl (read in
// node_modules/hls.js/dist/hls.js):
//   - METHOD: SAMPLE-AES-CTR for cenc, SAMPLE-AES for cbcs (RFC 8216bis);
//     with a KEYFORMAT other than "identity", hls.js hands both to EME
//     (LevelKey.isSupported; KeyLoader.load -> loadKeyEME) and decrypts
//     nothing itself.
//   - KEYFORMAT="org.w3.clearkey" selects the ClearKey key system
//     (keySystemFormatToKeySystemDomain); hls.js only tries key systems
//     that both the playlist and its drmSystems config name.
//   - KEYID=0x<hex>: the key id (LevelKey constructor, which reads only a
//     0x-prefixed value), matched against the CDM's key statuses; without
//     it hls.js reads tenc's default KID (KeyLoader.loadKeyEME).
//   - URI: hls.js takes the licence URL from its config, not from here;
//     key sessions and their requests are keyed by URI
//     (EMEController.getSessionForKey, getMediaKeySessionContext), so
//     every rendition under one key, audio included, gives the same URI
//     and one licence request serves them all.
//
// The licence request's init data is the Common SystemID pssh that
// cenc.ProtectInit writes in the init segment: hls.js makes none of its
// own for ClearKey. It skips the request while it has no init data
// (EMEController.generateRequestWithPreferredKeySession: "Skipping
// key-session request ... (no initData)") and sends the one of the media
// element's "encrypted" event (EMEController.onMediaEncrypted), which
// Chromium fires for pssh boxes only: without the box, playback stalls at
// 0 s with no licence request and no error.
func hlsKeyTag(scheme cenc.Scheme, key cenc.Key, uri string) string {
	method := "SAMPLE-AES-CTR"
	if scheme == cenc.CBCS {
		method = "SAMPLE-AES"
	}
	return fmt.Sprintf(`#EXT-X-KEY:METHOD=%s,URI=%q,KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1",KEYID=0x%s`,
		method, uri, key.IDHex())
}

// hlsMediaPlaylist is our final media playlist of a rendition
// (internal/transcode renderMediaPlaylist) with the key tag before the
// EXT-X-MAP, so that it applies to the init segment and every segment.
func hlsMediaPlaylist(keyTag string, segs []emeSegment) []byte {
	target := 0
	for _, s := range segs {
		target = max(target, int(s.dur+0.5))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-PLAYLIST-TYPE:VOD\n", target)
	b.WriteString("#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	b.WriteString(keyTag + "\n")
	b.WriteString("#EXT-X-MAP:URI=\"init.m4s\"\n")
	for _, s := range segs {
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s\n", s.dur, s.name)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return []byte(b.String())
}

// hlsMaster is our master playlist (internal/transcode renderMaster): the
// audio rendition as an EXT-X-MEDIA group, one STREAM-INF per video
// rendition. Nothing in it is about encryption: hls.js learns of the key
// from the media playlists.
func hlsMaster(reps []emeRendition) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	var audio *emeRendition
	for i, r := range reps {
		if strings.HasPrefix(r.MimeType, "audio/") {
			audio = &reps[i]
			fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a%d\",NAME=\"a%d\",DEFAULT=YES,AUTOSELECT=YES,URI=\"r%d/index.m3u8\"\n", r.ID, r.ID, r.ID)
		}
	}
	for _, r := range reps {
		if !strings.HasPrefix(r.MimeType, "video/") {
			continue
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,RESOLUTION=%dx%d,CODECS=\"%s,%s\",AUDIO=\"a%d\"\nr%d/index.m3u8\n",
			r.Bandwidth+audio.Bandwidth, r.Width, r.Height, r.Codecs, audio.Codecs, audio.ID, r.ID)
	}
	return []byte(b.String())
}

// dashProtect adds to FFmpeg's MPD what shaka-player 5.2 needs to play
// the encrypted set with drm.servers["org.w3.clearkey"] (read in
// node_modules/shaka-player/dist/shaka-player.compiled.debug.js), in every
// AdaptationSet:
//   - the mp4protection ContentProtection: value is the scheme ("cenc" or
//     "cbcs", the encryptionScheme shaka asks the CDM for) and
//     cenc:default_KID the key id as a UUID
//     (dash.ContentProtection.parseFromAdaptationSet);
//   - the ClearKey system's ContentProtection (urn:uuid:e2719d58-...,
//     DrmUtils.getUuidMap -> "org.w3.clearkey"). Without it shaka offers
//     every configured key system but ClearKey and fails with 6001
//     REQUESTED_KEY_SYSTEM_CONFIG_UNAVAILABLE. With it, shaka makes the
//     licence request's init data itself, a Common SystemID pssh of the
//     default_KIDs (ContentProtection.convertElements_ ->
//     getInitDataClearKey_), so DASH does not need the init segment's pssh.
func dashProtect(mpd []byte, scheme cenc.Scheme, key cenc.Key) ([]byte, error) {
	id := key.IDHex()
	uuid := id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32]
	cp := fmt.Sprintf(`<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="%s" cenc:default_KID="%s"/>`+
		`<ContentProtection schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" value="ClearKey1.0"/>`, scheme, uuid)
	var out bytes.Buffer
	sets := 0
	for line := range strings.Lines(string(mpd)) {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "<MPD ") {
			line = strings.Replace(line, "<MPD ", `<MPD xmlns:cenc="urn:mpeg:cenc:2013" `, 1)
		}
		out.WriteString(line)
		if strings.HasPrefix(t, "<AdaptationSet ") {
			out.WriteString(cp + "\n")
			sets++
		}
	}
	if sets == 0 {
		return nil, fmt.Errorf("mpd: no AdaptationSet")
	}
	return out.Bytes(), nil
}
