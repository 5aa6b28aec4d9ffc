// Package mediaprobe runs ffprobe on untrusted files, bounded in time and
// output, and decides whether a file is acceptable media.
package mediaprobe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Limits bound what is accepted. Zero fields take the defaults.
type Limits struct {
	// MaxDuration is the longest accepted media; default 4h.
	MaxDuration time.Duration
	// MaxPixels is the largest accepted width*height of a video stream;
	// default 3840*2160 (4K UHD).
	MaxPixels int64
}

// Config configures a Prober.
type Config struct {
	// FFprobe is the ffprobe binary, a name looked up in PATH or a path;
	// default "ffprobe".
	FFprobe string
	// Timeout bounds one probe; default 30s.
	Timeout time.Duration
	// MaxOutputBytes bounds what ffprobe may print; default 1 MiB.
	MaxOutputBytes int64
	Limits
}

// Prober probes files with ffprobe.
type Prober struct {
	cfg Config
}

// New returns a Prober. It fails when ffprobe cannot be found.
func New(cfg Config) (*Prober, error) {
	if cfg.FFprobe == "" {
		cfg.FFprobe = "ffprobe"
	}
	bin, err := exec.LookPath(cfg.FFprobe)
	if err != nil {
		return nil, fmt.Errorf("mediaprobe: ffprobe not found (install ffmpeg, e.g. scripts/install-deps.sh): %w", err)
	}
	cfg.FFprobe = bin
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = 1 << 20
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = 4 * time.Hour
	}
	if cfg.MaxPixels <= 0 {
		cfg.MaxPixels = 3840 * 2160
	}
	return &Prober{cfg: cfg}, nil
}

// Info is what ffprobe found.
type Info struct {
	// FormatName as ffprobe names the container.
	FormatName string
	// Duration of the media.
	Duration time.Duration
	// Size of the file in bytes.
	SizeBytes uint64
	// BitRate in bits per second; 0 when unknown.
	BitRate uint64
	// Video is the first video stream; nil for audio-only media.
	Video *VideoStream
	// Audio is the first audio stream; nil for video-only media.
	Audio *AudioStream
}

// VideoStream describes a video stream.
type VideoStream struct {
	Codec string
	// Width and Height are the coded picture size.
	Width  int
	Height int
	// SARNum/SARDen is the sample aspect ratio (1/1 when unknown).
	SARNum, SARDen int
	// FrameRate is the average frame rate (the base rate when the average
	// is missing or absurd); 0 when unknown.
	FrameRate   float64
	PixelFormat string
	// Rotation is the display rotation in degrees: 0, 90, 180 or 270.
	Rotation int
}

// AcceptedFormats are the demuxers ffprobe (and ffmpeg on the same file)
// may use, as -format_whitelist: the containers uploads are accepted in.
// Anything else (playlists, concat scripts, image sequences) is refused
// before it is parsed.
const AcceptedFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,ogg,wav,mp3,aac,flac,mpeg"

// AudioStream describes an audio stream.
type AudioStream struct {
	Codec      string
	SampleRate int
	Channels   int
}

// RejectedError says why a file is not acceptable media; Reason is for
// people. Probe returns it for a file the platform refuses, as opposed to
// a failure to run the probe at all.
type RejectedError struct {
	Reason string
	// Info is what the probe found, when it got that far.
	Info *Info
}

func (e *RejectedError) Error() string { return e.Reason }

func reject(info *Info, format string, args ...any) error {
	return &RejectedError{Reason: fmt.Sprintf(format, args...), Info: info}
}

// Probe inspects the file at path. It returns the media info, a
// *RejectedError when the file is not acceptable media (not media, too
// long, too large, unreadable, or ffprobe ran out of time on it), or
// another error when ffprobe could not be run.
func (p *Prober) Probe(ctx context.Context, path string) (*Info, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("mediaprobe: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.cfg.FFprobe,
		"-v", "error",
		"-protocol_whitelist", "file",
		"-format_whitelist", AcceptedFormats,
		"-print_format", "json",
		"-show_format", "-show_streams",
		// "file:" keeps a name like "-x" or "concat:..." from being
		// read as an option or another protocol.
		"file:"+abs,
	)
	out := &limitedBuffer{max: p.cfg.MaxOutputBytes}
	var stderr limitedBuffer
	stderr.max = 4 << 10
	cmd.Stdout = out
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) && context.Cause(ctx) == ctxErr {
			return nil, reject(nil, "the file could not be analysed within %s", p.cfg.Timeout)
		}
		return nil, fmt.Errorf("mediaprobe: %w", ctxErr)
	}
	if out.overflow {
		return nil, reject(nil, "not a usable media file: ffprobe output exceeds %d bytes", p.cfg.MaxOutputBytes)
	}
	if runErr != nil {
		var exitErr *exec.ExitError
		if errors.As(runErr, &exitErr) {
			msg := firstLine(stderr.String())
			if msg == "" {
				msg = "unrecognized format"
			}
			return nil, reject(nil, "not a media file: %s", msg)
		}
		return nil, fmt.Errorf("mediaprobe: run ffprobe: %w", runErr)
	}
	info, err := parse(out.Bytes())
	if err != nil {
		return nil, reject(nil, "not a media file: %v", err)
	}
	return info, p.check(info)
}

func (p *Prober) check(info *Info) error {
	if info.Video == nil && info.Audio == nil {
		return reject(info, "not a media file: no audio or video stream")
	}
	if info.Duration <= 0 {
		return reject(info, "not a usable media file: its duration is unknown")
	}
	if info.Duration > p.cfg.MaxDuration {
		return reject(info, "duration %s exceeds the %s limit", info.Duration.Round(time.Second), p.cfg.MaxDuration)
	}
	if v := info.Video; v != nil {
		if v.Width <= 0 || v.Height <= 0 {
			return reject(info, "not a usable video: its picture size is unknown")
		}
		if int64(v.Width)*int64(v.Height) > p.cfg.MaxPixels {
			return reject(info, "resolution %dx%d exceeds the limit of %d pixels", v.Width, v.Height, p.cfg.MaxPixels)
		}
	}
	return nil
}

type probeOutput struct {
	Streams []struct {
		CodecType    string            `json:"codec_type"`
		CodecName    string            `json:"codec_name"`
		Width        int               `json:"width"`
		Height       int               `json:"height"`
		PixFmt       string            `json:"pix_fmt"`
		SAR          string            `json:"sample_aspect_ratio"`
		AvgFrameRate string            `json:"avg_frame_rate"`
		RFrameRate   string            `json:"r_frame_rate"`
		SampleRate   string            `json:"sample_rate"`
		Channels     int               `json:"channels"`
		Duration     string            `json:"duration"`
		Tags         map[string]string `json:"tags"`
		SideDataList []struct {
			Rotation *float64 `json:"rotation"`
		} `json:"side_data_list"`
		Disposition struct {
			AttachedPic int `json:"attached_pic"`
		} `json:"disposition"`
	} `json:"streams"`
	Format *struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		Size       string `json:"size"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
}

func parse(b []byte) (*Info, error) {
	var po probeOutput
	if err := json.Unmarshal(b, &po); err != nil {
		return nil, fmt.Errorf("unreadable probe output: %w", err)
	}
	if po.Format == nil {
		return nil, errors.New("no container format found")
	}
	info := &Info{FormatName: po.Format.FormatName}
	info.Duration = seconds(po.Format.Duration)
	info.SizeBytes, _ = strconv.ParseUint(po.Format.Size, 10, 64)
	info.BitRate, _ = strconv.ParseUint(po.Format.BitRate, 10, 64)
	for _, s := range po.Streams {
		if d := seconds(s.Duration); d > info.Duration {
			info.Duration = d
		}
		switch s.CodecType {
		case "video":
			if info.Video != nil || s.Disposition.AttachedPic == 1 {
				continue // cover art is not a video stream
			}
			v := &VideoStream{Codec: s.CodecName, Width: s.Width, Height: s.Height, SARNum: 1, SARDen: 1,
				PixelFormat: s.PixFmt, FrameRate: rate(s.AvgFrameRate)}
			if n, d, ok := strings.Cut(s.SAR, ":"); ok {
				num, err1 := strconv.Atoi(n)
				den, err2 := strconv.Atoi(d)
				if err1 == nil && err2 == nil && num > 0 && den > 0 {
					v.SARNum, v.SARDen = num, den
				}
			}
			if v.FrameRate <= 0 || v.FrameRate > 240 {
				if r := rate(s.RFrameRate); r > 0 && r <= 240 {
					v.FrameRate = r
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
			info.Video = v
		case "audio":
			if info.Audio != nil {
				continue
			}
			sr, _ := strconv.Atoi(s.SampleRate)
			info.Audio = &AudioStream{Codec: s.CodecName, SampleRate: sr, Channels: s.Channels}
		}
	}
	return info, nil
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

func rate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	n, err1 := strconv.ParseFloat(num, 64)
	if !ok {
		if err1 != nil {
			return 0
		}
		return n
	}
	d, err2 := strconv.ParseFloat(den, 64)
	if err1 != nil || err2 != nil || d == 0 {
		return 0
	}
	return n / d
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	// ffprobe prefixes messages with the input name; drop our path.
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.HasPrefix(s, "file:") {
		s = s[i+2:]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// limitedBuffer keeps up to max bytes and then discards, noting overflow,
// so a hostile file cannot make ffprobe fill memory.
// It must not embed bytes.Buffer: io.Copy would use the promoted ReadFrom
// and bypass the bound.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int64
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - int64(b.buf.Len())
	if int64(len(p)) > room {
		b.overflow = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) Bytes() []byte  { return b.buf.Bytes() }
func (b *limitedBuffer) String() string { return b.buf.String() }

var _ io.Writer = (*limitedBuffer)(nil)
