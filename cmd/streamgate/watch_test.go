package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1/transcoderv1connect"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

const (
	testJobID   = "job_01JD3M7QZ8X9Y2W4V6T8R0P1NK"
	testAddress = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

// step is one move of a scripted WatchJob stream: send msg, or end the
// stream with err, or cut the connection (abort).
type step struct {
	msg   *transcoderv1.WatchJobResponse
	err   error
	abort bool
}

// scriptedTranscoder plays one script per WatchJob call (the last one for
// any further call) and answers ListJobs from listJobs.
type scriptedTranscoder struct {
	transcoderv1connect.UnimplementedTranscoderServiceHandler
	scripts  [][]step
	listJobs func(call int, req *transcoderv1.ListJobsRequest) (*transcoderv1.ListJobsResponse, error)

	mu        sync.Mutex
	calls     int
	listCalls int
	callers   []string // dev address header of every call
	listReqs  []*transcoderv1.ListJobsRequest
}

func (s *scriptedTranscoder) WatchJob(ctx context.Context, req *connect.Request[transcoderv1.WatchJobRequest], stream *connect.ServerStream[transcoderv1.WatchJobResponse]) error {
	s.mu.Lock()
	call := s.calls
	s.calls++
	s.callers = append(s.callers, req.Header().Get(identity.DevAddressHeader))
	s.mu.Unlock()
	if req.Msg.GetJobId() != testJobID {
		return connect.NewError(connect.CodeNotFound, errors.New("job not found"))
	}
	script := s.scripts[min(call, len(s.scripts)-1)]
	for _, st := range script {
		switch {
		case st.abort:
			panic(http.ErrAbortHandler) // net/http drops the connection mid-stream
		case st.err != nil:
			return st.err
		}
		if err := stream.Send(st.msg); err != nil {
			return err
		}
	}
	return nil
}

func (s *scriptedTranscoder) ListJobs(_ context.Context, req *connect.Request[transcoderv1.ListJobsRequest]) (*connect.Response[transcoderv1.ListJobsResponse], error) {
	s.mu.Lock()
	call := s.listCalls
	s.listCalls++
	s.callers = append(s.callers, req.Header().Get(identity.DevAddressHeader))
	s.listReqs = append(s.listReqs, req.Msg)
	s.mu.Unlock()
	if s.listJobs == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("no ListJobs in this script"))
	}
	res, err := s.listJobs(call, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

func (s *scriptedTranscoder) stats() (calls int, callers []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, append([]string(nil), s.callers...)
}

func startScripted(t *testing.T, s *scriptedTranscoder) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(transcoderv1connect.NewTranscoderServiceHandler(s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// Builders of scripted messages.

var (
	queued    = transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_QUEUED
	running   = transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_RUNNING
	succeeded = transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_SUCCEEDED
	failed    = transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_FAILED
	canceled  = transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_CANCELED
)

func jobMsg(j *transcoderv1.TranscodeJob) step {
	return step{msg: &transcoderv1.WatchJobResponse{Event: &transcoderv1.WatchJobResponse_Job{Job: j}}}
}

func queuedJob(pos uint32, eta time.Duration) step {
	return jobMsg(&transcoderv1.TranscodeJob{Id: testJobID, State: queued, QueuePosition: pos, Eta: durationpb.New(eta)})
}

// runningJob reports every rendition at pct with segs segments done.
func runningJob(pct float64, segs uint32, eta time.Duration) step {
	return jobMsg(&transcoderv1.TranscodeJob{
		Id: testJobID, State: running, Attempt: 1, ProgressPercent: pct, Eta: durationpb.New(eta),
		SourceMediaInfo:   &metadatav1.MediaInfo{Duration: durationpb.New(8 * time.Second)},
		RenditionProgress: renditions(pct, segs, transcoderv1.RenditionState_RENDITION_STATE_RUNNING),
	})
}

func renditions(pct float64, segs uint32, st transcoderv1.RenditionState) []*transcoderv1.RenditionProgress {
	return []*transcoderv1.RenditionProgress{
		{Name: "720p", Width: 1280, Height: 720, BandwidthBps: 2_800_000, ProgressPercent: pct, SegmentsDone: segs, SegmentsTotal: 2, State: st},
		{Name: "360p", Width: 640, Height: 360, BandwidthBps: 800_000, ProgressPercent: pct, SegmentsDone: segs, SegmentsTotal: 2, State: st},
		{Name: "audio", BandwidthBps: 128_000, ProgressPercent: pct, SegmentsDone: segs, SegmentsTotal: 2, State: st},
	}
}

func segmentMsg(rendition string, seq uint32) step {
	kind := transcoderv1.SegmentKind_SEGMENT_KIND_MEDIA
	path := rendition + "/seg-0000" + string(rune('0'+seq)) + ".m4s"
	if seq == 0 {
		kind, path = transcoderv1.SegmentKind_SEGMENT_KIND_INIT, rendition+"/init.mp4"
	}
	return step{msg: &transcoderv1.WatchJobResponse{Event: &transcoderv1.WatchJobResponse_Segment{Segment: &transcoderv1.SegmentEvent{
		RenditionName: rendition, Kind: kind, SequenceNumber: seq, Path: path, SizeBytes: 1000, Duration: durationpb.New(4 * time.Second),
	}}}}
}

func segmentsMsgs(seq uint32) []step {
	return []step{segmentMsg("720p", seq), segmentMsg("360p", seq), segmentMsg("audio", seq)}
}

func doneJob() step {
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return jobMsg(&transcoderv1.TranscodeJob{
		Id: testJobID, State: succeeded, Attempt: 1, ProgressPercent: 100,
		StartTime: timestamppb.New(start), FinishTime: timestamppb.New(start.Add(3 * time.Second)),
		RenditionProgress: renditions(100, 2, transcoderv1.RenditionState_RENDITION_STATE_SUCCEEDED),
		Renditions: []*metadatav1.Rendition{
			{Name: "720p", Width: 1280, Height: 720, BandwidthBps: 3_000_000, SegmentCount: 2, SizeBytes: 3 << 20, PlaylistPath: "720p/index.m3u8"},
			{Name: "360p", Width: 640, Height: 360, BandwidthBps: 900_000, SegmentCount: 2, SizeBytes: 1 << 20, PlaylistPath: "360p/index.m3u8"},
			{Name: "audio", BandwidthBps: 130_000, SegmentCount: 2, SizeBytes: 128 << 10, PlaylistPath: "audio/index.m3u8"},
		},
	})
}

func endedJob(state transcoderv1.TranscodeJobState, reason string) step {
	return jobMsg(&transcoderv1.TranscodeJob{Id: testJobID, State: state, Attempt: 1, FailureReason: reason,
		RenditionProgress: renditions(40, 1, transcoderv1.RenditionState_RENDITION_STATE_FAILED)})
}

func concat(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		}
	}
	return out
}

func watchArgs(srv *httptest.Server) []string {
	return []string{testJobID, "--gateway", srv.URL + "/", "--dev-address", testAddress}
}

func TestWatchSucceeded(t *testing.T) {
	s := &scriptedTranscoder{scripts: [][]step{concat(
		queuedJob(2, 20*time.Second), queuedJob(1, 12*time.Second),
		runningJob(0, 0, 8*time.Second), segmentMsg("720p", 0), segmentMsg("360p", 0), segmentMsg("audio", 0),
		segmentsMsgs(1), runningJob(50, 1, 4*time.Second), segmentsMsgs(2), doneJob(),
	)}}
	srv := startScripted(t, s)
	var stdout, stderr bytes.Buffer
	if err := runWatch(t.Context(), watchArgs(srv), &stdout, &stderr); err != nil {
		t.Fatalf("runWatch: %v\nstderr:\n%s", err, stderr.String())
	}
	progress := stderr.String()
	for _, want := range []string{
		testJobID + "  QUEUED  queue position 2  ETA 20s",
		"QUEUED  queue position 1  ETA 12s",
		"RUNNING    0.0%  ETA 8s",
		"  720p     1280x720  [....................]   0.0%  0/2 segments  running",
		"  360p     640x360   [",
		"  audio              [",
		"  720p     1280x720  [####################] 100.0%  2/2 segments  succeeded",
		testJobID + "  SUCCEEDED",
	} {
		if !strings.Contains(progress, want) {
			t.Errorf("progress output lacks %q; got:\n%s", want, progress)
		}
	}
	if strings.Contains(progress, "\x1b[") {
		t.Errorf("escape sequences written to a non-terminal:\n%q", progress)
	}
	out := stdout.String()
	for _, want := range []string{"job " + testJobID + " SUCCEEDED in 3s", "720p", "1280x720", "3.0 Mb/s", "720p/index.m3u8", "audio/index.m3u8"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q; got:\n%s", want, out)
		}
	}
	calls, callers := s.stats()
	if calls != 1 {
		t.Errorf("WatchJob calls = %d, want 1", calls)
	}
	for _, c := range callers {
		if c != testAddress {
			t.Errorf("call made as %q, want %q", c, testAddress)
		}
	}
}

func TestWatchReconnects(t *testing.T) {
	first := concat(queuedJob(1, 10*time.Second), runningJob(30, 0, 6*time.Second), segmentMsg("720p", 0), segmentsMsgs(1))
	// On reconnect the server sends the current snapshot first.
	second := concat(runningJob(60, 1, 3*time.Second), segmentsMsgs(2), doneJob())
	tests := []struct {
		name string
		cut  step
	}{
		{name: "connection cut", cut: step{abort: true}},
		{name: "instance shutting down", cut: step{err: connect.NewError(connect.CodeUnavailable, errors.New("shutting down"))}},
		{name: "slow reader", cut: step{err: connect.NewError(connect.CodeResourceExhausted, errors.New("too many pending segments"))}},
		{name: "stream closed early", cut: step{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := first
			if tt.cut.abort || tt.cut.err != nil {
				script = concat(first, tt.cut)
			}
			s := &scriptedTranscoder{scripts: [][]step{script, second}}
			srv := startScripted(t, s)
			var stdout, stderr bytes.Buffer
			if err := runWatch(t.Context(), watchArgs(srv), &stdout, &stderr); err != nil {
				t.Fatalf("runWatch: %v\nstderr:\n%s", err, stderr.String())
			}
			if calls, _ := s.stats(); calls != 2 {
				t.Errorf("WatchJob calls = %d, want 2 (one reconnect)", calls)
			}
			progress := stderr.String()
			for _, want := range []string{"RUNNING   30.0%", "connection lost", "reconnecting in", "RUNNING   60.0%  speed ", testJobID + "  SUCCEEDED"} {
				if !strings.Contains(progress, want) {
					t.Errorf("progress output lacks %q; got:\n%s", want, progress)
				}
			}
			if !strings.Contains(stdout.String(), "SUCCEEDED") {
				t.Errorf("stdout = %q, want the terminal state", stdout.String())
			}
		})
	}
}

func TestWatchUnsuccessfulEnd(t *testing.T) {
	tests := []struct {
		name    string
		end     step
		wantOut string
		wantErr string
	}{
		{name: "failed", end: endedJob(failed, "ffmpeg: invalid data found when processing input"),
			wantOut: "job " + testJobID + " FAILED: ffmpeg: invalid data found when processing input",
			wantErr: "failed: ffmpeg: invalid data found when processing input"},
		{name: "failed without reason", end: endedJob(failed, ""), wantOut: "FAILED: no reason given", wantErr: "no reason given"},
		{name: "canceled", end: endedJob(canceled, ""), wantOut: "job " + testJobID + " CANCELED", wantErr: "canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scriptedTranscoder{scripts: [][]step{concat(queuedJob(1, 0), runningJob(40, 1, 5*time.Second), segmentsMsgs(1), tt.end)}}
			srv := startScripted(t, s)
			var stdout, stderr bytes.Buffer
			err := runWatch(t.Context(), watchArgs(srv), &stdout, &stderr)
			if err == nil || err == errUsage || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("runWatch error = %v, want one containing %q (exit 1)", err, tt.wantErr)
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.wantOut)
			}
			if !strings.Contains(stderr.String(), "RUNNING   40.0%") {
				t.Errorf("no progress before the end; stderr:\n%s", stderr.String())
			}
			if calls, _ := s.stats(); calls != 1 {
				t.Errorf("WatchJob calls = %d, want 1 (a terminal state is final)", calls)
			}
		})
	}
}

func TestWatchErrors(t *testing.T) {
	t.Run("unknown job is not retried", func(t *testing.T) {
		s := &scriptedTranscoder{scripts: [][]step{nil}}
		srv := startScripted(t, s)
		var stdout, stderr bytes.Buffer
		err := runWatch(t.Context(), []string{"job_nope", "--gateway", srv.URL}, &stdout, &stderr)
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("err = %v, want NotFound", err)
		}
		if calls, _ := s.stats(); calls != 1 {
			t.Errorf("WatchJob calls = %d, want 1", calls)
		}
	})
	t.Run("gives up when the server keeps failing", func(t *testing.T) {
		s := &scriptedTranscoder{scripts: [][]step{{{err: connect.NewError(connect.CodeUnavailable, errors.New("no transcoder"))}}}}
		srv := startScripted(t, s)
		var stdout, stderr bytes.Buffer
		err := runWatch(t.Context(), watchArgs(srv), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "giving up") || connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatalf("err = %v, want giving up with Unavailable", err)
		}
		if calls, _ := s.stats(); calls != 4 {
			t.Errorf("WatchJob calls = %d, want 4 (first try and 3 retries before any message)", calls)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		s := &scriptedTranscoder{scripts: [][]step{{queuedJob(3, 0), {err: connect.NewError(connect.CodeUnavailable, errors.New("x"))}}}}
		srv := startScripted(t, s)
		ctx, cancel := context.WithCancel(t.Context())
		var stderr bytes.Buffer
		w := newWatcher(newTranscoderClient(uploadOptions{gateway: srv.URL, devAddress: testAddress}), &stderr)
		w.minBackoff, w.maxBackoff = time.Hour, time.Hour // cancel during the backoff
		done := make(chan error, 1)
		go func() { _, err := w.watch(ctx, testJobID); done <- err }()
		poll.Until(t, 30*time.Second, "the first WatchJob call", func() bool { calls, _ := s.stats(); return calls == 1 })
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("watch did not return after its context was canceled")
		}
	})
}

func TestWatchUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"a", "b"}, {"--nope", "x"}, {""}} {
		var out, errb bytes.Buffer
		if err := runWatch(t.Context(), args, &out, &errb); err != errUsage {
			t.Errorf("runWatch(%q) = %v, want errUsage", args, err)
		}
	}
	var out, errb bytes.Buffer
	if err := runWatch(t.Context(), []string{testJobID, "--dev-address", "nope"}, &out, &errb); err == nil || err == errUsage {
		t.Errorf("a bad --dev-address gave %v, want an error", err)
	}
}

// fakeClock is a settable now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestDisplayTerminalRedraw(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := newWatcher(nil, &buf)
	w.tty, w.now = true, clock.now
	d := newDisplay(w, testJobID)

	d.snapshot(queuedJob(2, 0).msg.GetJob())
	if got := buf.String(); strings.Contains(got, "\x1b[1A") || !strings.Contains(got, "\r\x1b[2K"+testJobID+"  QUEUED  queue position 2") {
		t.Fatalf("first draw = %q", got)
	}
	buf.Reset()
	clock.t = clock.t.Add(time.Second)
	d.snapshot(runningJob(10, 0, 0).msg.GetJob())
	// The one queued line is replaced by a job line and three renditions.
	if got := buf.String(); !strings.HasPrefix(got, "\x1b[1A\r\x1b[2K"+testJobID+"  RUNNING   10.0%") || strings.Count(got, "\n") != 4 {
		t.Fatalf("redraw = %q", got)
	}
	buf.Reset()
	clock.t = clock.t.Add(4 * time.Second)
	d.snapshot(runningJob(60, 1, 0).msg.GetJob())
	// 50% of 8 s of media in 4 s: speed 1.0x.
	if got := buf.String(); !strings.HasPrefix(got, "\x1b[4A") || !strings.Contains(got, "speed 1.0x") || !strings.Contains(got, "1/2 segments") {
		t.Fatalf("redraw = %q", got)
	}
	buf.Reset()
	// Redraws are throttled...
	d.segment(segmentMsg("720p", 2).msg.GetSegment())
	if buf.Len() != 0 {
		t.Errorf("redraw within %s of the last: %q", w.redrawEvery, buf.String())
	}
	// ...but the last state is always drawn, segments seen included.
	d.finish()
	if got := buf.String(); !strings.Contains(got, "720p     1280x720  [############........]  60.0%  2/2 segments") {
		t.Errorf("final draw = %q", got)
	}
	buf.Reset()
	// A reconnect note goes above the display, which is drawn anew below.
	d.note("connection lost")
	d.snapshot(doneJob().msg.GetJob())
	if got := buf.String(); !strings.Contains(got, "connection lost\n") || strings.Contains(got[strings.Index(got, "connection lost"):], "\x1b[4A") {
		t.Errorf("after a note = %q", got)
	}
}

func TestDisplaySpeed(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := newWatcher(nil, &bytes.Buffer{})
	w.now = clock.now
	d := newDisplay(w, testJobID)
	job := func(attempt uint32, pct float64) *transcoderv1.TranscodeJob {
		j := runningJob(pct, 0, time.Minute).msg.GetJob()
		j.Attempt = attempt
		j.SourceMediaInfo.Duration = durationpb.New(60 * time.Second)
		return j
	}
	steps := []struct {
		after   time.Duration
		job     *transcoderv1.TranscodeJob
		wantSpd float64
	}{
		{0, job(1, 10), 0},
		{4 * time.Second, job(1, 30), 3},    // 12 s of media in 4 s
		{4 * time.Second, job(1, 50), 3},    // 24 s in 8 s
		{time.Second, job(2, 0), 0},         // a new attempt starts over
		{10 * time.Second, job(2, 10), 0.6}, // 6 s in 10 s
	}
	for i, st := range steps {
		clock.t = clock.t.Add(st.after)
		d.snapshot(st.job)
		if diff := d.speed - st.wantSpd; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("step %d: speed = %v, want %v", i, d.speed, st.wantSpd)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if !isTerminal(devNull) {
		t.Error("a character device is not taken for a terminal")
	}
	if isTerminal(file) || isTerminal(&bytes.Buffer{}) {
		t.Error("a file or a buffer is taken for a terminal")
	}
	t.Setenv("TERM", "dumb")
	if isTerminal(devNull) {
		t.Error("TERM=dumb is taken for a terminal")
	}
}

func TestFindJob(t *testing.T) {
	const videoID = "vid_01JD3M7QZ8X9Y2W4V6T8R0P1NK"
	s := &scriptedTranscoder{listJobs: func(call int, req *transcoderv1.ListJobsRequest) (*transcoderv1.ListJobsResponse, error) {
		switch {
		case call == 0:
			return &transcoderv1.ListJobsResponse{}, nil // not queued yet
		case call == 1:
			return nil, connect.NewError(connect.CodeUnavailable, errors.New("restarting"))
		case req.GetVideoId() != videoID:
			return &transcoderv1.ListJobsResponse{}, nil
		}
		return &transcoderv1.ListJobsResponse{Jobs: []*transcoderv1.TranscodeJob{{Id: testJobID, VideoId: videoID, State: queued}}}, nil
	}}
	srv := startScripted(t, s)
	client := newTranscoderClient(uploadOptions{gateway: srv.URL, devAddress: testAddress})
	job, err := findJob(t.Context(), client, videoID, 30*time.Second)
	if err != nil || job.GetId() != testJobID {
		t.Fatalf("findJob = %v, %v; want %s", job, err, testJobID)
	}
	if _, callers := s.stats(); len(callers) != 3 || callers[2] != testAddress {
		t.Errorf("ListJobs callers = %q, want 3 calls as %s", callers, testAddress)
	}

	// A video whose job never shows up.
	_, err = findJob(t.Context(), client, "vid_other", 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no transcode job for video vid_other") {
		t.Errorf("findJob of a video without a job = %v", err)
	}
	// Permission problems are not retried.
	s2 := &scriptedTranscoder{listJobs: func(int, *transcoderv1.ListJobsRequest) (*transcoderv1.ListJobsResponse, error) {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("sign in"))
	}}
	srv2 := startScripted(t, s2)
	_, err = findJob(t.Context(), newTranscoderClient(uploadOptions{gateway: srv2.URL, devAddress: testAddress}), videoID, 30*time.Second)
	if _, callers := s2.stats(); connect.CodeOf(err) != connect.CodeUnauthenticated || len(callers) != 1 {
		t.Errorf("findJob = %v after %d calls, want Unauthenticated after 1", err, len(callers))
	}
}

// TestUploadWatch runs `streamgate upload --watch` against the real upload
// service and a scripted transcoder behind one front, as the gateway is.
func TestUploadWatch(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	clip := makeTestClip(t)
	uploadSrv := startUploadService(t, &cliVideos{}, func(h http.Handler) http.Handler { return h })
	var seenVideo sync.Map
	s := &scriptedTranscoder{
		scripts: [][]step{concat(queuedJob(1, 0), runningJob(50, 1, time.Second), segmentsMsgs(1), doneJob())},
		listJobs: func(call int, req *transcoderv1.ListJobsRequest) (*transcoderv1.ListJobsResponse, error) {
			seenVideo.Store(req.GetVideoId(), true)
			if call == 0 || !strings.HasPrefix(req.GetVideoId(), "vid_") {
				return &transcoderv1.ListJobsResponse{}, nil // the job is not queued yet
			}
			return &transcoderv1.ListJobsResponse{Jobs: []*transcoderv1.TranscodeJob{{Id: testJobID, VideoId: req.GetVideoId(), State: queued}}}, nil
		},
	}
	target, _ := url.Parse(uploadSrv.URL)
	mux := http.NewServeMux()
	mux.Handle(transcoderv1connect.NewTranscoderServiceHandler(s))
	mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)

	var stdout, stderr bytes.Buffer
	args := []string{clip, "--watch", "--json", "--gateway", front.URL, "--dev-address", testAddress}
	if err := runUpload(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("runUpload --watch: %v\nstderr:\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res map[string]string
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if res["job_id"] != testJobID || res["state"] != "SUCCEEDED" || res["upload_id"] == "" || res["video_id"] == "" {
		t.Errorf("result = %v, want the upload, the video and job %s SUCCEEDED", res, testJobID)
	}
	if _, ok := seenVideo.Load(res["video_id"]); !ok {
		t.Errorf("ListJobs was never asked for video %s", res["video_id"])
	}
	for _, want := range []string{"transcode job: " + testJobID, "RUNNING   50.0%", "720p", testJobID + "  SUCCEEDED"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q; got:\n%s", want, stderr.String())
		}
	}
	if _, callers := s.stats(); len(callers) == 0 || callers[len(callers)-1] != testAddress {
		t.Errorf("transcoder calls made as %q, want %s", callers, testAddress)
	}
}
