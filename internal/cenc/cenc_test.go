package cenc_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/streamgate/streamgate/internal/cenc"
)

// ladder has FFmpeg write a clear two-track CMAF set (video r0, audio r1)
// of 3 segments of 2 s, the packager's layout, and returns its dir.
func ladder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, r := range []string{"r0", "r1"} {
		if err := os.Mkdir(filepath.Join(dir, r), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "6", "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
		"-c:a", "aac", "-f", "dash", "-seg_duration", "2", "-use_template", "1", "-use_timeline", "0",
		"-adaptation_sets", "id=0,streams=v id=1,streams=a",
		"-init_seg_name", "r$RepresentationID$/init.m4s", "-media_seg_name", "r$RepresentationID$/seg-$Number%05d$.m4s",
		"manifest.mpd")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return dir
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// protect encrypts every track of dir, returning the protected init
// segment and segments of each track.
func protect(t *testing.T, dir string, scheme cenc.Scheme, key cenc.Key) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for i, r := range []string{"r0", "r1"} {
		init, track, err := cenc.ProtectInit(read(t, filepath.Join(dir, r, "init.m4s")), scheme, key, uint16(i))
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		out[r] = append(out[r], init)
		for seq := 1; seq <= 3; seq++ {
			enc, err := track.EncryptSegment(read(t, filepath.Join(dir, r, fmt.Sprintf("seg-%05d.m4s", seq))), uint32(seq))
			if err != nil {
				t.Fatalf("%s segment %d: %v", r, seq, err)
			}
			out[r] = append(out[r], enc)
		}
	}
	return out
}

// decode runs FFmpeg over init+segments, with the key when given, and
// returns its error output (empty when every frame decodes).
func decode(t *testing.T, parts [][]byte, key []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v.mp4")
	if err := os.WriteFile(path, bytes.Join(parts, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-v", "error", "-xerror"}
	if key != nil {
		args = append(args, "-decryption_key", hex.EncodeToString(key))
	}
	args = append(args, "-i", path, "-f", "null", "-")
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return err.Error()
	}
	return strings.TrimSpace(string(out))
}

// Each segment, fetched alone with its init segment as a player does,
// decodes with the key and not without. (FFmpeg 5.1 cannot read several
// encrypted fragments concatenated in one file, so whole tracks are not
// decoded here; the players in the integration tests play them.)
func TestEncryptedSegmentsDecodeOnlyWithTheKey(t *testing.T) {
	dir := ladder(t)
	for _, scheme := range []cenc.Scheme{cenc.CENC, cenc.CBCS} {
		t.Run(string(scheme), func(t *testing.T) {
			key := cenc.NewKey()
			enc := protect(t, dir, scheme, key)
			for _, r := range []string{"r0", "r1"} {
				for i := 1; i < len(enc[r]); i++ {
					if msg := decode(t, [][]byte{enc[r][0], enc[r][i]}, key.Key[:]); msg != "" {
						t.Errorf("%s segment %d with the key: %s", r, i, msg)
					}
				}
				wrong := cenc.NewKey()
				if decode(t, enc[r][:2], nil) == "" && decode(t, enc[r][:2], wrong.Key[:]) == "" {
					t.Errorf("%s decodes without its key", r)
				}
			}
			// The video samples are no longer the clear ones.
			clear := read(t, filepath.Join(dir, "r0", "seg-00001.m4s"))
			if bytes.Contains(enc["r0"][1], clear[len(clear)-4096:]) {
				t.Error("the end of the clear video segment is in the encrypted one")
			}
		})
	}
}

// The init segment names the scheme and the key id, what manifests and
// licence requests carry.
func TestInitDeclaresSchemeAndKeyID(t *testing.T) {
	dir := ladder(t)
	key := cenc.NewKey()
	for _, scheme := range []cenc.Scheme{cenc.CENC, cenc.CBCS} {
		init, _, err := cenc.ProtectInit(read(t, filepath.Join(dir, "r0", "init.m4s")), scheme, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		f, err := mp4.DecodeFile(bytes.NewReader(init))
		if err != nil {
			t.Fatal(err)
		}
		di, err := mp4.DecryptInit(f.Init)
		if err != nil {
			t.Fatal(err)
		}
		sinf := di.TrackInfos[0].Sinf
		if sinf.Schm.SchemeType != string(scheme) || hex.EncodeToString(sinf.Schi.Tenc.DefaultKID) != key.IDHex() {
			t.Errorf("%s: schm %s kid %x", scheme, sinf.Schm.SchemeType, sinf.Schi.Tenc.DefaultKID)
		}
		// The Common SystemID pssh, version 1, names the key id: what
		// the browser's "encrypted" event carries to the player.
		if len(di.Psshs) != 1 {
			t.Fatalf("%s: %d pssh boxes, want 1", scheme, len(di.Psshs))
		}
		p := di.Psshs[0]
		if p.SystemID.String() != cenc.CommonSystemID || p.Version != 1 || len(p.KIDs) != 1 || hex.EncodeToString(p.KIDs[0]) != key.IDHex() {
			t.Errorf("%s: pssh system %s version %d kids %v, want %s version 1 kid %s", scheme, p.SystemID, p.Version, p.KIDs, cenc.CommonSystemID, key.IDHex())
		}
	}
	if _, _, err := cenc.ProtectInit(read(t, filepath.Join(dir, "r0", "init.m4s")), "cens", key, 0); err == nil {
		t.Error("an unknown scheme was accepted")
	}
	if _, _, err := cenc.ProtectInit(read(t, filepath.Join(dir, "r0", "seg-00001.m4s")), cenc.CENC, key, 0); err == nil {
		t.Error("a media segment was accepted as an init segment")
	}
	_, track, _ := cenc.ProtectInit(read(t, filepath.Join(dir, "r0", "init.m4s")), cenc.CENC, key, 0)
	if _, err := track.EncryptSegment(read(t, filepath.Join(dir, "r0", "init.m4s")), 1); err == nil {
		t.Error("an init segment was accepted as a media segment")
	}
	if _, err := track.EncryptSegment([]byte("not mp4 at all"), 1); err == nil {
		t.Error("garbage was accepted as a media segment")
	}
}

// Under one key, no two samples of any segment of any track start from
// the same CTR IV.
func TestCTRNeverReusesAnIV(t *testing.T) {
	dir := ladder(t)
	key := cenc.NewKey()
	enc := protect(t, dir, cenc.CENC, key)
	seen := map[string]string{}
	for _, r := range []string{"r0", "r1"} {
		for i, seg := range enc[r][1:] {
			f, err := mp4.DecodeFile(bytes.NewReader(seg))
			if err != nil {
				t.Fatal(err)
			}
			for _, frag := range f.Segments[0].Fragments {
				for j, s := range frag.Moof.Traf.Senc.IVs {
					where := fmt.Sprintf("%s segment %d sample %d", r, i+1, j)
					if prev, ok := seen[hex.EncodeToString(s)]; ok {
						t.Fatalf("IV %x of %s already used by %s", s, where, prev)
					}
					seen[hex.EncodeToString(s)] = where
				}
			}
		}
	}
	if len(seen) < 100 {
		t.Fatalf("only %d IVs seen", len(seen))
	}
}
