package transcoder_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/transcoder"
)

func TestUploadCompletedToSucceeded(t *testing.T) { testUploadCompletedToSucceeded(t, newEnv(t)) }

// TestUploadCompletedToSucceededOnS3: the same with the media on a real S3
// server: the worker fetches the source from S3 and publishes there, and
// WatchJob replays the playlists and serves segment bytes read from S3.
func TestUploadCompletedToSucceededOnS3(t *testing.T) {
	testUploadCompletedToSucceeded(t, newS3Env(t))
}

func testUploadCompletedToSucceeded(t *testing.T, e *env) {
	completed := collect[*eventsv1.TranscodeCompleted](t, e.bus, "test-completed")
	ready := collect[*eventsv1.SegmentReady](t, e.bus, "test-segments")
	progress := collect[*eventsv1.TranscodeProgress](t, e.bus, "test-progress")
	svc, _ := e.start(t, "inst-a")

	ev := e.upload(t, 1, clip(t, 9))
	job := jobOf(t, svc, "vid_1")
	// Resuming from nothing: every segment of every rendition, init
	// first, whatever was published before the watch began.
	all := map[string]uint32{"180p": 0, "144p": 0, "audio": 0}
	w := watchResume(t.Context(), svc, job.ID, true, all, nil)
	msgs := w.wait(t)

	first := msgs[0].GetJob()
	if first == nil || first.GetId() != job.ID {
		t.Fatalf("first message is not the job snapshot: %v", msgs[0])
	}
	last := msgs[len(msgs)-1].GetJob()
	if last.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_SUCCEEDED || last.GetProgressPercent() != 100 {
		t.Fatalf("last message: %v", last)
	}
	var names []string
	for _, r := range last.GetRenditions() {
		names = append(names, r.GetName())
	}
	if !slices.Equal(names, []string{"180p", "144p", "audio"}) || last.GetAttempt() != 1 || last.GetWorkerInstanceId() != "inst-a" {
		t.Errorf("renditions %v attempt %d worker %q", names, last.GetAttempt(), last.GetWorkerInstanceId())
	}
	if mi := last.GetSourceMediaInfo(); mi.GetVideo().GetWidth() != 320 || mi.GetAudio() == nil {
		t.Errorf("source media info: %v", mi)
	}
	// Segment events, in order within each rendition, with their bytes.
	seqs := map[string][]uint32{}
	for _, m := range msgs {
		if s := m.GetSegment(); s != nil {
			if len(s.GetData()) == 0 || uint64(len(s.GetData())) != s.GetSizeBytes() {
				t.Errorf("segment %s: %d bytes of data, size %d", s.GetPath(), len(s.GetData()), s.GetSizeBytes())
			}
			seqs[s.GetRenditionName()] = append(seqs[s.GetRenditionName()], s.GetSequenceNumber())
		}
	}
	// Replay and live events together: each rendition's init (0) then
	// 1, 2, 3, with no gap and no repeat.
	for _, n := range names {
		if got := seqs[n]; !slices.Equal(got, []uint32{0, 1, 2, 3}) {
			t.Errorf("%s segment events: sequences %v, want [0 1 2 3]", n, got)
		}
	}
	// A client that reconnects after the end, having seen 180p up to 1,
	// gets the snapshot, 180p's 2 and 3, and the terminal snapshot again.
	again := watchResume(t.Context(), svc, job.ID, false, map[string]uint32{"180p": 1}, nil).wait(t)
	var resumed []uint32
	for _, m := range again[1 : len(again)-1] {
		resumed = append(resumed, m.GetSegment().GetSequenceNumber())
	}
	if again[0].GetJob() == nil || again[len(again)-1].GetJob().GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_SUCCEEDED || !slices.Equal(resumed, []uint32{2, 3}) {
		t.Errorf("resumed watch of a finished job: %v", again)
	}
	// Events.
	poll.Until(t, waitTimeout, "transcode.completed", func() bool { return len(completed()) == 1 })
	c := completed()[0]
	if c.GetJobId() != job.ID || c.GetHlsManifestPath() != "master.m3u8" || c.GetDashManifestPath() != "manifest.mpd" || len(c.GetRenditions()) != 3 {
		t.Errorf("transcode.completed: %v", c)
	}
	poll.Until(t, waitTimeout, "segment.ready events", func() bool { return len(ready()) == 12 })
	byRend := map[string][]uint32{}
	for _, r := range ready() {
		if r.GetJobId() != job.ID || r.GetVideoId() != "vid_1" || r.GetSizeBytes() == 0 {
			t.Errorf("segment.ready: %v", r)
		}
		byRend[r.GetRendition()] = append(byRend[r.GetRendition()], r.GetSequence())
	}
	for _, n := range names {
		got := byRend[n]
		slices.Sort(got)
		if !slices.Equal(got, []uint32{0, 1, 2, 3}) {
			t.Errorf("%s segment.ready sequences %v, want [0 1 2 3]", n, got)
		}
	}
	if len(progress()) == 0 {
		t.Error("no transcode.progress event")
	}
	// The output is in the blob store.
	if _, err := e.blobs.Stat(t.Context(), "videos/vid_1/180p/playlist.m3u8"); err != nil {
		t.Error(err)
	}

	// A redelivered upload.completed queues nothing new.
	if err := e.bus.Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	j2, err := svc.Submit(t.Context(), transcoder.SubmitParams{RequestID: ev.GetEventId(), VideoID: "vid_1", UploadID: "upl_1", CreatorAddress: creator, SourceKey: ev.GetBlobKey()})
	if err != nil || j2.ID != job.ID {
		t.Errorf("Submit with the same request id: %v, %v; want job %s", j2, err, job.ID)
	}
	jobs, _, err := svc.ListJobs(t.Context(), owner, transcoder.ListParams{})
	if err != nil || len(jobs) != 1 {
		t.Errorf("ListJobs: %d jobs, %v", len(jobs), err)
	}

	// Only the creator sees the job.
	if _, err := svc.GetJob(t.Context(), stranger, job.ID); !errors.Is(err, transcoder.ErrNotFound) {
		t.Errorf("GetJob by a stranger: %v, want ErrNotFound", err)
	}
	if jobs, _, _ := svc.ListJobs(t.Context(), stranger, transcoder.ListParams{}); len(jobs) != 0 {
		t.Errorf("ListJobs by a stranger: %d jobs", len(jobs))
	}
	if _, err := svc.CancelJob(t.Context(), stranger, job.ID); !errors.Is(err, transcoder.ErrNotFound) {
		t.Errorf("CancelJob by a stranger: %v, want ErrNotFound", err)
	}
	if _, err := svc.CancelJob(t.Context(), owner, job.ID); !errors.Is(err, transcoder.ErrPrecondition) {
		t.Errorf("CancelJob of a SUCCEEDED job: %v, want ErrPrecondition", err)
	}

	// Pool stats.
	if _, err := svc.GetPoolStats(t.Context(), owner); !errors.Is(err, transcoder.ErrPermission) {
		t.Errorf("GetPoolStats without the operator credential: %v", err)
	}
	ps, err := svc.GetPoolStats(t.Context(), operator)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.Instances) != 1 || ps.Instances[0].InstanceID != "inst-a" || ps.Instances[0].JobsSucceeded != 1 || ps.Instances[0].WorkersTotal != 1 || ps.QueueDepth != 0 || ps.Instances[0].MeanSpeed <= 0 {
		t.Errorf("pool stats: %+v", ps)
	}
}

func TestCorruptSourceFails(t *testing.T) {
	e := newEnv(t)
	failed := collect[*eventsv1.TranscodeFailed](t, e.bus, "test-failed")
	svc, _ := e.start(t, "inst-a")
	good := clip(t, 4)
	e.upload(t, 2, good[:len(good)/3])
	job := jobOf(t, svc, "vid_2")
	msgs := watch(t.Context(), svc, job.ID, false, nil).wait(t)
	last := msgs[len(msgs)-1].GetJob()
	if last.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_FAILED || !strings.Contains(last.GetFailureReason(), "not a media file") || last.GetAttempt() != 1 {
		t.Fatalf("job: %v", last)
	}
	poll.Until(t, waitTimeout, "transcode.failed", func() bool { return len(failed()) == 1 })
	if f := failed()[0]; f.GetReason() != last.GetFailureReason() || f.GetCanceled() {
		t.Errorf("transcode.failed: %v", f)
	}
}

func TestCancelRunningJob(t *testing.T) {
	e := newEnv(t)
	failed := collect[*eventsv1.TranscodeFailed](t, e.bus, "test-failed")
	svc, _ := e.start(t, "inst-a")
	e.upload(t, 3, clip(t, 40))
	job := jobOf(t, svc, "vid_3")
	canceled := false
	w := watch(t.Context(), svc, job.ID, false, func(m *transcoderv1.WatchJobResponse) {
		if m.GetSegment().GetKind() == transcoderv1.SegmentKind_SEGMENT_KIND_MEDIA && !canceled {
			canceled = true
			if _, err := svc.CancelJob(t.Context(), owner, job.ID); err != nil {
				t.Errorf("CancelJob: %v", err)
			}
		}
	})
	msgs := w.wait(t)
	last := msgs[len(msgs)-1].GetJob()
	if last.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_CANCELED {
		t.Fatalf("job: %v", last)
	}
	// The worker stops and deletes what it wrote.
	poll.Until(t, waitTimeout, "the worker to let go", func() bool {
		ps, err := svc.GetPoolStats(t.Context(), operator)
		return err == nil && len(ps.Instances) == 1 && ps.Instances[0].WorkersBusy == 0
	})
	if infos, _ := e.blobs.List(t.Context(), "videos/vid_3/"); len(infos) != 0 {
		t.Errorf("output left after cancel: %d objects", len(infos))
	}
	poll.Until(t, waitTimeout, "transcode.failed", func() bool { return len(failed()) == 1 })
	if f := failed()[0]; !f.GetCanceled() {
		t.Errorf("transcode.failed: %v", f)
	}
	// Idempotent.
	j, err := svc.CancelJob(t.Context(), owner, job.ID)
	if err != nil || j.State != transcoder.StateCanceled {
		t.Errorf("second CancelJob: %v, %v", j, err)
	}
}

func TestQueuePosition(t *testing.T) {
	e := newEnv(t)
	svc, _ := e.start(t, "inst-a") // one worker
	e.upload(t, 6, clip(t, 40))
	a := jobOf(t, svc, "vid_6")
	poll.Until(t, waitTimeout, "job A to run", func() bool {
		j, err := svc.GetJob(t.Context(), owner, a.ID)
		return err == nil && j.State == transcoder.StateRunning
	})
	short := clip(t, 2)
	e.upload(t, 7, short)
	b := jobOf(t, svc, "vid_7")
	e.upload(t, 8, short)
	c := jobOf(t, svc, "vid_8")

	positions := make(chan uint32, 16)
	w := watch(t.Context(), svc, c.ID, false, func(m *transcoderv1.WatchJobResponse) {
		if j := m.GetJob(); j != nil && j.GetState() == transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_QUEUED {
			positions <- j.GetQueuePosition()
		}
	})
	if p := <-positions; p != 2 {
		t.Fatalf("C starts at queue position %d, want 2", p)
	}
	if _, err := svc.CancelJob(t.Context(), owner, b.ID); err != nil {
		t.Fatal(err)
	}
	if p := <-positions; p != 1 {
		t.Fatalf("after B left, C is at %d, want 1", p)
	}
	if _, err := svc.CancelJob(t.Context(), owner, a.ID); err != nil {
		t.Fatal(err)
	}
	msgs := w.wait(t)
	if last := msgs[len(msgs)-1].GetJob(); last.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_SUCCEEDED {
		t.Fatalf("C: %v", last)
	}
	ps, err := svc.GetPoolStats(t.Context(), operator)
	if err != nil {
		t.Fatal(err)
	}
	if ps.QueueDepth != 0 || ps.Instances[0].JobsSucceeded != 1 {
		t.Errorf("pool stats: %+v", ps)
	}
}
