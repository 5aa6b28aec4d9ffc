package transcoder_test

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/streamgate/streamgate/internal/telemetry/telemetrytest"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/transcoder"
)

// TestQueueReadsNoJobScan runs everything that reads the queue (the
// MaxQueueDepth admission, queue positions, pool stats, the queue metrics)
// and Resubmit on a bucket that holds a job nobody can decode: a scan of
// every job trips on it, the queue and upload entries do not. No worker
// runs, so the submitted jobs stay QUEUED.
func TestQueueReadsNoJobScan(t *testing.T) {
	e := newEnv(t)
	tel := telemetrytest.New(t, "transcoder")
	cfg := testConfig(e.work, "inst-q")
	cfg.MaxQueueDepth = 2
	cfg.MeterProvider = tel.MeterProvider
	svc, err := transcoder.New(cfg, e.bus, e.blobs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	submit := func(n int) (*transcoder.Job, error) {
		return svc.Submit(t.Context(), transcoder.SubmitParams{
			RequestID: fmt.Sprintf("req-%d", n), VideoID: fmt.Sprintf("vid_%d", n), UploadID: fmt.Sprintf("upl_%d", n),
			CreatorAddress: creator, SourceKey: fmt.Sprintf("uploads/upl_%d/source", n),
		})
	}
	a, err := submit(1)
	if err != nil {
		t.Fatal(err)
	}
	// The trap: an undecodable job, as a scan of "job.*" would read it.
	kv, err := e.bus.JetStream().KeyValue(t.Context(), "transcode_jobs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), "job.job_corrupt", []byte("{not json")); err != nil {
		t.Fatal(err)
	}

	b, err := submit(2)
	if err != nil {
		t.Fatalf("Submit with MaxQueueDepth under the cap: %v", err)
	}
	if _, err := submit(3); !errors.Is(err, transcoder.ErrQueueFull) {
		t.Fatalf("Submit past MaxQueueDepth: %v, want ErrQueueFull", err)
	}
	for _, tt := range []struct {
		job  *transcoder.Job
		want int
	}{{a, 1}, {b, 2}} {
		j, err := svc.GetJob(t.Context(), owner, tt.job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.QueuePosition != tt.want {
			t.Errorf("GetJob(%s).QueuePosition = %d, want %d", j.VideoID, j.QueuePosition, tt.want)
		}
	}
	jobs, _, err := svc.ListJobs(t.Context(), owner, transcoder.ListParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if want := map[string]int{a.ID: 1, b.ID: 2}[j.ID]; j.QueuePosition != want {
			t.Errorf("ListJobs: %s at position %d, want %d", j.ID, j.QueuePosition, want)
		}
	}
	ps, err := svc.GetPoolStats(t.Context(), operator)
	if err != nil {
		t.Fatalf("GetPoolStats: %v", err)
	}
	if ps.QueueDepth != 2 || ps.OldestQueued <= 0 {
		t.Errorf("pool stats: depth %d, oldest %s; want 2 and > 0", ps.QueueDepth, ps.OldestQueued)
	}
	f := telemetrytest.Families(t, tel.MetricsHandler())
	if depth, _ := telemetrytest.Value(f, "streamgate_transcode_queue_depth"); depth != 2 {
		t.Errorf("queue depth metric = %v, want 2", depth)
	}
	if age, _ := telemetrytest.Value(f, "streamgate_transcode_queue_oldest_age_seconds"); age <= 0 {
		t.Errorf("queue age metric = %v, want > 0", age)
	}

	// A leaves the queue: B moves up, the cap lets one more in.
	if _, err := svc.CancelJob(t.Context(), owner, a.ID); err != nil {
		t.Fatal(err)
	}
	if j, err := svc.GetJob(t.Context(), owner, b.ID); err != nil || j.QueuePosition != 1 {
		t.Errorf("after A left: GetJob(B) = %+v, %v; want position 1", j, err)
	}
	c, err := submit(3)
	if err != nil {
		t.Fatalf("Submit after a job left the queue: %v", err)
	}
	if j, err := svc.GetJob(t.Context(), owner, c.ID); err != nil || j.QueuePosition != 2 {
		t.Errorf("GetJob(C) = %+v, %v; want position 2", j, err)
	}
	poll.Until(t, waitTimeout, "the metric to follow", func() bool {
		depth, _ := telemetrytest.Value(telemetrytest.Families(t, tel.MetricsHandler()), "streamgate_transcode_queue_depth")
		return depth == 2
	})

	// Resubmit starts from the upload's latest job, read by its entry.
	if _, err := svc.CancelJob(t.Context(), owner, c.ID); err != nil { // room in the queue
		t.Fatal(err)
	}
	r, err := svc.Resubmit(t.Context(), "req-again", a.VideoID, a.UploadID, nil)
	if err != nil {
		t.Fatalf("Resubmit: %v", err)
	}
	if r.ID == a.ID || r.SourceKey != a.SourceKey || r.CreatorAddress != a.CreatorAddress || r.State != transcoder.StateQueued {
		t.Errorf("Resubmit = %+v; want a new QUEUED job from %+v", r, a)
	}
	if _, err := svc.Resubmit(t.Context(), "req-x", b.VideoID, a.UploadID, nil); !errors.Is(err, transcoder.ErrPrecondition) {
		t.Errorf("Resubmit of another video's upload: %v, want ErrPrecondition", err)
	}
	if _, err := svc.Resubmit(t.Context(), "req-y", a.VideoID, "upl_404", nil); !errors.Is(err, transcoder.ErrNotFound) {
		t.Errorf("Resubmit of an unknown upload: %v, want ErrNotFound", err)
	}
}
