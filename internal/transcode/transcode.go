package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/cenc"
	"github.com/streamgate/streamgate/internal/mediaprobe"
	"github.com/streamgate/streamgate/internal/video"
)

// Config configures a Transcoder. Zero fields take the defaults.
type Config struct {
	// FFmpeg and FFprobe are the binaries, names looked up in PATH or
	// paths; defaults "ffmpeg" and "ffprobe".
	FFmpeg, FFprobe string
	// WorkDir holds one scratch directory per running job; default
	// os.TempDir()/streamgate-transcode.
	WorkDir string
	// Ladder is the default ladder; default DefaultLadder().
	Ladder []Rung
	// SegmentDuration is the CMAF segment length; default 4s.
	SegmentDuration time.Duration
	// Preset is the x264 preset; default "veryfast".
	Preset string
	// JobTimeout bounds one job, encode included; default 2h.
	JobTimeout time.Duration
	// ProbeTimeout bounds ffprobe; default 30s.
	ProbeTimeout time.Duration
	// PollInterval is how often FFmpeg's playlists are read for new
	// segments; default 200ms.
	PollInterval time.Duration
	// BlobPrefix is prepended to "<video_id>/..." to form blob keys;
	// default "videos/".
	BlobPrefix string
}

// Transcoder runs jobs.
type Transcoder struct {
	cfg    Config
	blobs  blob.Store
	prober *mediaprobe.Prober
	logger *slog.Logger
}

// New returns a Transcoder writing to blobs. It fails when ffmpeg or
// ffprobe cannot be found.
func New(cfg Config, blobs blob.Store, logger *slog.Logger) (*Transcoder, error) {
	if blobs == nil {
		return nil, errors.New("transcode: nil blob store")
	}
	if logger == nil {
		return nil, errors.New("transcode: nil logger")
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.FFprobe == "" {
		cfg.FFprobe = "ffprobe"
	}
	var err error
	if cfg.FFmpeg, err = exec.LookPath(cfg.FFmpeg); err != nil {
		return nil, fmt.Errorf("transcode: ffmpeg not found (install it with scripts/install-deps.sh): %w", err)
	}
	if cfg.FFprobe, err = exec.LookPath(cfg.FFprobe); err != nil {
		return nil, fmt.Errorf("transcode: ffprobe not found (install it with scripts/install-deps.sh): %w", err)
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = filepath.Join(os.TempDir(), "streamgate-transcode")
	}
	if cfg.WorkDir, err = filepath.Abs(cfg.WorkDir); err != nil {
		return nil, fmt.Errorf("transcode: work dir: %w", err)
	}
	if len(cfg.Ladder) == 0 {
		cfg.Ladder = DefaultLadder()
	}
	if err := ValidateLadder(cfg.Ladder); err != nil {
		return nil, fmt.Errorf("transcode: ladder: %w", err)
	}
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = 4 * time.Second
	}
	if cfg.SegmentDuration < time.Second || cfg.SegmentDuration%time.Second != 0 {
		return nil, fmt.Errorf("transcode: segment duration %s: want whole seconds", cfg.SegmentDuration)
	}
	if cfg.Preset == "" {
		cfg.Preset = "veryfast"
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = 2 * time.Hour
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = 30 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.BlobPrefix == "" {
		cfg.BlobPrefix = "videos/"
	}
	// Upload already enforced the duration and resolution limits; the
	// transcoder accepts whatever upload accepted.
	prober, err := mediaprobe.New(mediaprobe.Config{FFprobe: cfg.FFprobe, Timeout: cfg.ProbeTimeout,
		Limits: mediaprobe.Limits{MaxDuration: math.MaxInt64, MaxPixels: math.MaxInt64}})
	if err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	return &Transcoder{cfg: cfg, blobs: blobs, prober: prober, logger: logger}, nil
}

// SegmentKind tells an init segment from a media segment.
type SegmentKind int

// Segment kinds.
const (
	SegmentInit SegmentKind = iota + 1
	SegmentMedia
)

// Segment describes a segment just published to the blob store.
type Segment struct {
	Rendition string
	Kind      SegmentKind
	// Sequence is the media sequence number from 1; 0 for init.
	Sequence int
	// Path is relative to the video directory, e.g. "720p/seg-00001.m4s".
	Path string
	// Key is the blob key.
	Key  string
	Size int64
	// Duration of a media segment; 0 for init.
	Duration time.Duration
	// Encryption is the segment's scheme and KeyID its key's id; empty
	// when clear.
	Encryption cenc.Scheme
	KeyID      [cenc.KeySize]byte
}

// Progress is one FFmpeg progress report.
type Progress struct {
	// Percent of the source duration encoded, 0 to 100.
	Percent float64
	// OutTime is the media time encoded so far.
	OutTime time.Duration
	// Speed is the encode speed as a multiple of real time; 0 when unknown.
	Speed float64
	// ETA is the estimated time to the end; 0 when unknown.
	ETA time.Duration
}

// PlannedRendition is a rendition the job is about to produce.
type PlannedRendition struct {
	Name string
	// Width and Height are 0 for audio.
	Width, Height int
	FrameRate     float64
	// Bitrate is the target bitrate in bits per second.
	Bitrate int
	// SegmentsTotal is the expected number of media segments.
	SegmentsTotal int
	Audio         bool
}

// Job is one transcode.
type Job struct {
	// ID names the job's work dir; [A-Za-z0-9_-], required.
	ID string
	// VideoID names the video directory in the blob store; required, and
	// must pass video.CheckID.
	VideoID string
	// SourceKey is the blob key of the source file; required.
	SourceKey string
	// Ladder overrides the configured ladder when not empty.
	Ladder []Rung
	// OnPlan, when set, is called once the source is probed and the ladder
	// fitted, before encoding starts.
	OnPlan func(src *Source, plan []PlannedRendition)
	// OnSegment, when set, is called after each segment is in the blob
	// store, init segment first, in sequence order within a rendition.
	OnSegment func(Segment)
	// OnProgress, when set, is called on every FFmpeg progress report
	// (about twice a second).
	OnProgress func(Progress)
	// Encryption, when set, publishes every segment encrypted (see
	// Encryption); nil publishes them clear.
	Encryption *Encryption
}

// Rendition is one finished rendition.
type Rendition struct {
	Name          string
	Width, Height int
	FrameRate     float64
	// Codecs are RFC 6381 codec strings: the video's then the audio's for a
	// video rendition (as in the master playlist), the audio's for audio.
	Codecs []string
	// Bandwidth is the peak segment bitrate and AverageBandwidth the mean,
	// in bits per second, audio included for video renditions (as HLS
	// BANDWIDTH and AVERAGE-BANDWIDTH).
	Bandwidth, AverageBandwidth int64
	SegmentCount                int
	// SizeBytes is the init and media segments' total size.
	SizeBytes int64
	// PlaylistPath is the media playlist, relative to the video directory.
	PlaylistPath string
	Audio        bool
}

// Result is a finished job. Paths are relative to the video directory.
type Result struct {
	Source *Source
	// Renditions: video highest first, then audio.
	Renditions     []Rendition
	Duration       time.Duration
	HLSPath        string
	DASHPath       string
	PosterPath     string // empty for audio-only
	StoryboardPath string // empty for audio-only
	Elapsed        time.Duration
	// Encryption is the scheme of every segment; empty when clear.
	Encryption cenc.Scheme
	// PreviewKeyUntil is where the first segment under the full key
	// starts; 0 when no segment is under the preview key.
	PreviewKeyUntil time.Duration
}

// VideoPrefix is the blob-key prefix of everything a job publishes for a
// video.
func (t *Transcoder) VideoPrefix(videoID string) string {
	return t.cfg.BlobPrefix + videoID + "/"
}

// Clean deletes everything published for a video, e.g. before a retried
// job starts over. videoID must pass video.CheckID (an empty one would name
// every video).
func (t *Transcoder) Clean(ctx context.Context, videoID string) error {
	if err := video.CheckID(videoID); err != nil {
		return fmt.Errorf("transcode: %w", err)
	}
	infos, err := t.blobs.List(ctx, t.VideoPrefix(videoID))
	if err != nil {
		return fmt.Errorf("transcode: list published output: %w: %w", ErrStore, err)
	}
	for _, in := range infos {
		if err := t.blobs.Delete(ctx, in.Key); err != nil {
			return fmt.Errorf("transcode: delete %s: %w: %w", in.Key, ErrStore, err)
		}
	}
	return nil
}

// safeJobID is the shape of a job id ("job_" and a ULID where the
// transcoder makes them): it names the work directory.
var safeJobID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Run runs job to the end. On failure or cancellation it kills FFmpeg (its
// whole process group), removes the work dir and deletes what it published.
// A *FailedError means the source cannot be encoded; anything else (a
// context error, a blob-store error) may be retried.
func (t *Transcoder) Run(ctx context.Context, job Job) (_ *Result, err error) {
	start := time.Now()
	if !safeJobID.MatchString(job.ID) {
		return nil, errors.New("transcode: job id must be 1 to 128 characters of [A-Za-z0-9_-]")
	}
	if err := video.CheckID(job.VideoID); err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	if err := blob.ValidateKey(job.SourceKey); err != nil {
		return nil, fmt.Errorf("transcode: source: %w", err)
	}
	if job.Encryption != nil {
		if err := job.Encryption.validate(); err != nil {
			return nil, fmt.Errorf("transcode: %w", err)
		}
	}
	ladder := t.cfg.Ladder
	if len(job.Ladder) > 0 {
		if err := ValidateLadder(job.Ladder); err != nil {
			return nil, &FailedError{Reason: "bad ladder: " + err.Error()}
		}
		ladder = job.Ladder
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, t.cfg.JobTimeout)
	defer cancel()

	dir := filepath.Join(t.cfg.WorkDir, job.ID)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("transcode: clear work dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("transcode: work dir: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil {
			t.logger.Warn("transcode: remove work dir", "dir", dir, "err", rerr)
		}
		if err != nil {
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer ccancel()
			if cerr := t.Clean(cctx, job.VideoID); cerr != nil {
				t.logger.Warn("transcode: clean partial output", "video_id", job.VideoID, "err", cerr)
			}
		}
		if err != nil && !isFailed(err) && errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
			err = failf("encoding took longer than the %s limit", t.cfg.JobTimeout)
		}
	}()

	srcPath := filepath.Join(dir, "source")
	if err := t.fetch(ctx, job.SourceKey, srcPath); err != nil {
		return nil, err
	}
	src, err := t.probe(ctx, srcPath)
	if err != nil {
		return nil, err
	}
	p, err := t.plan(src, ladder)
	if err != nil {
		return nil, err
	}
	if job.OnPlan != nil {
		job.OnPlan(src, p.planned())
	}
	res, err := t.encode(ctx, job, dir, srcPath, src, p)
	if err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// ErrStore marks an attempt that failed on the media store (unreachable,
// refusing, timing out): the source and the job are fine, and the attempt
// is worth repeating once the store is back.
var ErrStore = errors.New("the media store failed")

func isFailed(err error) bool {
	var fe *FailedError
	return errors.As(err, &fe)
}

func (t *Transcoder) fetch(ctx context.Context, key, dst string) error {
	r, err := t.blobs.Get(ctx, key)
	if err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			return failf("the source file is missing from the blob store")
		}
		return fmt.Errorf("transcode: open source: %w: %w", ErrStore, err)
	}
	defer r.Close()
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("transcode: %w", err)
	}
	if _, err := io.Copy(f, storeReader{r}); err != nil {
		_ = f.Close()
		return fmt.Errorf("transcode: copy source: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("transcode: copy source: %w", err)
	}
	return nil
}

// jobPlan is the fitted ladder plus the audio renditions.
type jobPlan struct {
	videos   []Output
	audios   []audioOut
	segments int
	duration time.Duration
}

// audioOut is one AAC rendition.
type audioOut struct {
	Name    string
	Bitrate int
}

// audioName names the audio rendition of a bitrate: "audio" when the
// ladder has one audio bitrate, "audio-<kbit/s>k" otherwise.
func audioName(bitrate int, distinct int) string {
	if distinct == 1 {
		return "audio"
	}
	return fmt.Sprintf("audio-%dk", bitrate/1000)
}

func (t *Transcoder) plan(src *Source, ladder []Rung) (*jobPlan, error) {
	p := &jobPlan{duration: src.Duration}
	if src.Video != nil {
		w, h := src.Video.DisplaySize()
		outs, err := FitLadder(ladder, w, h, src.Video.FrameRate)
		if err != nil {
			return nil, &FailedError{Reason: err.Error()}
		}
		p.videos = outs
	}
	if src.Audio != nil {
		// One audio rendition per distinct audio bitrate of the rungs kept
		// (of the whole ladder for an audio-only source), highest first.
		var rates []int
		add := func(r int) {
			if r == 0 {
				r = DefaultAudioBitrate
			}
			if !slices.Contains(rates, r) {
				rates = append(rates, r)
			}
		}
		if len(p.videos) > 0 {
			for _, v := range p.videos {
				add(v.AudioBitrate)
			}
		} else {
			for _, r := range ladder {
				add(r.AudioBitrate)
			}
		}
		slices.SortFunc(rates, func(a, b int) int { return b - a })
		for _, r := range rates {
			p.audios = append(p.audios, audioOut{Name: audioName(r, len(rates)), Bitrate: r})
		}
	}
	seg := t.cfg.SegmentDuration
	p.segments = int((src.Duration + seg - 1) / seg)
	return p, nil
}

// audioFor returns the audio rendition played with a video rung.
func (p *jobPlan) audioFor(v Output) (audioOut, bool) {
	for _, a := range p.audios {
		if a.Bitrate == v.AudioBitrate {
			return a, true
		}
	}
	return audioOut{}, false
}

func (p *jobPlan) planned() []PlannedRendition {
	var out []PlannedRendition
	for _, v := range p.videos {
		out = append(out, PlannedRendition{Name: v.Name, Width: v.Width, Height: v.Height, FrameRate: v.FrameRate, Bitrate: v.VideoBitrate, SegmentsTotal: p.segments})
	}
	for _, a := range p.audios {
		out = append(out, PlannedRendition{Name: a.Name, Bitrate: a.Bitrate, SegmentsTotal: p.segments, Audio: true})
	}
	return out
}

// args builds the FFmpeg command line for the whole ladder.
func (t *Transcoder) args(srcPath string, p *jobPlan) []string {
	segSec := int(t.cfg.SegmentDuration / time.Second)
	a := []string{
		"-nostdin", "-hide_banner", "-v", "error",
		"-protocol_whitelist", "file",
		"-format_whitelist", acceptedFormats,
		"-i", "file:" + srcPath,
		"-progress", "pipe:1", "-nostats",
	}
	if n := len(p.videos); n > 0 {
		var fc strings.Builder
		if n == 1 {
			fc.WriteString("[0:v:0]null[s0]")
		} else {
			fmt.Fprintf(&fc, "[0:v:0]split=%d", n)
			for i := range n {
				fmt.Fprintf(&fc, "[s%d]", i)
			}
		}
		for i, v := range p.videos {
			fmt.Fprintf(&fc, ";[s%d]", i)
			if v.MaxFrameRate > 0 {
				fmt.Fprintf(&fc, "fps=%g,", v.FrameRate)
			}
			fmt.Fprintf(&fc, "scale=%d:%d,format=yuv420p[v%d]", v.Width, v.Height, i)
		}
		a = append(a, "-filter_complex", fc.String())
		for i := range p.videos {
			a = append(a, "-map", fmt.Sprintf("[v%d]", i))
		}
	}
	for range p.audios {
		a = append(a, "-map", "0:a:0")
	}
	if len(p.videos) > 0 {
		a = append(a, "-c:v", "libx264", "-preset", t.cfg.Preset, "-sc_threshold", "0",
			"-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%d)", segSec))
		for i, v := range p.videos {
			fps := v.FrameRate
			if fps <= 0 {
				fps = 30
			}
			g := max(1, int(fps*float64(segSec)+0.5))
			s := fmt.Sprintf(":v:%d", i)
			a = append(a,
				"-b"+s, fmt.Sprint(v.VideoBitrate),
				"-maxrate"+s, fmt.Sprint(v.VideoBitrate*3/2),
				"-bufsize"+s, fmt.Sprint(v.VideoBitrate*2),
				"-g"+s, fmt.Sprint(g), "-keyint_min"+s, fmt.Sprint(g))
		}
	}
	if len(p.audios) > 0 {
		a = append(a, "-c:a", "aac", "-ac", "2")
		for i, au := range p.audios {
			a = append(a, fmt.Sprintf("-b:a:%d", i), fmt.Sprint(au.Bitrate))
		}
	}
	var sets []string
	if len(p.videos) > 0 {
		sets = append(sets, "id=0,streams=v")
	}
	if len(p.audios) > 0 {
		sets = append(sets, fmt.Sprintf("id=%d,streams=a", len(sets)))
	}
	a = append(a,
		"-f", "dash",
		"-seg_duration", fmt.Sprint(segSec),
		"-use_template", "1", "-use_timeline", "0",
		"-adaptation_sets", strings.Join(sets, " "),
		"-init_seg_name", "r$RepresentationID$/init.m4s",
		"-media_seg_name", "r$RepresentationID$/seg-$Number%05d$.m4s",
		"-hls_playlist", "1", "-hls_master_name", "ffmpeg-master.m3u8",
		"manifest.mpd")
	return a
}

// command returns an FFmpeg (or ffprobe) command in its own process group
// that is killed, group and all, when ctx ends.
func command(ctx context.Context, bin, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	// Its own process group, so that cancel kills FFmpeg and anything it
	// started; and killed with us if this process dies (Linux).
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// storeReader tells the store's read errors from the local disk's.
type storeReader struct{ r io.Reader }

func (s storeReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", ErrStore, err)
	}
	return n, err
}
