package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The media checks read what streaming serves as a player would: every
// segment of every rendition, each decoded by FFmpeg with its init
// segment. Segments of encrypted renditions are fetched without the token
// (they are public bytes) and decoded with the key the licence endpoint
// releases to the token's wallet; once each, they must not decode without
// it.

var (
	hlsMap   = regexp.MustCompile(`^#EXT-X-MAP:URI="([^"]+)"`)
	hlsKey   = regexp.MustCompile(`^#EXT-X-KEY:.*METHOD=([A-Z0-9-]+)`)
	hlsKeyID = regexp.MustCompile(`KEYID=0x([0-9a-fA-F]{32})`)
	mpdKID   = regexp.MustCompile(`cenc:default_KID="([0-9a-fA-F-]{36})"`)
)

// licenceURL is the key endpoint of the video a manifest URL is under
// (/play/<video>/licence), with the manifest's token.
func licenceURL(t *testing.T, manifest string) string {
	t.Helper()
	u, err := url.Parse(manifest)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "play" {
		t.Fatalf("%s is not under /play/<video>/", manifest)
	}
	u.Path = "/play/" + parts[1] + "/licence"
	return u.String()
}

// requestKeys sends a ClearKey licence request for kids (hex) and returns
// the status and the keys released, by hex key id.
func requestKeys(t *testing.T, licence string, kids ...string) (int, map[string][]byte) {
	t.Helper()
	req := struct {
		KIDs []string `json:"kids"`
		Type string   `json:"type"`
	}{Type: "temporary"}
	for _, k := range kids {
		b, err := hex.DecodeString(k)
		if err != nil {
			t.Fatal(err)
		}
		req.KIDs = append(req.KIDs, base64.RawURLEncoding.EncodeToString(b))
	}
	body, _ := json.Marshal(req)
	res, err := http.Post(licence, "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", licence, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("licence answer %d with Cache-Control %q, want no-store", res.StatusCode, cc)
	}
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, nil
	}
	var set struct {
		Keys []struct{ KID, K string } `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("licence answer %q: %v", b, err)
	}
	out := map[string][]byte{}
	for _, k := range set.Keys {
		kid, err1 := base64.RawURLEncoding.DecodeString(k.KID)
		key, err2 := base64.RawURLEncoding.DecodeString(k.K)
		if err1 != nil || err2 != nil || len(kid) != 16 || len(key) != 16 {
			t.Fatalf("licence answer has a bad key %+v", k)
		}
		out[hex.EncodeToString(kid)] = key
	}
	return res.StatusCode, out
}

// mediaCheck counts what checkHLS and checkDASH saw.
type mediaCheck struct {
	segments  int
	encrypted int
}

// checkHLS fetches the master playlist, every media playlist and every
// segment, and has FFmpeg decode each segment with its init segment (and
// its key, asked of the licence endpoint, when it is encrypted).
func checkHLS(t *testing.T, master string) mediaCheck {
	t.Helper()
	var mc mediaCheck
	body := fetch(t, master)
	variants := segmentLine.FindAllString(body, -1)
	if len(variants) == 0 {
		t.Fatalf("HLS master %s lists no variants:\n%s", master, body)
	}
	keys := map[string][]byte{}
	for _, v := range variants {
		media := resolve(t, master, v)
		playlist := fetch(t, media)
		if !strings.Contains(playlist, "#EXT-X-ENDLIST") {
			t.Fatalf("HLS media playlist %s has not ended:\n%s", media, playlist)
		}
		var init []byte
		var kid string // of the current key; "" in the clear
		for line := range strings.Lines(playlist) {
			line = strings.TrimSpace(line)
			if m := hlsMap.FindStringSubmatch(line); m != nil {
				init = []byte(fetchMedia(t, media, m[1], kid != ""))
				continue
			}
			if m := hlsKey.FindStringSubmatch(line); m != nil {
				kid = ""
				if m[1] != "NONE" {
					id := hlsKeyID.FindStringSubmatch(line)
					if id == nil {
						t.Fatalf("HLS %s: an EXT-X-KEY without KEYID: %s", media, line)
					}
					kid = strings.ToLower(id[1])
				}
				continue
			}
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			seg := append(slices.Clone(init), fetchMedia(t, media, line, kid != "")...)
			mc.segments++
			if kid == "" {
				decodable(t, "HLS "+line, seg, nil)
				continue
			}
			mc.encrypted++
			key := haveKey(t, keys, licenceURL(t, master), kid)
			if mc.encrypted == 1 && decodes(t, seg, nil) {
				t.Errorf("HLS %s: an encrypted segment decodes without its key", line)
			}
			decodable(t, "HLS "+line, seg, key)
		}
	}
	return mc
}

// haveKey returns the key kid, asking the licence endpoint once.
func haveKey(t *testing.T, keys map[string][]byte, licence, kid string) []byte {
	t.Helper()
	if k, ok := keys[kid]; ok {
		return k
	}
	status, got := requestKeys(t, licence, kid)
	if status != http.StatusOK || got[kid] == nil {
		t.Fatalf("licence %s for key %s: %d %v", licence, kid, status, got)
	}
	keys[kid] = got[kid]
	return got[kid]
}

// fetchMedia fetches a segment referenced from a manifest. Encrypted
// segments are fetched as the manifest names them, without a token, and
// must be cacheable by anyone.
func fetchMedia(t *testing.T, manifest, ref string, encrypted bool) string {
	t.Helper()
	if !encrypted {
		return fetch(t, resolve(t, manifest, ref))
	}
	if strings.Contains(ref, "token=") {
		t.Fatalf("an encrypted segment's URI carries the token: %s", ref)
	}
	base, _, _ := strings.Cut(manifest, "?")
	u := resolve(t, base, ref)
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s without a token: %s %v\n%s", u, res.Status, err, b)
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "public") || !strings.Contains(cc, "immutable") {
		t.Errorf("encrypted segment %s: Cache-Control %q, want public, immutable", u, cc)
	}
	return string(b)
}

// checkDASH reads the MPD as a player would (SegmentTemplate with a
// fixed duration, as the packager writes it), fetches every segment of
// every representation, and has FFmpeg decode each with its init segment
// (and the key of the MPD's default_KID when it is protected).
func checkDASH(t *testing.T, mpd string) mediaCheck {
	t.Helper()
	var mc mediaCheck
	body := fetch(t, mpd)
	total := regexp.MustCompile(`mediaPresentationDuration="PT([^"]+)"`).FindStringSubmatch(body)
	if total == nil {
		t.Fatalf("MPD %s has no mediaPresentationDuration:\n%s", mpd, body)
	}
	length, err := time.ParseDuration(strings.ToLower(total[1]))
	if err != nil {
		t.Fatalf("mediaPresentationDuration %q: %v", total[1], err)
	}
	var key []byte
	if m := mpdKID.FindStringSubmatch(body); m != nil {
		kid := strings.ToLower(strings.ReplaceAll(m[1], "-", ""))
		key = haveKey(t, map[string][]byte{}, licenceURL(t, mpd), kid)
	}
	reps := regexp.MustCompile(`(?s)<Representation id="([^"]+)".*?<SegmentTemplate ([^>]*)>`).FindAllStringSubmatch(body, -1)
	if len(reps) == 0 {
		t.Fatalf("MPD %s has no representation with a SegmentTemplate:\n%s", mpd, body)
	}
	attr := func(tmpl, name string) string {
		m := regexp.MustCompile(`\b` + name + `="([^"]*)"`).FindStringSubmatch(tmpl)
		if m == nil {
			t.Fatalf("SegmentTemplate %s has no %s", tmpl, name)
		}
		return strings.ReplaceAll(m[1], "&amp;", "&")
	}
	number := regexp.MustCompile(`\$Number(%0(\d+)d)?\$`)
	for _, r := range reps {
		id, tmpl := r[1], r[2]
		timescale, _ := strconv.ParseFloat(attr(tmpl, "timescale"), 64)
		duration, _ := strconv.ParseFloat(attr(tmpl, "duration"), 64)
		start, _ := strconv.Atoi(attr(tmpl, "startNumber"))
		if timescale <= 0 || duration <= 0 {
			t.Fatalf("SegmentTemplate %s: no usable timescale and duration", tmpl)
		}
		count := int((length.Seconds()*timescale + duration - 1) / duration)
		initBytes := []byte(fetchMedia(t, mpd, strings.ReplaceAll(attr(tmpl, "initialization"), "$RepresentationID$", id), key != nil))
		for n := start; n < start+count; n++ {
			media := strings.ReplaceAll(attr(tmpl, "media"), "$RepresentationID$", id)
			media = number.ReplaceAllStringFunc(media, func(m string) string {
				if w := number.FindStringSubmatch(m)[2]; w != "" {
					width, _ := strconv.Atoi(w)
					return fmt.Sprintf("%0*d", width, n)
				}
				return strconv.Itoa(n)
			})
			mc.segments++
			if key != nil {
				mc.encrypted++
			}
			decodable(t, "DASH "+media, append(slices.Clone(initBytes), fetchMedia(t, mpd, media, key != nil)...), key)
		}
	}
	return mc
}

// decodable fails the test unless FFmpeg decodes media (an init segment
// and a media segment) without an error, with key when not nil.
func decodable(t *testing.T, what string, media, key []byte) {
	t.Helper()
	if out, ok := decode(t, media, key); !ok {
		t.Fatalf("ffmpeg cannot decode %s (key %x): %s", what, key, out)
	}
}

// decodes reports whether FFmpeg decodes media without an error.
func decodes(t *testing.T, media, key []byte) bool {
	t.Helper()
	_, ok := decode(t, media, key)
	return ok
}

func decode(t *testing.T, media, key []byte) (string, bool) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(f, media, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-nostdin", "-v", "error", "-xerror"}
	if key != nil {
		args = append(args, "-decryption_key", hex.EncodeToString(key))
	}
	out, err := exec.CommandContext(t.Context(), "ffmpeg", append(args, "-i", f, "-f", "null", "-")...).CombinedOutput()
	return string(out), err == nil && len(bytes.TrimSpace(out)) == 0
}
