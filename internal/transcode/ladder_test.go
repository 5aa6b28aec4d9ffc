package transcode

import (
	"strings"
	"testing"
)

func TestFitLadder(t *testing.T) {
	def := DefaultLadder()
	type wh struct {
		name string
		w, h int
	}
	tests := []struct {
		name      string
		ladder    []Rung
		w, h, fps float64
		want      []wh
	}{
		{"1080p source gets the whole ladder", def, 1920, 1080, 30,
			[]wh{{"1080p", 1920, 1080}, {"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}}},
		{"720p source drops 1080p", def, 1280, 720, 30,
			[]wh{{"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}}},
		{"4:3 keeps its aspect", def, 1440, 1080, 25,
			[]wh{{"1080p", 1440, 1080}, {"720p", 960, 720}, {"480p", 640, 480}, {"360p", 480, 360}}},
		{"portrait (rotated) source", def, 1080, 1920, 30,
			[]wh{{"1080p", 608, 1080}, {"720p", 406, 720}, {"480p", 270, 480}, {"360p", 202, 360}}},
		{"between rungs: 600p keeps 480p and 360p", def, 1066.67, 600, 30,
			[]wh{{"480p", 854, 480}, {"360p", 640, 360}}},
		{"smaller than the lowest rung: one rung at source size", def, 320, 180, 30,
			[]wh{{"360p", 320, 180}}},
		{"odd source height is rounded down to even", def, 321, 181, 30,
			[]wh{{"360p", 320, 180}}},
		{"anamorphic display width (SAR applied) is used", def, 720 * 32.0 / 27, 480, 30,
			[]wh{{"480p", 854, 480}, {"360p", 640, 360}}},
		{"unsorted custom ladder is sorted tallest first", []Rung{{Name: "low", Height: 144, VideoBitrate: 2e5}, {Name: "mid", Height: 240, VideoBitrate: 4e5}}, 640, 360, 30,
			[]wh{{"mid", 426, 240}, {"low", 256, 144}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FitLadder(tt.ladder, tt.w, tt.h, tt.fps)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d rungs %+v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Name != w.name || g.Width != w.w || g.Height != w.h {
					t.Errorf("rung %d: got %s %dx%d, want %s %dx%d", i, g.Name, g.Width, g.Height, w.name, w.w, w.h)
				}
				if g.Width%2 != 0 || g.Height%2 != 0 {
					t.Errorf("rung %d: odd size %dx%d", i, g.Width, g.Height)
				}
				if g.AudioBitrate == 0 || g.FrameRate != tt.fps {
					t.Errorf("rung %d: audio %d fps %v", i, g.AudioBitrate, g.FrameRate)
				}
			}
		})
	}
	if _, err := FitLadder(def, 0, 0, 30); err == nil {
		t.Error("FitLadder with no picture: want an error")
	}
}

func TestFitLadderFrameRateCap(t *testing.T) {
	got, err := FitLadder([]Rung{{Name: "a", Height: 360, VideoBitrate: 1e6, MaxFrameRate: 30}, {Name: "b", Height: 240, VideoBitrate: 5e5, MaxFrameRate: 120}}, 640, 360, 60)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].FrameRate != 30 || got[1].FrameRate != 60 {
		t.Errorf("frame rates: got %v and %v, want 30 and 60 (never above the source)", got[0].FrameRate, got[1].FrameRate)
	}
}

func TestSourceDisplaySize(t *testing.T) {
	tests := []struct {
		v    SourceVideo
		w, h float64
	}{
		{SourceVideo{Width: 1920, Height: 1080, SARNum: 1, SARDen: 1}, 1920, 1080},
		{SourceVideo{Width: 1920, Height: 1080, SARNum: 1, SARDen: 1, Rotation: 90}, 1080, 1920},
		{SourceVideo{Width: 1920, Height: 1080, SARNum: 1, SARDen: 1, Rotation: 270}, 1080, 1920},
		{SourceVideo{Width: 720, Height: 480, SARNum: 32, SARDen: 27}, 853.3333333333334, 480},
		{SourceVideo{Width: 720, Height: 480, SARNum: 0, SARDen: 1}, 720, 480},
	}
	for _, tt := range tests {
		w, h := tt.v.DisplaySize()
		if w != tt.w || h != tt.h {
			t.Errorf("%+v: got %vx%v, want %vx%v", tt.v, w, h, tt.w, tt.h)
		}
	}
}

func TestValidateLadder(t *testing.T) {
	ok := Rung{Name: "720p", Height: 720, VideoBitrate: 2_800_000}
	tests := []struct {
		name   string
		ladder []Rung
		want   string
	}{
		{"default", DefaultLadder(), ""},
		{"empty", nil, "1 to 8 rungs"},
		{"bad name", []Rung{{Name: "7 20", Height: 720, VideoBitrate: 1e6}}, "rung name"},
		{"reserved name", []Rung{{Name: "audio1", Height: 720, VideoBitrate: 1e6}}, "reserved"},
		{"duplicate name", []Rung{ok, {Name: "720p", Height: 480, VideoBitrate: 1e6}}, "twice"},
		{"duplicate height", []Rung{ok, {Name: "x", Height: 720, VideoBitrate: 1e6}}, "twice"},
		{"too short", []Rung{{Name: "x", Height: 100, VideoBitrate: 1e6}}, "height"},
		{"bitrate", []Rung{{Name: "x", Height: 200, VideoBitrate: 10}}, "video bitrate"},
		{"audio bitrate", []Rung{{Name: "x", Height: 200, VideoBitrate: 1e6, AudioBitrate: 1}}, "audio bitrate"},
	}
	for _, tt := range tests {
		err := ValidateLadder(tt.ladder)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestParseMediaPlaylist(t *testing.T) {
	in := "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-MAP:URI=\"r0/init.m4s\"\n#EXTINF:4.000000,\n#EXT-X-PROGRAM-DATE-TIME:2026-11-28T12:13:01.000+0000\nr0/seg-00001.m4s\n#EXTINF:2.069333,\nr0/seg-00002.m4s\n"
	segs, ended := parseMediaPlaylist([]byte(in))
	if ended || len(segs) != 2 || segs[0].URI != "r0/seg-00001.m4s" || segs[1].Duration.Milliseconds() != 2069 {
		t.Fatalf("got %+v ended=%v", segs, ended)
	}
	_, ended = parseMediaPlaylist([]byte(in + "#EXT-X-ENDLIST\n"))
	if !ended {
		t.Error("ENDLIST not seen")
	}
}

func TestFFmpegReason(t *testing.T) {
	tests := []struct{ in, want string }{
		{"file:/tmp/x/source: Invalid data found when processing input\n", "invalid data found when processing input"},
		{"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5] moov atom not found\nfile:/a/source: Invalid data found when processing input\n", "invalid data found when processing input (moov atom not found)"},
		{"", "fallback"},
	}
	for _, tt := range tests {
		if got := ffmpegReason(tt.in, "fallback"); got != tt.want {
			t.Errorf("ffmpegReason(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
