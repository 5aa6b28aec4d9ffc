package transcode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
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

// acceptedFormats are the demuxers FFmpeg may use on a source, as
// ffprobe/ffmpeg -format_whitelist: the containers uploads are accepted in.
const acceptedFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,ogg,wav,mp3,aac,flac,mpeg"

type probeJSON struct {
	Streams []struct {
		CodecType         string            `json:"codec_type"`
		CodecName         string            `json:"codec_name"`
		Width             int               `json:"width"`
		Height            int               `json:"height"`
		SampleAspectRatio string            `json:"sample_aspect_ratio"`
		AvgFrameRate      string            `json:"avg_frame_rate"`
		RFrameRate        string            `json:"r_frame_rate"`
		SampleRate        string            `json:"sample_rate"`
		Channels          int               `json:"channels"`
		Duration          string            `json:"duration"`
		Tags              map[string]string `json:"tags"`
		SideDataList      []struct {
			Rotation *float64 `json:"rotation"`
		} `json:"side_data_list"`
		Disposition struct {
			AttachedPic int `json:"attached_pic"`
		} `json:"disposition"`
	} `json:"streams"`
	Format *struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

// probe runs ffprobe on the local file at path (absolute). A source that is
// not usable media gives a *FailedError.
func (t *Transcoder) probe(ctx context.Context, path string) (*Source, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.ProbeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.cfg.FFprobe,
		"-v", "error",
		"-protocol_whitelist", "file",
		"-format_whitelist", acceptedFormats,
		"-print_format", "json",
		"-show_format", "-show_streams",
		"file:"+path)
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && context.Cause(ctx) == ctx.Err() {
			return nil, failf("the source could not be analysed within %s", t.cfg.ProbeTimeout)
		}
		return nil, ctx.Err()
	}
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return nil, failf("not a media file: %s", ffmpegReason(stderr.String(), "unrecognized format"))
		}
		return nil, fmt.Errorf("transcode: run ffprobe: %w", err)
	}
	var pj probeJSON
	if err := json.Unmarshal(stdout.Bytes(), &pj); err != nil || pj.Format == nil {
		return nil, failf("not a media file: unreadable probe output")
	}
	src := &Source{FormatName: pj.Format.FormatName, Duration: seconds(pj.Format.Duration)}
	for _, s := range pj.Streams {
		if d := seconds(s.Duration); d > src.Duration {
			src.Duration = d
		}
		switch s.CodecType {
		case "video":
			if src.Video != nil || s.Disposition.AttachedPic == 1 {
				continue
			}
			v := &SourceVideo{Codec: s.CodecName, Width: s.Width, Height: s.Height, SARNum: 1, SARDen: 1}
			if n, d, ok := ratio(s.SampleAspectRatio, ":"); ok && n > 0 && d > 0 {
				v.SARNum, v.SARDen = int(n), int(d)
			}
			if n, d, ok := ratio(s.AvgFrameRate, "/"); ok && d > 0 {
				v.FrameRate = n / d
			}
			if v.FrameRate <= 0 || v.FrameRate > 240 {
				if n, d, ok := ratio(s.RFrameRate, "/"); ok && d > 0 && n/d <= 240 {
					v.FrameRate = n / d
				}
			}
			if r, err := strconv.Atoi(s.Tags["rotate"]); err == nil {
				v.Rotation = r
			}
			for _, sd := range s.SideDataList {
				if sd.Rotation != nil {
					v.Rotation = int(math.Round(*sd.Rotation))
				}
			}
			v.Rotation = ((v.Rotation % 360) + 360) % 360
			src.Video = v
		case "audio":
			if src.Audio != nil {
				continue
			}
			sr, _ := strconv.Atoi(s.SampleRate)
			src.Audio = &SourceAudio{Codec: s.CodecName, SampleRate: sr, Channels: s.Channels}
		}
	}
	switch {
	case src.Video == nil && src.Audio == nil:
		return nil, failf("not a media file: no audio or video stream")
	case src.Duration <= 0:
		return nil, failf("not a usable media file: its duration is unknown")
	case src.Video != nil && (src.Video.Width <= 0 || src.Video.Height <= 0):
		return nil, failf("not a usable video: its picture size is unknown")
	}
	return src, nil
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

func ratio(s, sep string) (num, den float64, ok bool) {
	a, b, found := strings.Cut(s, sep)
	if !found {
		return 0, 0, false
	}
	n, err1 := strconv.ParseFloat(a, 64)
	d, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return n, d, true
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
