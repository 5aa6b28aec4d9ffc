package mediaprobe_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/mediaprobe"
)

// makeClip writes a 2 s 320x240 H.264/AAC MP4.
func makeClip(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("ffmpeg not found: run scripts/install-deps.sh (%v)", err)
	}
	out := filepath.Join(t.TempDir(), "in.mp4")
	cmd := exec.CommandContext(t.Context(), "ffmpeg", "-nostdin", "-v", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

func newProber(t *testing.T, cfg mediaprobe.Config) *mediaprobe.Prober {
	t.Helper()
	p, err := mediaprobe.New(cfg)
	if err != nil {
		t.Fatalf("New: %v (run scripts/install-deps.sh)", err)
	}
	return p
}

func TestProbe(t *testing.T) {
	clip := makeClip(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mp4")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a video at all\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mp4")
	if err := os.WriteFile(truncated, full[:len(full)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A name that would be an option or another protocol if passed bare.
	tricky := filepath.Join(dir, "-i concat:x|y")
	if err := os.WriteFile(tricky, full, 0o600); err != nil {
		t.Fatal(err)
	}

	// Containers that are scripts pointing at other files: without the
	// format whitelist, ffprobe follows them to the real clip and accepts
	// a few bytes of text as that media.
	concat := filepath.Join(dir, "concat.mp4")
	if err := os.WriteFile(concat, []byte("ffconcat version 1.0\nfile '"+clip+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	playlist := filepath.Join(dir, "playlist.mp4")
	if err := os.WriteFile(playlist, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nfile:"+clip+"\n#EXT-X-ENDLIST\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		cfg        mediaprobe.Config
		path       string
		wantReason string // empty: accepted
	}{
		{name: "concat script pointing at a real clip", path: concat, wantReason: "not a media file"},
		{name: "HLS playlist pointing at a real clip", path: playlist, wantReason: "not a media file"},
		{name: "valid clip", path: clip},
		{name: "odd file name", path: tricky},
		{name: "garbage", path: garbage, wantReason: "not a media file"},
		{name: "truncated mp4", path: truncated, wantReason: "not a media file"},
		{name: "empty file", path: empty, wantReason: "not a media file"},
		{name: "missing file", path: filepath.Join(dir, "nope"), wantReason: "not a media file"},
		{name: "too long", cfg: mediaprobe.Config{Limits: mediaprobe.Limits{MaxDuration: time.Second}}, path: clip, wantReason: "exceeds the 1s limit"},
		{name: "too large", cfg: mediaprobe.Config{Limits: mediaprobe.Limits{MaxPixels: 320 * 200}}, path: clip, wantReason: "resolution 320x240 exceeds"},
		{name: "timeout", cfg: mediaprobe.Config{Timeout: time.Nanosecond}, path: clip, wantReason: "could not be analysed within"},
		{name: "output bound", cfg: mediaprobe.Config{MaxOutputBytes: 64}, path: clip, wantReason: "output exceeds 64 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProber(t, tc.cfg)
			info, err := p.Probe(t.Context(), tc.path)
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("Probe: %v", err)
				}
				if info.Video == nil || info.Video.Width != 320 || info.Video.Height != 240 || info.Video.Codec != "h264" {
					t.Errorf("video = %+v, want h264 320x240", info.Video)
				}
				if info.Audio == nil || info.Audio.Codec != "aac" || info.Audio.SampleRate == 0 {
					t.Errorf("audio = %+v, want aac", info.Audio)
				}
				if info.Duration < 1900*time.Millisecond || info.Duration > 2200*time.Millisecond {
					t.Errorf("duration = %v, want about 2s", info.Duration)
				}
				if info.Video.FrameRate != 25 || info.SizeBytes == 0 || !strings.Contains(info.FormatName, "mp4") {
					t.Errorf("info = %+v", info)
				}
				return
			}
			var rej *mediaprobe.RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("Probe = %v, %v; want a RejectedError", info, err)
			}
			if !strings.Contains(rej.Reason, tc.wantReason) {
				t.Errorf("reason = %q, want it to contain %q", rej.Reason, tc.wantReason)
			}
		})
	}
}

func TestNewWithoutFFprobe(t *testing.T) {
	if _, err := mediaprobe.New(mediaprobe.Config{FFprobe: "/nonexistent/ffprobe"}); err == nil {
		t.Fatal("New with a missing ffprobe succeeded")
	}
}
