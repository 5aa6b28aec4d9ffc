package streaming_test

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/services/streaming"
)

func TestTokens(t *testing.T) {
	store := encoded(t)
	e := newEnv(t, store, nil, readyVideo("vid_1", true), readyVideo("vid_2", true))
	now := e.clock.Now()
	good := e.token(t, "vid_1")
	tampered := []byte(good)
	i := strings.LastIndexByte(good, '.') + 5
	tampered[i] ^= 0x01
	if tampered[i] == good[i] {
		t.Fatal("tamper failed")
	}
	session := e.sign(t, e.key, &authtoken.SessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: testAddr,
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Type: authtoken.TypeSession, SessionID: "ses_1",
	})
	expired := playbackClaims(now.Add(-2*time.Hour), "vid_1", time.Hour)
	seg := "/play/vid_1/180p/seg-00001.m4s"
	cases := []struct {
		name string
		path string
		hdr  []string
		want int
	}{
		{"query token", seg + "?token=" + good, nil, 200},
		{"bearer token", seg, []string{"Authorization", "Bearer " + good}, 200},
		{"none", seg, nil, 401},
		{"none on manifest", "/play/vid_1/master.m3u8", nil, 401},
		{"expired", seg + "?token=" + e.sign(t, e.key, expired), nil, 403},
		{"another video's", seg + "?token=" + e.token(t, "vid_2"), nil, 403},
		{"tampered", seg + "?token=" + string(tampered), nil, 403},
		{"rotated-out key", seg + "?token=" + e.sign(t, otherKey(t), playbackClaims(now, "vid_1", time.Hour)), nil, 403},
		{"session token", seg + "?token=" + session, nil, 403},
		{"garbage", seg + "?token=abc", nil, 403},
		{"bearer garbage", seg, []string{"Authorization", "Bearer x.y.z"}, 403},
		{"unknown video", "/play/vid_9/master.m3u8?token=" + good, nil, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, _ := get(t, e.srv.URL+c.path, c.hdr...)
			if res.StatusCode != c.want {
				t.Errorf("GET %s: status %d, want %d", c.name, res.StatusCode, c.want)
			}
			if c.want == 401 && res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("metadata down", func(t *testing.T) {
		down := newEnv(t, store, nil)
		down.videos.fail = errors.New("metadata down")
		if res, _ := get(t, down.srv.URL+seg+"?token="+good); res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", res.StatusCode)
		}
	})
	t.Run("not servable", func(t *testing.T) {
		for _, st := range []int32{1, 4, 5} { // UPLOADING, FAILED, DELETED
			v := readyVideo("vid_1", false)
			v.Status = metadatav1.VideoStatus(st)
			ns := newEnv(t, store, nil, v)
			if res, _ := get(t, ns.srv.URL+"/play/vid_1/master.m3u8"); res.StatusCode != 404 {
				t.Errorf("status %v: %d, want 404", v.Status, res.StatusCode)
			}
		}
	})
	t.Run("CORS preflight", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, e.srv.URL+seg, nil)
		req.Header.Set("Origin", "https://player.example")
		req.Header.Set("Access-Control-Request-Headers", "authorization, range")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
		}
		if res, _ := get(t, e.srv.URL+seg+"?token="+good); res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Error("GET without Access-Control-Allow-Origin")
		}
	})
	t.Run("method", func(t *testing.T) {
		res, err := http.Post(e.srv.URL+seg+"?token="+good, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", res.StatusCode)
		}
	})
	t.Run("public video needs none", func(t *testing.T) {
		pub := newEnv(t, store, nil, readyVideo("vid_1", false))
		res, b := get(t, pub.srv.URL+"/play/vid_1/master.m3u8")
		if res.StatusCode != 200 || strings.Contains(string(b), "token=") {
			t.Fatalf("public master: %d\n%s", res.StatusCode, b)
		}
		if res, _ := get(t, pub.srv.URL+seg); res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Cache-Control"), "public,") {
			t.Fatalf("public segment: %d %q", res.StatusCode, res.Header.Get("Cache-Control"))
		}
	})
}

func TestTraversal(t *testing.T) {
	store := encoded(t)
	// A secret next to the store, and symlinks in a second video's
	// directory pointing at it.
	secretDir := filepath.Join(media.dir, "secret")
	if err := os.MkdirAll(secretDir, 0o755); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	const secret = "TOP-SECRET-CONTENT"
	for _, n := range []string{"master.m3u8", "init.m4s", "seg-00001.m4s", "passwd"} {
		if err := os.WriteFile(filepath.Join(secretDir, n), []byte(secret), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	symDir := filepath.Join(store.Dir(), "videos", "vid_sym")
	_ = os.RemoveAll(symDir)
	if err := os.MkdirAll(filepath.Join(symDir, "180p"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(symDir) })
	for link, target := range map[string]string{
		"master.m3u8":        filepath.Join(secretDir, "master.m3u8"),
		"180p/seg-00001.m4s": filepath.Join(secretDir, "seg-00001.m4s"),
		"evil":               secretDir,
		"180p/init.m4s":      "../../../../secret/init.m4s",
		"storyboard.vtt":     "/etc/passwd",
	} {
		if err := os.Symlink(target, filepath.Join(symDir, link)); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, store, nil, readyVideo("vid_1", true), readyVideo("vid_sym", false))
	tok := "?token=" + e.token(t, "vid_1")
	// Sanity: the handler does serve a good path on both servers.
	for _, srv := range []*httptest.Server{e.raw, e.srv} {
		if code, _ := rawGet(t, srv, "/play/vid_1/master.m3u8"+tok); code != 200 {
			t.Fatalf("good path: %d", code)
		}
	}
	attacks := []string{
		"/play/vid_1/../../../../etc/passwd",
		"/play/vid_1/180p/../../../secret/passwd",
		"/play/vid_1/180p/../master.m3u8",
		"/play/vid_1/./master.m3u8",
		"/play/vid_1/%2e%2e/%2e%2e/secret/passwd",
		"/play/vid_1/%2E%2E%2F%2E%2E%2Fsecret%2Fpasswd",
		"/play/vid_1/180p%2f..%2f..%2f..%2fsecret%2fmaster.m3u8",
		"/play/vid_1/%252e%252e/%252e%252e/secret/passwd",
		"/play/vid_1/%2e%2e%5c%2e%2e%5csecret%5cpasswd",
		"/play/vid_1/..%5c..%5csecret%5cmaster.m3u8",
		"/play/vid_1/master.m3u8%00",
		"/play/vid_1/180p/seg-00001.m4s%00.jpg",
		"/play/vid_1//etc/passwd",
		"/play//etc/passwd",
		"/play/%2fetc%2fpasswd/master.m3u8",
		"/play/../secret/master.m3u8",
		"/play/..%2fsecret/master.m3u8",
		"/play/vid_1/180p/seg-1.m4s",
		"/play/vid_1/180P/playlist.m3u8",
		"/play/vid_1/MASTER.m3u8",
		"/play/vid_1/ffmpeg-master.m3u8",
		"/play/vid_1/source",
		"/play/vid_1/180p/seg-00001.m4s/",
		"/play/vid_1/180p/sub/seg-00001.m4s",
		"/play/vid_1",
		"/play/",
		"/play/vid_sym/master.m3u8",
		"/play/vid_sym/180p/seg-00001.m4s",
		"/play/vid_sym/180p/init.m4s",
		"/play/vid_sym/evil/seg-00001.m4s",
		"/play/vid_sym/evil/init.m4s",
		"/play/vid_sym/storyboard.vtt",
	}
	for _, a := range attacks {
		for _, srv := range []*httptest.Server{e.raw, e.srv} {
			code, body := rawGet(t, srv, a+tok)
			if strings.Contains(body, secret) || strings.Contains(body, "root:") {
				t.Errorf("GET %s: leaked a file outside the media root (status %d)", a, code)
			}
			// Behind a ServeMux, dot segments are answered with a
			// redirect to the cleaned path, which nothing serves.
			redirect := code == 301 || code == 307 || code == 308
			if code != 400 && code != 404 && (srv != e.srv || !redirect) {
				t.Errorf("GET %s (raw handler: %v): status %d, want 400 or 404", a, srv == e.raw, code)
			}
		}
	}
	// Backslashes and NUL bytes sent raw are refused by the HTTP server
	// itself or by the handler.
	for _, a := range []string{"/play/vid_1/..\\..\\secret\\passwd", "/play/vid_1/master.m3u8\x00"} {
		code, body := rawGet(t, e.raw, a)
		if strings.Contains(body, secret) || (code != 400 && code != 404) {
			t.Errorf("GET %q: status %d", a, code)
		}
	}
}

func TestRangeETagAndHeaders(t *testing.T) { testRangeETagAndHeaders(t, encoded(t), nil) }

// TestRangeETagAndHeadersOnS3: the same from a store without local files
// (S3 on a real server), where segments are served with ranged gets, and
// through the segment cache.
func TestRangeETagAndHeadersOnS3(t *testing.T) {
	store := onS3(t, encoded(t))
	t.Run("ranged-gets", func(t *testing.T) { testRangeETagAndHeaders(t, store, nil) })
	t.Run("segment-cache", func(t *testing.T) {
		dir := t.TempDir()
		testRangeETagAndHeaders(t, store, func(c *streaming.Config) { c.SegmentCacheDir = dir })
	})
}

func testRangeETagAndHeaders(t *testing.T, store blob.Store, adjust func(*streaming.Config)) {
	e := newEnvWith(t, adjust, store, nil, readyVideo("vid_1", true))
	tok := e.token(t, "vid_1")
	seg := e.srv.URL + "/play/vid_1/180p/seg-00002.m4s?token=" + tok
	want := readBlob(t, store, "videos/vid_1/180p/seg-00002.m4s")
	res, b := get(t, seg)
	if res.StatusCode != 200 || string(b) != string(want) {
		t.Fatalf("segment: %d, %d bytes, want %d", res.StatusCode, len(b), len(want))
	}
	if ct := res.Header.Get("Content-Type"); ct != "video/mp4" {
		t.Errorf("segment Content-Type %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "private, max-age=31536000, immutable" {
		t.Errorf("gated segment Cache-Control %q", cc)
	}
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("ETag %q, Accept-Ranges %q", etag, res.Header.Get("Accept-Ranges"))
	}

	res, b = get(t, seg, "Range", "bytes=10-109")
	if res.StatusCode != http.StatusPartialContent || string(b) != string(want[10:110]) {
		t.Errorf("range: %d, %d bytes", res.StatusCode, len(b))
	}
	if cr := res.Header.Get("Content-Range"); cr != "bytes 10-109/"+itoa(len(want)) {
		t.Errorf("Content-Range %q", cr)
	}
	res, b = get(t, seg, "Range", "bytes=-50")
	if res.StatusCode != 206 || string(b) != string(want[len(want)-50:]) {
		t.Errorf("suffix range: %d", res.StatusCode)
	}
	if res, _ = get(t, seg, "Range", "bytes=99999999-"); res.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable range: %d", res.StatusCode)
	}
	if res, b = get(t, seg, "If-None-Match", etag); res.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("If-None-Match segment: %d", res.StatusCode)
	}
	if res, _ = get(t, seg, "If-None-Match", `"other"`); res.StatusCode != 200 {
		t.Errorf("If-None-Match other: %d", res.StatusCode)
	}

	// HEAD
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, seg, nil)
	hres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	if hres.StatusCode != 200 || hres.ContentLength != int64(len(want)) {
		t.Errorf("HEAD: %d, length %d", hres.StatusCode, hres.ContentLength)
	}

	types := map[string]string{
		"master.m3u8":        "application/vnd.apple.mpegurl",
		"180p/playlist.m3u8": "application/vnd.apple.mpegurl",
		"manifest.mpd":       "application/dash+xml",
		"180p/init.m4s":      "video/mp4",
		"poster.jpg":         "image/jpeg",
		"storyboard.jpg":     "image/jpeg",
		"storyboard.vtt":     "text/vtt; charset=utf-8",
	}
	for rel, ct := range types {
		res, _ := get(t, e.srv.URL+"/play/vid_1/"+rel+"?token="+tok)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != ct {
			t.Errorf("%s: %d %q, want %q", rel, res.StatusCode, res.Header.Get("Content-Type"), ct)
		}
	}

	// Manifests: their own ETag, 304, and READY max-age.
	m := e.srv.URL + "/play/vid_1/180p/playlist.m3u8?token=" + tok
	res, _ = get(t, m)
	if cc := res.Header.Get("Cache-Control"); cc != "private, max-age=60" {
		t.Errorf("ready playlist Cache-Control %q", cc)
	}
	if res2, _ := get(t, m, "If-None-Match", res.Header.Get("ETag")); res2.StatusCode != 304 {
		t.Errorf("manifest If-None-Match: %d", res2.StatusCode)
	}
	// Another token gives another rewritten body, so another ETag.
	e.clock.Add(time.Second)
	res3, _ := get(t, e.srv.URL+"/play/vid_1/180p/playlist.m3u8?token="+e.token(t, "vid_1"))
	if res3.Header.Get("ETag") == res.Header.Get("ETag") {
		t.Error("same ETag for manifests rewritten with different tokens")
	}

	// While encoding: no-cache.
	v := readyVideo("vid_1", true)
	v.Status = 2 // PROCESSING
	live := newEnvWith(t, adjust, store, nil, v)
	res, _ = get(t, live.srv.URL+"/play/vid_1/master.m3u8?token="+live.token(t, "vid_1"))
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("live master: %d %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}

	// Metadata is not asked for every segment.
	e.videos.mu.Lock()
	before := e.videos.calls
	e.videos.mu.Unlock()
	for range 20 {
		get(t, seg)
	}
	e.videos.mu.Lock()
	after := e.videos.calls
	e.videos.mu.Unlock()
	if after-before > 1 {
		t.Errorf("%d metadata calls for 20 segment requests", after-before)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestManifestRewriting fetches every manifest with a token, parses it, and
// checks that every URI carries the token and resolves to a 200.
func TestManifestRewriting(t *testing.T) { testManifestRewriting(t, encoded(t)) }

func TestManifestRewritingOnS3(t *testing.T) { testManifestRewriting(t, onS3(t, encoded(t))) }

func testManifestRewriting(t *testing.T, store blob.Store) {
	e := newEnv(t, store, nil, readyVideo("vid_1", true))
	tok := e.token(t, "vid_1")
	fetched := map[string]bool{}
	var visit func(u string)
	visit = func(u string) {
		if fetched[u] {
			return
		}
		fetched[u] = true
		res, b := get(t, u)
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %d", u, res.StatusCode)
			return
		}
		base, _ := url.Parse(u)
		var refs []string
		switch {
		case strings.HasSuffix(base.Path, ".m3u8"):
			refs = hlsURIs(t, string(b))
		case strings.HasSuffix(base.Path, ".mpd"):
			refs = mpdURIs(t, b)
		case strings.HasSuffix(base.Path, ".vtt"):
			refs = vttURIs(string(b))
		default:
			return
		}
		if len(refs) == 0 {
			t.Errorf("%s references nothing", base.Path)
		}
		for _, r := range refs {
			ru, err := url.Parse(r)
			if err != nil || ru.Query().Get("token") != tok {
				t.Errorf("%s: URI %q does not carry the token", base.Path, r)
				continue
			}
			if strings.Contains(r, "$") { // DASH template
				r = strings.ReplaceAll(strings.ReplaceAll(r, "$Number%05d$", "00001"), "$RepresentationID$", "0")
			}
			ru, _ = url.Parse(r)
			ru.Fragment = ""
			visit(base.ResolveReference(ru).String())
		}
	}
	for _, m := range []string{"master.m3u8", "manifest.mpd", "storyboard.vtt"} {
		visit(e.srv.URL + "/play/vid_1/" + m + "?token=" + tok)
	}
	var segs, inits int
	for u := range fetched {
		segs += b2i(strings.Contains(u, "/seg-"))
		inits += b2i(strings.Contains(u, "/init.m4s"))
	}
	if segs < 2 || inits < 2 || !fetched[e.srv.URL+"/play/vid_1/storyboard.jpg?token="+tok] {
		t.Errorf("walked %d segments, %d inits, %d URLs in all", segs, inits, len(fetched))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func hlsURIs(t *testing.T, s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			for _, part := range strings.Split(line, ",") {
				if i := strings.Index(part, `URI="`); i >= 0 {
					v := part[i+5:]
					out = append(out, v[:strings.IndexByte(v, '"')])
				}
			}
		default:
			out = append(out, line)
		}
	}
	return out
}

func mpdURIs(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	d := xml.NewDecoder(strings.NewReader(string(b)))
	inBase := false
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch el := tok.(type) {
		case xml.StartElement:
			inBase = el.Name.Local == "BaseURL"
			for _, a := range el.Attr {
				switch a.Name.Local {
				case "initialization", "media", "sourceURL":
					out = append(out, a.Value)
				}
			}
		case xml.CharData:
			if inBase && strings.TrimSpace(string(el)) != "" {
				out = append(out, strings.TrimSpace(string(el)))
			}
		case xml.EndElement:
			inBase = false
		}
	}
	return out
}

func vttURIs(s string) []string {
	var out []string
	lines := strings.Split(s, "\n")
	for i := 1; i < len(lines); i++ {
		if strings.Contains(lines[i-1], "-->") && strings.TrimSpace(lines[i]) != "" {
			out = append(out, strings.TrimSpace(lines[i]))
		}
	}
	return out
}

var _ blob.Store = (*blob.Local)(nil)

// Streaming checks the origin too: a gated video against the list in its
// token (the one the edge checked), a public video, which needs no token,
// against its current list. A refusal is 403 with no CORS headers.
func TestPlayOrigins(t *testing.T) {
	store := encoded(t)
	gated := readyVideo("vid_1", true)
	gated.AllowedOrigins = []string{"https://stale.example"} // the token's list wins
	public := readyVideo("vid_1", false)
	public.AllowedOrigins = []string{"https://site.example"}
	e := newEnv(t, store, nil, gated)
	pub := newEnv(t, store, nil, public)
	c := playbackClaims(e.clock.Now(), "vid_1", 10*time.Minute)
	c.AllowedOrigins = []string{"https://site.example"}
	tok := e.sign(t, e.key, c)
	seg1 := "/play/vid_1/180p/seg-00001.m4s?token=" + tok
	seg2 := "public:/play/vid_1/180p/seg-00001.m4s"
	for _, tt := range []struct {
		name, path string
		hdr        []string
		want       int
	}{
		{"gated, listed origin", seg1, []string{"Origin", "https://site.example"}, 200},
		{"gated, the video's newer list does not apply to the token", seg1, []string{"Origin", "https://stale.example"}, 403},
		{"gated, other origin", seg1, []string{"Origin", "https://evil.example"}, 403},
		{"gated, Referer of another origin", seg1, []string{"Referer", "https://evil.example/x"}, 403},
		{"gated, no origin at all", seg1, nil, 200},
		{"gated, the platform's own page", seg1, []string{"Referer", "http://gw.example/embed/vid_1", "X-Forwarded-Host", "gw.example"}, 200},
		{"gated, a forwarded host is not any host", seg1, []string{"Referer", "http://evil.example/", "X-Forwarded-Host", "gw.example"}, 403},
		{"public, listed origin", seg2, []string{"Origin", "https://site.example"}, 200},
		{"public, other origin", seg2, []string{"Origin", "https://evil.example"}, 403},
		{"public, null origin", "public:/play/vid_1/master.m3u8", []string{"Origin", "null"}, 403},
		{"public, no origin at all", seg2, nil, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := e.srv.URL
			path, isPublic := strings.CutPrefix(tt.path, "public:")
			if isPublic {
				base = pub.srv.URL
			}
			res, body := get(t, base+path, tt.hdr...)
			if res.StatusCode != tt.want {
				t.Fatalf("status %d (%s), want %d", res.StatusCode, body, tt.want)
			}
			if tt.want == 403 && (res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Streamgate-Origin-Refused") == "" || !strings.Contains(string(body), "may not play")) {
				t.Errorf("refusal: Allow-Origin %q, body %q", res.Header.Get("Access-Control-Allow-Origin"), body)
			}
		})
	}
}
