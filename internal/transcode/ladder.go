// Package transcode runs one FFmpeg process per job that encodes a source
// file into an adaptive-bitrate ladder of CMAF (fMP4) segments, and
// publishes each segment to the blob store as soon as FFmpeg has finished
// it, together with HLS playlists (EVENT while encoding, VOD at the end), an
// HLS master playlist and a DASH MPD that share the one segment set. It
// knows nothing of Connect or NATS: callers observe a job through the
// OnSegment and OnProgress callbacks and its Result.
package transcode

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
)

// Rung is one video rung of an encoding ladder.
type Rung struct {
	// Name is the rendition name and its directory, e.g. "720p".
	Name string
	// Height is the output frame height in pixels.
	Height int
	// VideoBitrate is the target average video bitrate in bits per second.
	VideoBitrate int
	// AudioBitrate is the AAC bitrate in bits per second; 0 means 128000.
	AudioBitrate int
	// MaxFrameRate caps the output frame rate; 0 means the source's.
	MaxFrameRate float64
}

// DefaultAudioBitrate is the AAC bitrate of a rung that sets none.
const DefaultAudioBitrate = 128_000

// DefaultLadder is the ladder used when none is configured.
func DefaultLadder() []Rung {
	return []Rung{
		{Name: "1080p", Height: 1080, VideoBitrate: 5_000_000, AudioBitrate: DefaultAudioBitrate},
		{Name: "720p", Height: 720, VideoBitrate: 2_800_000, AudioBitrate: DefaultAudioBitrate},
		{Name: "480p", Height: 480, VideoBitrate: 1_400_000, AudioBitrate: DefaultAudioBitrate},
		{Name: "360p", Height: 360, VideoBitrate: 800_000, AudioBitrate: DefaultAudioBitrate},
	}
}

var rungName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// ValidateLadder checks a ladder against the contract's limits: 1 to 8
// rungs, names of 1 to 32 characters of [a-z0-9_-] not starting with
// "audio" and unique, distinct heights from 144 to 4320, video bitrates from
// 100 kbit/s to 100 Mbit/s, audio bitrates 0 or 32 to 512 kbit/s.
func ValidateLadder(ladder []Rung) error {
	if len(ladder) == 0 || len(ladder) > 8 {
		return fmt.Errorf("a ladder has 1 to 8 rungs, got %d", len(ladder))
	}
	names := map[string]bool{}
	heights := map[int]bool{}
	for _, r := range ladder {
		switch {
		case !rungName.MatchString(r.Name):
			return fmt.Errorf("rung name %q: want 1 to 32 characters of [a-z0-9_-]", r.Name)
		case len(r.Name) >= 5 && r.Name[:5] == "audio":
			return fmt.Errorf("rung name %q: names starting with \"audio\" are reserved", r.Name)
		case names[r.Name]:
			return fmt.Errorf("rung name %q appears twice", r.Name)
		case r.Height < 144 || r.Height > 4320:
			return fmt.Errorf("rung %q: height %d is outside 144 to 4320", r.Name, r.Height)
		case heights[r.Height]:
			return fmt.Errorf("rung %q: height %d appears twice", r.Name, r.Height)
		case r.VideoBitrate < 100_000 || r.VideoBitrate > 100_000_000:
			return fmt.Errorf("rung %q: video bitrate %d is outside 100000 to 100000000", r.Name, r.VideoBitrate)
		case r.AudioBitrate != 0 && (r.AudioBitrate < 32_000 || r.AudioBitrate > 512_000):
			return fmt.Errorf("rung %q: audio bitrate %d is outside 32000 to 512000", r.Name, r.AudioBitrate)
		case r.MaxFrameRate < 0 || math.IsNaN(r.MaxFrameRate) || math.IsInf(r.MaxFrameRate, 0):
			return fmt.Errorf("rung %q: bad frame rate cap %v", r.Name, r.MaxFrameRate)
		}
		names[r.Name] = true
		heights[r.Height] = true
	}
	return nil
}

// Output is a rung fitted to a source: what FFmpeg is asked to produce.
type Output struct {
	Rung
	// Width and Height are the exact, even output frame size.
	Width, Height int
	// FrameRate is the output frame rate (the source's, or the cap).
	FrameRate float64
}

// errNoVideo is returned by FitLadder for a source without a picture size.
var errNoVideo = errors.New("source has no usable video stream")

// FitLadder fits ladder to a source whose displayed picture (after sample
// aspect ratio and rotation) is displayW x displayH at fps frames per
// second. Rungs taller than the source are dropped (never upscale); when
// all are, the lowest rung is kept at the source height. Each width keeps
// the display aspect ratio, rounded to an even number; heights are even
// too. The result is sorted tallest first.
func FitLadder(ladder []Rung, displayW, displayH float64, fps float64) ([]Output, error) {
	if displayW <= 0 || displayH <= 0 || len(ladder) == 0 {
		return nil, errNoVideo
	}
	sorted := slices.Clone(ladder)
	slices.SortFunc(sorted, func(a, b Rung) int { return b.Height - a.Height })
	aspect := displayW / displayH
	srcH := even(displayH)
	var out []Output
	for _, r := range sorted {
		if r.Height > srcH {
			continue
		}
		out = append(out, fit(r, r.Height, aspect, fps))
	}
	if len(out) == 0 {
		lowest := sorted[len(sorted)-1]
		out = append(out, fit(lowest, srcH, aspect, fps))
	}
	return out, nil
}

func fit(r Rung, h int, aspect, fps float64) Output {
	if r.AudioBitrate == 0 {
		r.AudioBitrate = DefaultAudioBitrate
	}
	w := int(math.Round(float64(h)*aspect/2)) * 2
	if w < 2 {
		w = 2
	}
	rate := fps
	if r.MaxFrameRate > 0 && (rate <= 0 || r.MaxFrameRate < rate) {
		rate = r.MaxFrameRate
	}
	return Output{Rung: r, Width: w, Height: h, FrameRate: rate}
}

// even rounds down to an even integer, at least 2.
func even(v float64) int {
	n := int(v) &^ 1
	if n < 2 {
		n = 2
	}
	return n
}
