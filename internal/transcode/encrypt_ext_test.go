package transcode_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/cenc"
	"github.com/streamgate/streamgate/internal/transcode"
)

// decodeParts runs FFmpeg over init+segment, with the key when given, and
// returns its error output: empty when every frame decodes. One segment at
// a time, as a player fetches them (FFmpeg 5.1 cannot read several
// encrypted fragments in one file).
func decodeParts(t *testing.T, key []byte, parts ...string) string {
	t.Helper()
	var all []byte
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	path := filepath.Join(t.TempDir(), "v.mp4")
	if err := os.WriteFile(path, all, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-v", "error", "-xerror"}
	if key != nil {
		args = append(args, "-decryption_key", hex.EncodeToString(key))
	}
	args = append(args, "-i", path, "-f", "null", "-")
	out, err := exec.CommandContext(t.Context(), "ffmpeg", args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return err.Error()
	}
	return strings.TrimSpace(string(out))
}

// An encrypted job publishes no clear media: the first segment (starting
// before the 4 s preview) is under the preview key with init-preview.m4s,
// the others under the full key with init.m4s, every rendition, audio
// included; the playlists and the MPD carry the players' signalling.
func TestRunEncrypted(t *testing.T) {
	f := newFixture(t, testLadder[1:3])
	src := f.putSource(t, clip(t, "av", 9, "640x360"))
	full, pre := cenc.NewKey(), cenc.NewKey()
	var rec recorder
	job := rec.job("job_enc", src)
	job.Encryption = &transcode.Encryption{Scheme: cenc.CBCS, Full: full, Preview: pre, PreviewUntil: 4 * time.Second}
	res, err := f.tc.Run(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.store.violations) > 0 {
		t.Fatalf("playlists listed unpublished segments: %v", f.store.violations)
	}
	if res.Encryption != cenc.CBCS || res.PreviewKeyUntil != 4*time.Second {
		t.Errorf("result: encryption %q, preview key until %s; want cbcs, 4s", res.Encryption, res.PreviewKeyUntil)
	}
	fullTag := fmt.Sprintf(`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="../licence",KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1",KEYID=0x%s`, full.IDHex())
	// The preview key has a URI of its own: hls.js opens one key session per URI.
	preTag := strings.Replace(strings.Replace(fullTag, full.IDHex(), pre.IDHex(), 1), `URI="../licence"`, `URI="../licence?scope=preview"`, 1)
	for _, r := range res.Renditions {
		if r.SegmentCount != 3 {
			t.Fatalf("%s: %d segments, want 3", r.Name, r.SegmentCount)
		}
		pl, err := os.ReadFile(f.path(t, r.PlaylistPath))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"#EXT-X-INDEPENDENT-SEGMENTS\n" + preTag + "\n#EXT-X-MAP:URI=\"init-preview.m4s\"\n#EXTINF:",
			"\nseg-00001.m4s\n" + fullTag + "\n#EXT-X-MAP:URI=\"init.m4s\"\n#EXTINF:",
		} {
			if !strings.Contains(string(pl), want) {
				t.Errorf("%s playlist:\n%s\nwant it to contain:\n%s", r.Name, pl, want)
			}
		}
		for seq := 1; seq <= 3; seq++ {
			init, key, wrong := "init.m4s", full, pre
			if seq == 1 {
				init, key, wrong = "init-preview.m4s", pre, full
			}
			seg := f.path(t, fmt.Sprintf("%s/seg-%05d.m4s", r.Name, seq))
			in := f.path(t, r.Name+"/"+init)
			if msg := decodeParts(t, key.Key[:], in, seg); msg != "" {
				t.Errorf("%s segment %d with its key: %s", r.Name, seq, msg)
			}
			if seq == 3 {
				continue // 1 s of audio or video may be too short to tell
			}
			if decodeParts(t, nil, in, seg) == "" && decodeParts(t, wrong.Key[:], in, seg) == "" {
				t.Errorf("%s segment %d decodes without its key", r.Name, seq)
			}
		}
	}
	// The events name each segment's key.
	for _, s := range rec.segs {
		want := full.ID
		if (s.Kind == transcode.SegmentMedia && s.Sequence == 1) || strings.HasSuffix(s.Path, "/init-preview.m4s") {
			want = pre.ID
		}
		if s.Encryption != cenc.CBCS || s.KeyID != want {
			t.Errorf("segment %s: scheme %q key %x, want cbcs %x", s.Path, s.Encryption, s.KeyID, want)
		}
	}
	mpd, err := os.ReadFile(f.path(t, "manifest.mpd"))
	if err != nil {
		t.Fatal(err)
	}
	id := full.IDHex()
	kid := id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
	// A Period per key: the preview's, then the full key's, each
	// protecting both adaptation sets.
	if !bytes.Contains(mpd, []byte(`xmlns:cenc="urn:mpeg:cenc:2013"`)) || bytes.Count(mpd, []byte("<Period")) != 2 ||
		bytes.Count(mpd, []byte(`value="cbcs" cenc:default_KID="`+kid+`"`)) != 2 ||
		bytes.Count(mpd, []byte(`urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e`)) != 4 ||
		!bytes.Contains(mpd, []byte(`<Period id="full" start="PT4S">`)) {
		t.Errorf("MPD lacks the protection of both adaptation sets in a Period per key:\n%s", mpd)
	}
	// The preview's MPD: the preview key's segments and init segments
	// only (the first, of 4 s: 4 s of 9).
	pmpd, err := os.ReadFile(f.path(t, transcode.PreviewMPDName))
	if err != nil {
		t.Fatal(err)
	}
	id = pre.IDHex()
	pkid := id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
	if bytes.Count(pmpd, []byte(`value="cbcs" cenc:default_KID="`+pkid+`"`)) != 2 || bytes.Contains(pmpd, []byte(kid)) ||
		bytes.Count(pmpd, []byte(`/init-preview.m4s"`)) != len(res.Renditions) || bytes.Contains(pmpd, []byte(`/init.m4s"`)) ||
		!bytes.Contains(pmpd, []byte(`mediaPresentationDuration="PT4S"`)) {
		t.Errorf("preview MPD:\n%s", pmpd)
	}
	for _, r := range res.Renditions {
		if !bytes.Contains(pmpd, []byte(`initialization="`+r.Name+`/init-preview.m4s"`)) {
			t.Errorf("preview MPD lacks %s's preview init segment:\n%s", r.Name, pmpd)
		}
	}
}

// Without a preview, everything is under the full key, one EXT-X-KEY and
// one init segment.
func TestRunEncryptedNoPreview(t *testing.T) {
	f := newFixture(t, testLadder[2:3])
	src := f.putSource(t, clip(t, "av", 5, "320x240"))
	full := cenc.NewKey()
	var rec recorder
	job := rec.job("job_enc", src)
	job.Encryption = &transcode.Encryption{Scheme: cenc.CBCS, Full: full}
	res, err := f.tc.Run(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	if res.PreviewKeyUntil != 0 {
		t.Errorf("preview key until %s, want 0", res.PreviewKeyUntil)
	}
	for _, r := range res.Renditions {
		pl, err := os.ReadFile(f.path(t, r.PlaylistPath))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(pl), "#EXT-X-KEY:"); n != 1 || strings.Contains(string(pl), "init-preview") ||
			!strings.Contains(string(pl), "KEYID=0x"+full.IDHex()+"\n#EXT-X-MAP:URI=\"init.m4s\"\n") {
			t.Errorf("%s playlist:\n%s", r.Name, pl)
		}
		seg, in := f.path(t, r.Name+"/seg-00001.m4s"), f.path(t, r.Name+"/init.m4s")
		if msg := decodeParts(t, full.Key[:], in, seg); msg != "" {
			t.Errorf("%s with the key: %s", r.Name, msg)
		}
		if decodeParts(t, nil, in, seg) == "" {
			t.Errorf("%s decodes without the key", r.Name)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(f.path(t, "master.m3u8")), "144p", "init-preview.m4s")); err == nil {
		t.Error("a preview init segment was published without a preview")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(f.path(t, "master.m3u8")), transcode.PreviewMPDName)); err == nil {
		t.Error("a preview MPD was published without a preview")
	}
}
