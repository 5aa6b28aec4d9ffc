package transcode

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/streamgate/streamgate/internal/mediaprobe"
)

// Source is what ffprobe found in a source file.
type Source struct {
	// FormatName is the container as ffprobe names it.
	FormatName string
	// Duration of the media.
	Duration time.Duration
	// Video is the first video stream; nil for audio-only sources.
	Video *SourceVideo
	// Audio is the first audio stream; nil for video-only sources.
	Audio *SourceAudio
}

// SourceVideo describes the source's video stream.
type SourceVideo struct {
	Codec string
	// Width and Height are the coded picture size.
	Width, Height int
	// SARNum/SARDen is the sample aspect ratio (1/1 when unknown).
	SARNum, SARDen int
	// Rotation is the display rotation in degrees: 0, 90, 180 or 270.
	Rotation int
	// FrameRate is the average frame rate; 0 when unknown.
	FrameRate float64
}

// DisplaySize returns the picture size as displayed: width scaled by the
// sample aspect ratio, and swapped with height for a 90 or 270 degree
// rotation.
func (v *SourceVideo) DisplaySize() (w, h float64) {
	w, h = float64(v.Width), float64(v.Height)
	if v.SARNum > 0 && v.SARDen > 0 {
		w = w * float64(v.SARNum) / float64(v.SARDen)
	}
	if v.Rotation == 90 || v.Rotation == 270 {
		w, h = h, w
	}
	return w, h
}

// SourceAudio describes the source's audio stream.
type SourceAudio struct {
	Codec      string
	SampleRate int
	Channels   int
}

// acceptedFormats: ffmpeg reads a source with the same demuxers ffprobe
// accepted it with.
const acceptedFormats = mediaprobe.AcceptedFormats

// probe runs ffprobe (through internal/mediaprobe, the one ffprobe wrapper,
// which upload uses too) on the local file at path. A source that is not
// usable media gives a *FailedError.
func (t *Transcoder) probe(ctx context.Context, path string) (*Source, error) {
	info, err := t.prober.Probe(ctx, path)
	var rej *mediaprobe.RejectedError
	if errors.As(err, &rej) {
		return nil, &FailedError{Reason: rej.Reason}
	}
	if err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	src := &Source{FormatName: info.FormatName, Duration: info.Duration}
	if v := info.Video; v != nil {
		src.Video = &SourceVideo{Codec: v.Codec, Width: v.Width, Height: v.Height,
			SARNum: v.SARNum, SARDen: v.SARDen, Rotation: v.Rotation, FrameRate: v.FrameRate}
	}
	if a := info.Audio; a != nil {
		src.Audio = &SourceAudio{Codec: a.Codec, SampleRate: a.SampleRate, Channels: a.Channels}
	}
	return src, nil
}

// ffmpegReason picks a message for people from FFmpeg's stderr: the last
// line that says something, without the input path FFmpeg prefixes.
func ffmpegReason(stderr, fallback string) string {
	var msgs []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if m := cleanLine(l); m != "" {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return fallback
	}
	last := msgs[len(msgs)-1]
	// The last line is often generic; the one before it says why.
	if len(msgs) > 1 && strings.HasPrefix(last, "invalid data found") {
		last += " (" + msgs[len(msgs)-2] + ")"
	}
	return last
}

func cleanLine(l string) string {
	l = strings.TrimSpace(l)
	if l == "" || strings.HasPrefix(l, "Conversion failed") {
		return ""
	}
	if strings.HasPrefix(l, "file:") || strings.HasPrefix(l, "/") {
		if j := strings.LastIndex(l, ": "); j >= 0 {
			l = l[j+2:]
		}
	}
	if strings.HasPrefix(l, "[") {
		if j := strings.Index(l, "] "); j >= 0 {
			l = l[j+2:]
		}
	}
	l = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l), "--"))
	if l == "" {
		return ""
	}
	if len(l) > 160 {
		l = l[:160]
	}
	return strings.ToLower(l[:1]) + l[1:]
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string { return string(b.buf) }

// FailedError is a job failure caused by the source (or the encode of it),
// with a reason for people. Retrying does not help.
type FailedError struct {
	Reason string
}

func (e *FailedError) Error() string { return e.Reason }

func failf(format string, args ...any) error {
	return &FailedError{Reason: fmt.Sprintf(format, args...)}
}
