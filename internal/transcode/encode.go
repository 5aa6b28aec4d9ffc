package transcode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/streamgate/streamgate/internal/cenc"
)

// encode runs FFmpeg and publishes its output as it appears.
func (t *Transcoder) encode(ctx context.Context, job Job, dir, srcPath string, src *Source, p *jobPlan) (*Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pub := newPublisher(t, job, dir, p)
	for i := range pub.rends {
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("r%d", i)), 0o750); err != nil {
			return nil, fmt.Errorf("transcode: %w", err)
		}
	}

	// Poster and storyboard come from a second, small FFmpeg run alongside.
	thumbsDone := make(chan error, 1)
	if len(p.videos) > 0 {
		go func() { thumbsDone <- t.thumbnails(ctx, dir, srcPath, p) }()
	} else {
		thumbsDone <- nil
	}

	cmd := command(ctx, t.cfg.FFmpeg, dir, t.args(srcPath, p)...)
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("transcode: start ffmpeg: %w", err)
	}
	exited := make(chan error, 1)
	go func() {
		readProgress(stdout, p.duration, job.OnProgress)
		exited <- cmd.Wait()
	}()

	tick := time.NewTicker(t.cfg.PollInterval)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case runErr = <-exited:
			break loop
		case <-tick.C:
			if err := pub.scan(ctx, false); err != nil {
				cancel()
				<-exited
				<-thumbsDone
				return nil, err
			}
		}
	}
	if runErr != nil {
		ctxErr := ctx.Err()
		cancel()
		<-thumbsDone
		if ctxErr != nil {
			return nil, ctxErr
		}
		return nil, failf("ffmpeg: %s", ffmpegReason(stderr.String(), "encoding failed"))
	}
	if err := pub.scan(ctx, true); err != nil {
		<-thumbsDone
		return nil, err
	}
	if err := <-thumbsDone; err != nil {
		return nil, err
	}
	return pub.finish(ctx, src)
}

// readProgress parses FFmpeg's -progress key=value blocks.
func readProgress(r io.Reader, total time.Duration, on func(Progress)) {
	sc := bufio.NewScanner(r)
	var cur Progress
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "out_time_us":
			if us, err := strconv.ParseInt(v, 10, 64); err == nil && us >= 0 {
				cur.OutTime = time.Duration(us) * time.Microsecond
			}
		case "speed":
			if f, err := strconv.ParseFloat(strings.TrimSuffix(v, "x"), 64); err == nil && f > 0 {
				cur.Speed = f
			} else {
				cur.Speed = 0
			}
		case "progress":
			if total > 0 {
				cur.Percent = min(100, 100*cur.OutTime.Seconds()/total.Seconds())
			}
			cur.ETA = 0
			if v == "end" {
				cur.Percent = 100
			} else if cur.Speed > 0 && total > cur.OutTime {
				cur.ETA = time.Duration(float64(total-cur.OutTime) / cur.Speed)
			}
			if on != nil {
				on(cur)
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// thumbnails writes poster.jpg and the storyboard sprite and VTT to dir.
func (t *Transcoder) thumbnails(ctx context.Context, dir, srcPath string, p *jobPlan) error {
	top := p.videos[0]
	at := p.duration / 10
	if at > 10*time.Second {
		at = 10 * time.Second
	}
	pw, ph := top.Width, top.Height
	if pw > 1280 {
		ph = int(float64(ph)*1280/float64(pw)+1) &^ 1
		pw = 1280
	}
	poster := command(ctx, t.cfg.FFmpeg, dir, "-nostdin", "-v", "error",
		"-protocol_whitelist", "file", "-format_whitelist", acceptedFormats,
		"-ss", fmt.Sprintf("%.3f", at.Seconds()), "-i", "file:"+srcPath,
		"-frames:v", "1", "-vf", fmt.Sprintf("scale=%d:%d,setsar=1", pw, ph), "-q:v", "3", "-y", "poster.jpg")
	if err := runQuiet(poster); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return failf("poster: %v", err)
	}
	sb := storyboardLayout(p.duration, top.Width, top.Height)
	sprite := command(ctx, t.cfg.FFmpeg, dir, "-nostdin", "-v", "error",
		"-protocol_whitelist", "file", "-format_whitelist", acceptedFormats,
		"-i", "file:"+srcPath, "-an",
		"-vf", fmt.Sprintf("fps=1/%g,scale=%d:%d,setsar=1,tile=%dx%d", sb.interval.Seconds(), sb.w, sb.h, sb.cols, sb.rows),
		"-frames:v", "1", "-q:v", "5", "-y", "storyboard.jpg")
	if err := runQuiet(sprite); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return failf("storyboard: %v", err)
	}
	return os.WriteFile(filepath.Join(dir, "storyboard.vtt"), sb.vtt("storyboard.jpg", p.duration), 0o640)
}

func runQuiet(cmd interface {
	CombinedOutput() ([]byte, error)
}) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(ffmpegReason(string(out), err.Error()))
	}
	return nil
}

type storyboard struct {
	interval   time.Duration
	count      int
	w, h       int
	cols, rows int
}

// storyboardLayout picks one 160-pixel-wide tile every interval seconds
// (2 s, longer for long media so there are at most 200 tiles), ten tiles
// per row.
func storyboardLayout(d time.Duration, w, h int) storyboard {
	iv := 2 * time.Second
	for d/iv > 200 {
		iv += time.Second
	}
	n := max(1, int((d+iv-1)/iv))
	cols := min(10, n)
	tw := 160
	th := max(2, int(float64(tw)*float64(h)/float64(w)/2+0.5)*2)
	return storyboard{interval: iv, count: n, w: tw, h: th, cols: cols, rows: (n + cols - 1) / cols}
}

func (s storyboard) vtt(sprite string, d time.Duration) []byte {
	var b bytes.Buffer
	b.WriteString("WEBVTT\n")
	for i := range s.count {
		from := time.Duration(i) * s.interval
		to := min(from+s.interval, d)
		fmt.Fprintf(&b, "\n%s --> %s\n%s#xywh=%d,%d,%d,%d\n", vttTime(from), vttTime(to), sprite, (i%s.cols)*s.w, (i/s.cols)*s.h, s.w, s.h)
	}
	return b.Bytes()
}

func vttTime(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3_600_000, ms/60_000%60, ms/1000%60, ms%1000)
}

// rendState is one rendition being published.
type rendState struct {
	name     string
	audio    bool
	video    *Output
	bitrate  int
	initDone bool
	segs     []publishedSegment
	size     int64 // init + media bytes
	final    bool
}

// publisher copies FFmpeg's finished segments to the blob store.
type publisher struct {
	t      *Transcoder
	job    Job
	dir    string
	plan   *jobPlan
	rends  []*rendState // index = DASH representation id
	prefix string
	codecs map[int]string
	master bool
	// pending are segments in the blob store whose playlist is not
	// written yet; they are announced after it is.
	pending []Segment
	// keys protects each rendition (by id) when the job is encrypted.
	keys map[int]*rendKeys
}

func newPublisher(t *Transcoder, job Job, dir string, p *jobPlan) *publisher {
	pub := &publisher{t: t, job: job, dir: dir, plan: p, prefix: t.VideoPrefix(job.VideoID), keys: map[int]*rendKeys{}}
	for i := range p.videos {
		pub.rends = append(pub.rends, &rendState{name: p.videos[i].Name, video: &p.videos[i], bitrate: p.videos[i].VideoBitrate})
	}
	for _, a := range p.audios {
		pub.rends = append(pub.rends, &rendState{name: a.Name, audio: true, bitrate: a.Bitrate})
	}
	return pub
}

// scan publishes every segment FFmpeg's playlists list that is not yet
// published. final is set once FFmpeg has exited successfully.
func (p *publisher) scan(ctx context.Context, final bool) error {
	for id, r := range p.rends {
		b, err := os.ReadFile(filepath.Join(p.dir, fmt.Sprintf("media_%d.m3u8", id)))
		if errors.Is(err, os.ErrNotExist) {
			if final {
				return fmt.Errorf("transcode: ffmpeg wrote no playlist for %s", r.name)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("transcode: %w", err)
		}
		listed, ended := parseMediaPlaylist(b)
		if final && !ended {
			return fmt.Errorf("transcode: ffmpeg playlist for %s is not final", r.name)
		}
		if len(listed) < len(r.segs) {
			return fmt.Errorf("transcode: ffmpeg playlist for %s lost segments", r.name)
		}
		if len(listed) == len(r.segs) && !final {
			continue
		}
		for _, ls := range listed[len(r.segs):] {
			if err := p.publishSegment(ctx, id, r, ls); err != nil {
				return err
			}
		}
		r.final = final
		if err := p.putPlaylist(ctx, r); err != nil {
			return err
		}
		// Announce segments only once the playlist lists them: a watcher
		// that resumes from the playlist and then follows the
		// announcements can miss nothing in between.
		for _, seg := range p.pending {
			p.emit(seg)
		}
		p.pending = p.pending[:0]
	}
	if !p.master {
		return p.maybeMaster(ctx)
	}
	return nil
}

func (p *publisher) publishSegment(ctx context.Context, id int, r *rendState, ls listedSegment) error {
	want := fmt.Sprintf("r%d/", id)
	base := path.Base(ls.URI)
	if !strings.HasPrefix(ls.URI, want) || strings.Contains(ls.URI, "..") || ls.URI != want+base {
		return fmt.Errorf("transcode: unexpected segment %q in the playlist of %s", ls.URI, r.name)
	}
	enc := p.job.Encryption
	if !r.initDone {
		if enc == nil {
			n, err := p.putFile(ctx, want+initName, r.name+"/"+initName)
			if err != nil {
				return err
			}
			r.size += n
			p.pending = append(p.pending, Segment{Rendition: r.name, Kind: SegmentInit, Path: r.name + "/" + initName, Key: p.prefix + r.name + "/" + initName, Size: n})
		} else {
			// Never a clear init segment in the store: the protected
			// ones are made before anything of the rendition is put.
			names, inits, err := p.protectInit(id, want+initName)
			if err != nil {
				return err
			}
			for i, name := range names {
				rel := r.name + "/" + name
				if err := p.putBytes(ctx, rel, inits[i]); err != nil {
					return err
				}
				n := int64(len(inits[i]))
				r.size += n
				key := enc.Full
				if name == previewInitName {
					key = enc.Preview
				}
				p.pending = append(p.pending, Segment{Rendition: r.name, Kind: SegmentInit, Path: rel, Key: p.prefix + rel, Size: n,
					Encryption: enc.Scheme, KeyID: key.ID})
			}
		}
		r.initDone = true
	}
	rel := r.name + "/" + base
	seq := len(r.segs) + 1
	var (
		n     int64
		err   error
		keyID [16]byte
	)
	if enc == nil {
		n, err = p.putFile(ctx, ls.URI, rel)
	} else {
		var b []byte
		var key cenc.Key
		if b, key, err = p.encryptSegment(id, seq, ls.URI); err == nil {
			err = p.putBytes(ctx, rel, b)
			n, keyID = int64(len(b)), key.ID
		}
	}
	if err != nil {
		return err
	}
	r.segs = append(r.segs, publishedSegment{Name: base, Duration: ls.Duration, Size: n})
	r.size += n
	s := Segment{Rendition: r.name, Kind: SegmentMedia, Sequence: seq, Path: rel, Key: p.prefix + rel, Size: n, Duration: ls.Duration}
	if enc != nil {
		s.Encryption, s.KeyID = enc.Scheme, keyID
	}
	p.pending = append(p.pending, s)
	return nil
}

func (p *publisher) emit(s Segment) {
	if p.job.OnSegment != nil {
		p.job.OnSegment(s)
	}
}

func (p *publisher) putFile(ctx context.Context, local, rel string) (int64, error) {
	f, err := os.Open(filepath.Join(p.dir, filepath.FromSlash(local)))
	if err != nil {
		return 0, fmt.Errorf("transcode: %w", err)
	}
	defer f.Close()
	n, err := p.t.blobs.Put(ctx, p.prefix+rel, f)
	if err != nil {
		return 0, fmt.Errorf("transcode: publish %s: %w: %w", rel, ErrStore, err)
	}
	return n, nil
}

func (p *publisher) putBytes(ctx context.Context, rel string, b []byte) error {
	if _, err := p.t.blobs.Put(ctx, p.prefix+rel, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("transcode: publish %s: %w: %w", rel, ErrStore, err)
	}
	return nil
}

func (p *publisher) putPlaylist(ctx context.Context, r *rendState) error {
	var keys *playlistKeys
	if enc := p.job.Encryption; enc != nil {
		keys = &playlistKeys{fullTag: keyTag(enc.Scheme, enc.Full, LicenceURI)}
		if enc.PreviewUntil > 0 {
			keys.previewTag = keyTag(enc.Scheme, enc.Preview, PreviewLicenceURI)
			for keys.previewSegs < len(r.segs) && p.inPreview(keys.previewSegs+1) {
				keys.previewSegs++
			}
		}
	}
	return p.putBytes(ctx, r.name+"/playlist.m3u8", renderMediaPlaylist(initName, r.segs, p.t.cfg.SegmentDuration, r.final, keys))
}

// maybeMaster publishes the master playlist once every rendition has a
// segment out and FFmpeg's MPD names the codecs.
func (p *publisher) maybeMaster(ctx context.Context) error {
	for _, r := range p.rends {
		if len(r.segs) == 0 {
			return nil
		}
	}
	if p.codecs == nil {
		b, err := os.ReadFile(filepath.Join(p.dir, "manifest.mpd"))
		if err != nil {
			return nil // not written yet
		}
		codecs, err := mpdCodecs(b)
		if err != nil || len(codecs) < len(p.rends) {
			return nil // try again on the next scan
		}
		p.codecs = codecs
	}
	if err := p.putBytes(ctx, "master.m3u8", p.renderMaster(false)); err != nil {
		return err
	}
	p.master = true
	return nil
}

// renderMaster uses the target bitrates while encoding and the measured
// ones at the end.
func (p *publisher) renderMaster(measured bool) []byte {
	var videos []variant
	audios := map[string]*variant{}
	var audioOrder []*variant
	for id, r := range p.rends {
		v := variant{Name: r.name, Codec: p.codecs[id], Playlist: r.name + "/playlist.m3u8",
			Bandwidth: int64(r.bitrate), AvgBandwidth: int64(r.bitrate)}
		if measured {
			v.Bandwidth, v.AvgBandwidth = r.bandwidth()
		}
		if r.audio {
			audios[r.name] = &v
			audioOrder = append(audioOrder, &v)
			continue
		}
		v.Width, v.Height, v.FrameRate = r.video.Width, r.video.Height, r.video.FrameRate
		if a, ok := p.plan.audioFor(*r.video); ok {
			v.Audio = a.Name
		}
		videos = append(videos, v)
	}
	return renderMaster(videos, audios, audioOrder)
}

// bandwidth is the peak and mean bitrate over the media segments.
func (r *rendState) bandwidth() (peak, avg int64) {
	var bytes int64
	var dur time.Duration
	for _, s := range r.segs {
		bytes += s.Size
		dur += s.Duration
		if s.Duration > 0 {
			if bw := int64(float64(s.Size*8) / s.Duration.Seconds()); bw > peak {
				peak = bw
			}
		}
	}
	if dur > 0 {
		avg = int64(float64(bytes*8) / dur.Seconds())
	}
	return peak, max(peak, avg)
}

// finish publishes the final master playlist, the MPD, the poster and the
// storyboard, and builds the Result.
func (p *publisher) finish(ctx context.Context, src *Source) (*Result, error) {
	b, err := os.ReadFile(filepath.Join(p.dir, "manifest.mpd"))
	if err != nil {
		return nil, fmt.Errorf("transcode: ffmpeg wrote no MPD: %w", err)
	}
	if p.codecs, err = mpdCodecs(b); err != nil || len(p.codecs) < len(p.rends) {
		return nil, fmt.Errorf("transcode: unreadable MPD from ffmpeg: %v", err)
	}
	names := map[int]string{}
	for id, r := range p.rends {
		names[id] = r.name
	}
	mpd, err := rewriteMPD(b, names)
	if err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	if enc := p.job.Encryption; enc != nil {
		if enc.PreviewUntil > 0 {
			pre, err := previewMPD(mpd, enc.Scheme, enc.Preview, enc.PreviewUntil, p.previewSegments())
			if err != nil {
				return nil, fmt.Errorf("transcode: %w", err)
			}
			// Before manifest.mpd: streaming, finding that encrypted,
			// refuses a preview viewer rather than serve a preview it
			// cannot find yet.
			if err := p.putBytes(ctx, PreviewMPDName, pre); err != nil {
				return nil, err
			}
		}
		// A Period per key when the first segments are the preview's.
		total := 0
		if len(p.rends) > 0 {
			total = len(p.rends[0].segs)
		}
		if mpd, err = keyPeriodsMPD(mpd, enc.Scheme, enc.Full, enc.Preview, p.previewSegments(), total, p.t.cfg.SegmentDuration); err != nil {
			return nil, fmt.Errorf("transcode: %w", err)
		}
	}
	if err := p.putBytes(ctx, "manifest.mpd", mpd); err != nil {
		return nil, err
	}
	if err := p.putBytes(ctx, "master.m3u8", p.renderMaster(true)); err != nil {
		return nil, err
	}
	res := &Result{Source: src, Duration: src.Duration, HLSPath: "master.m3u8", DASHPath: "manifest.mpd"}
	if enc := p.job.Encryption; enc != nil {
		res.Encryption = enc.Scheme
		if enc.PreviewUntil > 0 {
			// Where the first full-key segment starts, as the segment
			// numbers say (preview.Free).
			seg := p.t.cfg.SegmentDuration
			res.PreviewKeyUntil = min(src.Duration, (enc.PreviewUntil+seg-1)/seg*seg)
		}
	}
	if len(p.plan.videos) > 0 {
		for _, f := range []string{"poster.jpg", "storyboard.jpg", "storyboard.vtt"} {
			if _, err := p.putFile(ctx, f, f); err != nil {
				return nil, err
			}
		}
		res.PosterPath, res.StoryboardPath = "poster.jpg", "storyboard.vtt"
	}
	audioByName := map[string]*rendState{}
	audioCodec := map[string]string{}
	for id, r := range p.rends {
		if r.audio {
			audioByName[r.name], audioCodec[r.name] = r, p.codecs[id]
		}
	}
	for id, r := range p.rends {
		peak, avg := r.bandwidth()
		rr := Rendition{Name: r.name, Codecs: []string{p.codecs[id]}, Bandwidth: peak, AverageBandwidth: avg,
			SegmentCount: len(r.segs), SizeBytes: r.size, PlaylistPath: r.name + "/playlist.m3u8", Audio: r.audio}
		if !r.audio {
			rr.Width, rr.Height, rr.FrameRate = r.video.Width, r.video.Height, r.video.FrameRate
			if a, ok := p.plan.audioFor(*r.video); ok {
				ap, aa := audioByName[a.Name].bandwidth()
				rr.Bandwidth += ap
				rr.AverageBandwidth += aa
				rr.Codecs = append(rr.Codecs, audioCodec[a.Name])
			}
		}
		res.Renditions = append(res.Renditions, rr)
	}
	return res, nil
}
