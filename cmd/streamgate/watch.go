package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"

	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1/transcoderv1connect"
	"github.com/streamgate/streamgate/internal/identity"
)

// runWatch is `streamgate watch JOB_ID [--server URL] [--json]
// [--dev-address 0x...]`: it follows a transcode job with a live progress
// display per rendition on stderr, prints the terminal state on stdout, and
// fails when the job ends FAILED or CANCELED.
func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: streamgate watch JOB_ID [--server URL] [--json] [--dev-address 0x...]")
		fmt.Fprintln(stderr, "\nFollows a transcode job until it ends; exits non-zero when it FAILED or was CANCELED.\n\nflags:")
		fs.PrintDefaults()
	}
	var o uploadOptions
	var c clientFlags
	c.register(fs, `print the end as {"job_id","video_id","state","failure_reason"} JSON on stdout`)
	fs.StringVar(&o.devAddress, "dev-address", defaultDevAddress,
		"without a stored session for --server: wallet to watch as, sent in the "+identity.DevAddressHeader+" header, which only streamgate dev accepts")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return errUsage
	}
	if len(positional) != 1 || positional[0] == "" {
		fs.Usage()
		return errUsage
	}
	if o.gateway, err = c.base(); err != nil {
		fmt.Fprintf(stderr, "streamgate watch: %v\n", err)
		return errUsage
	}
	if _, err := identity.NormalizeAddress(o.devAddress); err != nil {
		return fmt.Errorf("--dev-address: %w", err)
	}
	w := newWatcher(newTranscoderClient(o), stderr)
	job, err := w.watch(ctx, positional[0])
	if err != nil {
		return c.result(stdout, err)
	}
	if !c.json {
		return reportTerminal(stdout, job)
	}
	out := map[string]string{"job_id": job.GetId(), "video_id": job.GetVideoId(), "state": stateName(job.GetState())}
	if r := job.GetFailureReason(); r != "" {
		out["failure_reason"] = r
	}
	if err := printJSON(stdout, out); err != nil {
		return err
	}
	if err := reportTerminal(io.Discard, job); err != nil {
		return reported{err}
	}
	return nil
}

// newTranscoderClient is a TranscoderService client through the gateway
// that sends the caller's identity the way upload does (authorize).
func newTranscoderClient(o uploadOptions) transcoderv1connect.TranscoderServiceClient {
	return transcoderv1connect.NewTranscoderServiceClient(&http.Client{}, o.gateway,
		connect.WithInterceptors(authInterceptor{o: o}))
}

// authInterceptor applies authorize to unary and streaming calls alike.
type authInterceptor struct{ o uploadOptions }

func (a authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		authorize(req.Header(), a.o)
		return next(ctx, req)
	}
}

func (a authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		authorize(conn.RequestHeader(), a.o)
		return conn
	}
}

func (a authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// reportTerminal prints a job's terminal state on stdout and returns an
// error, carrying the reason, when it did not succeed.
func reportTerminal(stdout io.Writer, job *transcoderv1.TranscodeJob) error {
	state := stateName(job.GetState())
	took := ""
	if job.GetStartTime() != nil && job.GetFinishTime() != nil {
		took = " in " + job.GetFinishTime().AsTime().Sub(job.GetStartTime().AsTime()).Round(100*time.Millisecond).String()
	}
	switch job.GetState() {
	case transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_SUCCEEDED:
		fmt.Fprintf(stdout, "job %s SUCCEEDED%s\n", job.GetId(), took)
		for _, r := range job.GetRenditions() {
			size := ""
			if r.GetWidth() > 0 {
				size = fmt.Sprintf("%dx%d", r.GetWidth(), r.GetHeight())
			}
			fmt.Fprintf(stdout, "  %-10s %-10s %9s  %4d segments  %10s  %s\n", r.GetName(), size,
				humanBitrate(r.GetBandwidthBps()), r.GetSegmentCount(), humanBytes(int64(r.GetSizeBytes())), r.GetPlaylistPath())
		}
		return nil
	case transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_FAILED:
		reason := job.GetFailureReason()
		if reason == "" {
			reason = "no reason given"
		}
		fmt.Fprintf(stdout, "job %s FAILED%s: %s\n", job.GetId(), took, reason)
		return fmt.Errorf("job %s failed: %s", job.GetId(), reason)
	case transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_CANCELED:
		fmt.Fprintf(stdout, "job %s CANCELED\n", job.GetId())
		return fmt.Errorf("job %s was canceled", job.GetId())
	default:
		return fmt.Errorf("job %s ended in state %s", job.GetId(), state)
	}
}

// watcher follows one job over WatchJob, reconnecting when the stream
// breaks before a terminal state.
type watcher struct {
	client transcoderv1connect.TranscoderServiceClient
	out    io.Writer // where progress and reconnect notes go (stderr)
	tty    bool      // redraw in place instead of printing lines
	now    func() time.Time

	// Reconnect policy: the delay starts at minBackoff and doubles up to
	// maxBackoff; after maxRetries failed attempts in a row without a
	// single message (maxRetriesCold before the first message ever) the
	// watch gives up.
	minBackoff, maxBackoff     time.Duration
	maxRetries, maxRetriesCold int
	// plainEvery is how often plain (non-terminal) output repeats the
	// progress when only numbers changed; state changes print at once.
	plainEvery time.Duration
	// redrawEvery limits in-place redraws.
	redrawEvery time.Duration
}

func newWatcher(client transcoderv1connect.TranscoderServiceClient, out io.Writer) *watcher {
	return &watcher{
		client:         client,
		out:            out,
		tty:            isTerminal(out),
		now:            time.Now,
		minBackoff:     250 * time.Millisecond,
		maxBackoff:     8 * time.Second,
		maxRetries:     8,
		maxRetriesCold: 3,
		plainEvery:     2 * time.Second,
		redrawEvery:    100 * time.Millisecond,
	}
}

// isTerminal reports whether w is a character device (a terminal, as far
// as a dependency-free check can tell); pipes, files and buffers are not.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// errStreamEnded is a stream that closed with OK before a terminal state.
var errStreamEnded = errors.New("stream ended before the job finished")

// permanent reports whether a WatchJob error is not worth a reconnect.
func permanent(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument, connect.CodeNotFound, connect.CodePermissionDenied,
		connect.CodeUnauthenticated, connect.CodeUnimplemented, connect.CodeFailedPrecondition,
		connect.CodeOutOfRange, connect.CodeAlreadyExists:
		return true
	}
	return false
}

// watch follows the job until it reaches a terminal state and returns that
// last snapshot. Errors are transport or permission errors, never the
// job's own failure.
func (w *watcher) watch(ctx context.Context, jobID string) (*transcoderv1.TranscodeJob, error) {
	d := newDisplay(w, jobID)
	everReceived := false
	failures := 0
	for {
		job, received, err := w.once(ctx, jobID, d)
		if err == nil {
			d.finish()
			return job, nil
		}
		if ctx.Err() != nil {
			d.finish()
			return nil, ctx.Err()
		}
		if permanent(err) {
			d.finish()
			return nil, fmt.Errorf("watch job %s: %w", jobID, err)
		}
		if received {
			everReceived, failures = true, 0
		}
		failures++
		limit := w.maxRetries
		if !everReceived {
			limit = w.maxRetriesCold
		}
		if failures > limit {
			d.finish()
			return nil, fmt.Errorf("watch job %s: giving up after %d attempts: %w", jobID, failures, err)
		}
		delay := min(w.minBackoff<<(failures-1), w.maxBackoff)
		delay += rand.N(delay/4 + 1) // jitter, so many watchers do not reconnect in step
		d.note(fmt.Sprintf("connection lost (%v); reconnecting in %s", err, delay.Round(10*time.Millisecond)))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			d.finish()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// once runs one WatchJob stream. It returns the terminal snapshot, or an
// error and whether any message arrived before it.
func (w *watcher) once(ctx context.Context, jobID string, d *display) (*transcoderv1.TranscodeJob, bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := w.client.WatchJob(ctx, connect.NewRequest(&transcoderv1.WatchJobRequest{JobId: jobID}))
	if err != nil {
		return nil, false, err
	}
	defer stream.Close()
	received := false
	for stream.Receive() {
		received = true
		msg := stream.Msg()
		switch ev := msg.GetEvent().(type) {
		case *transcoderv1.WatchJobResponse_Job:
			d.snapshot(ev.Job)
			if terminal(ev.Job.GetState()) {
				return ev.Job, true, nil
			}
		case *transcoderv1.WatchJobResponse_Segment:
			d.segment(ev.Segment)
		}
	}
	if err := stream.Err(); err != nil {
		return nil, received, err
	}
	return nil, received, errStreamEnded
}

func terminal(s transcoderv1.TranscodeJobState) bool {
	switch s {
	case transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_SUCCEEDED,
		transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_FAILED,
		transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_CANCELED:
		return true
	}
	return false
}

func stateName(s transcoderv1.TranscodeJobState) string {
	return strings.TrimPrefix(s.String(), "TRANSCODE_JOB_STATE_")
}

// display keeps what is known about the job and draws it: in place on a
// terminal, as plain lines otherwise.
type display struct {
	w     *watcher
	jobID string

	job  *transcoderv1.TranscodeJob
	segs map[string]uint32 // media segments seen per rendition, this attempt

	// Speed: media time encoded per wall-clock second, measured from the
	// first RUNNING snapshot of the current attempt.
	speedAttempt uint32
	speedBaseAt  time.Time
	speedBasePct float64
	speed        float64

	drawn     int // lines drawn by the last in-place redraw
	lastDraw  time.Time
	lastKey   string // state, attempt and queue position last printed
	lastPrint time.Time
	dirty     bool
}

func newDisplay(w *watcher, jobID string) *display {
	return &display{w: w, jobID: jobID, segs: map[string]uint32{}}
}

func (d *display) snapshot(j *transcoderv1.TranscodeJob) {
	now := d.w.now()
	if d.job == nil || j.GetAttempt() != d.job.GetAttempt() {
		clear(d.segs)
	}
	for _, r := range j.GetRenditionProgress() {
		d.segs[r.GetName()] = max(d.segs[r.GetName()], r.GetSegmentsDone())
	}
	d.job = j
	d.measureSpeed(j, now)
	d.dirty = true
	d.render(now, false)
}

func (d *display) measureSpeed(j *transcoderv1.TranscodeJob, now time.Time) {
	if j.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_RUNNING {
		if j.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_SUCCEEDED {
			d.speed = 0
		}
		return
	}
	pct := j.GetProgressPercent()
	if d.speedBaseAt.IsZero() || j.GetAttempt() != d.speedAttempt || pct < d.speedBasePct {
		d.speedAttempt, d.speedBaseAt, d.speedBasePct, d.speed = j.GetAttempt(), now, pct, 0
		return
	}
	dur := j.GetSourceMediaInfo().GetDuration().AsDuration()
	elapsed := now.Sub(d.speedBaseAt)
	if dur <= 0 || elapsed <= 0 || pct <= d.speedBasePct {
		return
	}
	d.speed = (pct - d.speedBasePct) / 100 * dur.Seconds() / elapsed.Seconds()
}

func (d *display) segment(s *transcoderv1.SegmentEvent) {
	if s.GetKind() != transcoderv1.SegmentKind_SEGMENT_KIND_MEDIA {
		return
	}
	d.segs[s.GetRenditionName()] = max(d.segs[s.GetRenditionName()], s.GetSequenceNumber())
	d.dirty = true
	d.render(d.w.now(), false)
}

// note prints a line outside the progress display (a reconnect).
func (d *display) note(msg string) {
	if d.w.tty {
		d.render(d.w.now(), true)
		d.drawn = 0 // the note scrolls the display up: draw anew below it
	}
	fmt.Fprintln(d.w.out, msg)
	d.lastKey = "" // show the first snapshot after it at once
}

// finish draws the last state.
func (d *display) finish() {
	d.render(d.w.now(), true)
}

func (d *display) render(now time.Time, force bool) {
	if d.job == nil || (!d.dirty && !force) {
		return
	}
	key := fmt.Sprintf("%s/%d/%d/%d", d.job.GetState(), d.job.GetAttempt(), d.job.GetQueuePosition(), len(d.job.GetRenditionProgress()))
	if d.w.tty {
		if !force && key == d.lastKey && now.Sub(d.lastDraw) < d.w.redrawEvery {
			return
		}
		lines := d.lines()
		var b strings.Builder
		if d.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", d.drawn)
		}
		for _, l := range lines {
			b.WriteString("\r\x1b[2K")
			b.WriteString(l)
			b.WriteByte('\n')
		}
		for i := len(lines); i < d.drawn; i++ { // the display shrank
			b.WriteString("\r\x1b[2K\n")
		}
		if extra := d.drawn - len(lines); extra > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", extra)
		}
		io.WriteString(d.w.out, b.String())
		d.drawn = len(lines)
	} else {
		if !force && key == d.lastKey && now.Sub(d.lastPrint) < d.w.plainEvery {
			return
		}
		if force && key == d.lastKey && !d.dirty {
			return
		}
		io.WriteString(d.w.out, strings.Join(d.lines(), "\n")+"\n")
		d.lastPrint = now
	}
	d.lastKey, d.lastDraw, d.dirty = key, now, false
}

// lines is the display: a job line, then one line per rendition.
func (d *display) lines() []string {
	j := d.job
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s", d.jobID, stateName(j.GetState()))
	switch j.GetState() {
	case transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_QUEUED:
		if p := j.GetQueuePosition(); p > 0 {
			fmt.Fprintf(&b, "  queue position %d", p)
		}
		if j.GetAttempt() > 0 {
			fmt.Fprintf(&b, "  (retrying after attempt %d)", j.GetAttempt())
		}
	case transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_RUNNING:
		fmt.Fprintf(&b, "  %5.1f%%", j.GetProgressPercent())
		if j.GetAttempt() > 1 {
			fmt.Fprintf(&b, "  attempt %d", j.GetAttempt())
		}
	case transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_FAILED:
		fmt.Fprintf(&b, "  %s", j.GetFailureReason())
	}
	if !terminal(j.GetState()) {
		if d.speed > 0 {
			fmt.Fprintf(&b, "  speed %.1fx", d.speed)
		}
		if eta := j.GetEta(); eta != nil {
			fmt.Fprintf(&b, "  ETA %s", eta.AsDuration().Round(time.Second))
		} else {
			b.WriteString("  ETA --")
		}
	}
	out := []string{b.String()}
	for _, r := range j.GetRenditionProgress() {
		pct := r.GetProgressPercent()
		size := ""
		if r.GetWidth() > 0 {
			size = fmt.Sprintf("%dx%d", r.GetWidth(), r.GetHeight())
		}
		segs := fmt.Sprintf("%d", d.segs[r.GetName()])
		if t := r.GetSegmentsTotal(); t > 0 {
			segs += fmt.Sprintf("/%d", t)
		}
		state := strings.ToLower(strings.TrimPrefix(r.GetState().String(), "RENDITION_STATE_"))
		out = append(out, fmt.Sprintf("  %-8s %-9s %s %5.1f%%  %s segments  %s", r.GetName(), size, bar(pct, 20), pct, segs, state))
	}
	return out
}

// bar draws a progress bar of width cells for pct (0 to 100).
func bar(pct float64, width int) string {
	n := int(pct / 100 * float64(width))
	n = min(max(n, 0), width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func humanBitrate(bps uint64) string {
	switch {
	case bps >= 1_000_000:
		return fmt.Sprintf("%.1f Mb/s", float64(bps)/1e6)
	case bps >= 1000:
		return fmt.Sprintf("%d kb/s", bps/1000)
	default:
		return fmt.Sprintf("%d b/s", bps)
	}
}

// jobAppearTimeout is how long `upload --watch` waits for the transcoder
// to queue a job for the uploaded video (it does so on upload.completed).
const jobAppearTimeout = 30 * time.Second

// findJob returns the newest job of a video, asking again until one
// appears or timeout passes.
func findJob(ctx context.Context, client transcoderv1connect.TranscoderServiceClient, videoID string, timeout time.Duration) (*transcoderv1.TranscodeJob, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for delay := 100 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		res, err := client.ListJobs(ctx, connect.NewRequest(&transcoderv1.ListJobsRequest{VideoId: videoID, PageSize: 1}))
		switch {
		case err == nil && len(res.Msg.GetJobs()) > 0:
			return res.Msg.GetJobs()[0], nil
		case err != nil && (ctx.Err() != nil || permanent(err)):
			return nil, fmt.Errorf("list jobs of video %s: %w", videoID, err)
		case err != nil:
			lastErr = err
		}
		if time.Now().Add(delay).After(deadline) {
			if lastErr != nil {
				return nil, fmt.Errorf("no transcode job for video %s after %s: %w", videoID, timeout, lastErr)
			}
			return nil, fmt.Errorf("no transcode job for video %s after %s", videoID, timeout)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
