package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

func ok(context.Context, Job) error { return nil }

func TestSubmitRunsAndDeduplicates(t *testing.T) {
	var calls atomic.Int32
	s := newTestService(t, startNATS(t), testConfig(), map[string]Handler{
		"test.ok": func(context.Context, Job) error { calls.Add(1); return nil },
	}, KindOptions{})
	run(t, s)
	j := submit(t, s, SubmitParams{Kind: "test.ok", Payload: []byte(`{}`), IdempotencyKey: "k1"})
	if !strings.HasPrefix(j.ID, "wjob_") || len(j.ID) != 31 {
		t.Errorf("id = %q", j.ID)
	}
	done := waitState(t, s, j.ID, StateSucceeded)
	if done.Attempts != 1 || done.FinishTime.IsZero() || done.StartTime.IsZero() {
		t.Errorf("succeeded job = %+v", done)
	}
	again, dedup, err := s.Submit(t.Context(), SubmitParams{Kind: "test.ok", IdempotencyKey: "k1"})
	if err != nil || !dedup || again.ID != j.ID || again.State != StateSucceeded {
		t.Errorf("resubmit = %+v, %v, %v; want the same job, deduplicated", again, dedup, err)
	}
	// Concurrent duplicates still make one job.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			j, _, err := s.Submit(t.Context(), SubmitParams{Kind: "test.ok", IdempotencyKey: "k2"})
			if err != nil {
				t.Errorf("Submit: %v", err)
			}
			ids[i] = j.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent submits made different jobs: %v", ids)
		}
	}
	waitState(t, s, ids[0], StateSucceeded)
	if got := calls.Load(); got != 2 {
		t.Errorf("handler ran %d times, want 2", got)
	}
}

func TestRetryBackoffDeadAndRetryJob(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	var mu sync.Mutex
	var starts []time.Time
	s := newTestService(t, startNATS(t), testConfig(), map[string]Handler{
		"test.flaky": func(context.Context, Job) error {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			if fail.Load() {
				return errors.New("boom")
			}
			return nil
		},
		"test.perm": func(context.Context, Job) error { return Permanent(errors.New("malformed payload")) },
	}, KindOptions{})
	run(t, s)
	j := submit(t, s, SubmitParams{Kind: "test.flaky", MaxAttempts: 3})
	dead := waitState(t, s, j.ID, StateDead)
	if dead.Attempts != 3 || dead.LastError != "boom" || dead.FinishTime.IsZero() {
		t.Errorf("dead job = %+v", dead)
	}
	mu.Lock()
	if len(starts) != 3 {
		t.Fatalf("%d attempts, want 3", len(starts))
	}
	// Backoff: ~50ms then ~100ms (+/-20%).
	if d := starts[1].Sub(starts[0]); d < 40*time.Millisecond {
		t.Errorf("first backoff %v, want >= 40ms", d)
	}
	if d := starts[2].Sub(starts[1]); d < 80*time.Millisecond {
		t.Errorf("second backoff %v, want >= 80ms", d)
	}
	mu.Unlock()

	// RetryJob of a job that is not DEAD fails; of the DEAD one revives it.
	if _, err := s.jobs.retry(t.Context(), submit(t, s, SubmitParams{Kind: "test.perm", RunTime: time.Now().Add(time.Hour)}).ID); !errors.Is(err, ErrPrecondition) {
		t.Errorf("retry of a SCHEDULED job: %v, want precondition", err)
	}
	fail.Store(false)
	revived, err := s.jobs.retry(t.Context(), j.ID)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if revived.Attempts != 0 || !revived.FinishTime.IsZero() || revived.MaxAttempts != 3 {
		t.Errorf("revived = %+v", revived)
	}
	done := waitState(t, s, j.ID, StateSucceeded)
	if done.Attempts != 1 || done.LastError != "" {
		t.Errorf("after retry = %+v", done)
	}
	if _, err := s.jobs.retry(t.Context(), j.ID); !errors.Is(err, ErrPrecondition) {
		t.Errorf("second retry: %v, want precondition", err)
	}

	p := submit(t, s, SubmitParams{Kind: "test.perm", MaxAttempts: 5})
	if pd := waitState(t, s, p.ID, StateDead); pd.Attempts != 1 || !strings.Contains(pd.LastError, "malformed payload") {
		t.Errorf("permanent failure = %+v", pd)
	}
}

func TestBackoffBounds(t *testing.T) {
	for _, tc := range []struct {
		attempt  uint32
		min, max time.Duration
	}{
		{1, 8 * time.Second, 12 * time.Second},
		{2, 16 * time.Second, 24 * time.Second},
		{4, 64 * time.Second, 96 * time.Second},
		{20, 48 * time.Minute, 72 * time.Minute},
	} {
		for i := range 50 {
			if d := backoff(10*time.Second, time.Hour, fmt.Sprint("wjob_", i), tc.attempt); d < tc.min || d > tc.max {
				t.Errorf("backoff(attempt %d) = %v, want in [%v, %v]", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}

func TestTimeout(t *testing.T) {
	s := newTestService(t, startNATS(t), testConfig(), map[string]Handler{
		"test.slow": func(ctx context.Context, _ Job) error { <-ctx.Done(); return ctx.Err() },
	}, KindOptions{})
	run(t, s)
	j := submit(t, s, SubmitParams{Kind: "test.slow", MaxAttempts: 1, Timeout: time.Second})
	if d := waitState(t, s, j.ID, StateDead); d.LastError != "timeout" {
		t.Errorf("last_error = %q, want timeout", d.LastError)
	}
}

func TestCancel(t *testing.T) {
	started := make(chan string, 1)
	var sawCancel atomic.Bool
	s := newTestService(t, startNATS(t), testConfig(), map[string]Handler{
		"test.block": func(ctx context.Context, j Job) error {
			started <- j.ID
			<-ctx.Done()
			sawCancel.Store(true)
			return nil // outcome must be discarded
		},
	}, KindOptions{})
	run(t, s)
	j := submit(t, s, SubmitParams{Kind: "test.block"})
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("job never started")
	}
	c, err := s.jobs.cancel(t.Context(), j.ID)
	if err != nil || c.State != StateCanceled {
		t.Fatalf("cancel = %+v, %v", c, err)
	}
	poll.Until(t, waitTimeout, "the running attempt to be canceled", sawCancel.Load)
	// Idempotent, and the outcome was discarded.
	if c2, err := s.jobs.cancel(t.Context(), j.ID); err != nil || c2.State != StateCanceled {
		t.Errorf("second cancel = %+v, %v", c2, err)
	}
	// A scheduled job canceled before its time never runs.
	sj := submit(t, s, SubmitParams{Kind: "test.block", RunTime: time.Now().Add(500 * time.Millisecond)})
	if _, err := s.jobs.cancel(t.Context(), sj.ID); err != nil {
		t.Fatal(err)
	}
	// A finished job cannot be canceled.
	final, _, _ := s.jobs.get(t.Context(), j.ID)
	if final.State != StateCanceled {
		t.Errorf("state after handler returned = %s, want CANCELED", stateName(final.State))
	}
	d := submit(t, s, SubmitParams{Kind: "test.block", RunTime: time.Now().Add(time.Hour)})
	_, _ = s.jobs.modify(t.Context(), d.ID, func(j *Job) (bool, error) { j.State = StateDead; return true, nil })
	if _, err := s.jobs.cancel(t.Context(), d.ID); !errors.Is(err, ErrPrecondition) {
		t.Errorf("cancel DEAD: %v, want precondition", err)
	}
	poll.Until(t, waitTimeout, "the scheduled time to pass", func() bool { return time.Now().After(sj.NextAttempt.Add(500 * time.Millisecond)) })
	select {
	case id := <-started:
		t.Errorf("job %s ran after cancel", id)
	default:
	}
}

func TestScheduledRunsAtRunTime(t *testing.T) {
	var ran atomic.Int64
	s := newTestService(t, startNATS(t), testConfig(), map[string]Handler{
		"test.at": func(context.Context, Job) error { ran.Store(time.Now().UnixNano()); return nil },
	}, KindOptions{})
	run(t, s)
	at := time.Now().Add(time.Second)
	j := submit(t, s, SubmitParams{Kind: "test.at", RunTime: at})
	if j.State != StateScheduled || !j.NextAttempt.Equal(at) {
		t.Errorf("submitted = %+v, want SCHEDULED at %v", j, at)
	}
	waitState(t, s, j.ID, StateSucceeded)
	if got := time.Unix(0, ran.Load()); got.Before(at) {
		t.Errorf("ran at %v, before run_time %v", got, at)
	}
}

func TestWorkerDiesMidJob(t *testing.T) {
	url := startNATS(t)
	started := make(chan struct{}, 1)
	a := newTestService(t, url, testConfig(), map[string]Handler{
		"test.crash": func(ctx context.Context, _ Job) error { started <- struct{}{}; <-ctx.Done(); return ctx.Err() },
	}, KindOptions{})
	var bCalls atomic.Int32
	b := newTestService(t, url, testConfig(), map[string]Handler{
		"test.crash": func(context.Context, Job) error { bCalls.Add(1); return nil },
	}, KindOptions{})
	stopA := run(t, a)
	j := submit(t, a, SubmitParams{Kind: "test.crash"})
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("job never started")
	}
	stopA() // the worker dies without settling the message
	run(t, b)
	done := waitState(t, b, j.ID, StateSucceeded)
	if done.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", done.Attempts)
	}
	// Give a stray duplicate every chance to show up: one more AckWait.
	deadline := time.Now().Add(2 * time.Second)
	poll.Until(t, waitTimeout, "a quiet period", func() bool { return time.Now().After(deadline) })
	if got := bCalls.Load(); got != 1 {
		t.Errorf("redelivered %d times, want once", got)
	}
}

func TestPerKindConcurrency(t *testing.T) {
	var running, peak atomic.Int32
	release := make(chan struct{})
	s := newTestService(t, startNATS(t), testConfig(), map[string]Handler{
		"test.pool": func(ctx context.Context, _ Job) error {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		},
	}, KindOptions{Concurrency: 2})
	run(t, s)
	var ids []string
	for range 6 {
		ids = append(ids, submit(t, s, SubmitParams{Kind: "test.pool"}).ID)
	}
	poll.Until(t, waitTimeout, "two jobs running", func() bool { return running.Load() == 2 })
	close(release)
	for _, id := range ids {
		waitState(t, s, id, StateSucceeded)
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want 2", p)
	}
}

func TestRPCs(t *testing.T) {
	s := newTestService(t, startNATS(t), testConfig(), map[string]Handler{"test.ok": ok, "other.ok": ok}, KindOptions{})
	c := client(t, s)
	ctx := t.Context()

	// Operator RPCs refuse anyone else, including a signed-in wallet.
	for _, hdr := range []map[string]string{{}, {identity.DevAddressHeader: "0x00000000000000000000000000000000000000aa"}} {
		req := connect.NewRequest(&workerv1.ListJobsRequest{})
		for k, v := range hdr {
			req.Header().Set(k, v)
		}
		if _, err := c.ListJobs(ctx, req); codeOf(err) != connect.CodePermissionDenied {
			t.Errorf("ListJobs as %v: %v, want PermissionDenied", hdr, err)
		}
	}

	// Validation.
	for name, req := range map[string]*workerv1.SubmitJobRequest{
		"unknown kind":    {Kind: "nope"},
		"bad kind":        {Kind: "Bad Kind"},
		"payload too big": {Kind: "test.ok", Payload: make([]byte, maxPayload+1)},
		"far run_time":    {Kind: "test.ok", RunTime: timestamppb.New(time.Now().Add(31 * 24 * time.Hour))},
		"max_attempts":    {Kind: "test.ok", MaxAttempts: 26},
		"short timeout":   {Kind: "test.ok", Timeout: durationpb.New(500 * time.Millisecond)},
		"long timeout":    {Kind: "test.ok", Timeout: durationpb.New(2 * time.Hour)},
		"long key":        {Kind: "test.ok", IdempotencyKey: strings.Repeat("k", 129)},
	} {
		if _, err := c.SubmitJob(ctx, connect.NewRequest(req)); codeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("SubmitJob %s: %v, want InvalidArgument", name, err)
		}
	}

	// Jobs that never run (scheduled far ahead), for listing.
	later := timestamppb.New(time.Now().Add(time.Hour))
	var ids []string
	for i := range 5 {
		kind := "test.ok"
		if i%2 == 1 {
			kind = "other.ok"
		}
		r, err := c.SubmitJob(ctx, connect.NewRequest(&workerv1.SubmitJobRequest{Kind: kind, RunTime: later}))
		if err != nil {
			t.Fatal(err)
		}
		if r.Msg.Job.GetState() != workerv1.JobState_JOB_STATE_SCHEDULED || r.Msg.Job.GetNextAttemptTime() == nil {
			t.Errorf("submitted = %v", r.Msg.Job)
		}
		ids = append(ids, r.Msg.Job.GetId())
	}
	list := func(kind string, size int32, token string) (*workerv1.ListJobsResponse, error) {
		req := connect.NewRequest(&workerv1.ListJobsRequest{Kind: kind, PageSize: size, PageToken: token})
		req.Header().Set(identity.OperatorHeader, "true")
		r, err := c.ListJobs(ctx, req)
		if err != nil {
			return nil, err
		}
		return r.Msg, nil
	}
	var got []string
	token := ""
	for {
		r, err := list("test.ok", 2, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range r.Jobs {
			got = append(got, j.GetId())
		}
		if token = r.NextPageToken; token == "" {
			break
		}
	}
	if want := []string{ids[4], ids[2], ids[0]}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ListJobs(kind test.ok) = %v, want %v", got, want)
	}
	r, _ := list("test.ok", 1, "")
	if _, err := list("other.ok", 1, r.NextPageToken); codeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("token for other filters: %v, want InvalidArgument", err)
	}
	if _, err := list("", 1, "garbage!"); codeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("malformed token: %v, want InvalidArgument", err)
	}
	if _, err := list("", 201, ""); codeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("page_size 201: %v, want InvalidArgument", err)
	}

	get := connect.NewRequest(&workerv1.GetJobRequest{JobId: ids[0]})
	get.Header().Set(identity.OperatorHeader, "true")
	if g, err := c.GetJob(ctx, get); err != nil || g.Msg.Job.GetId() != ids[0] {
		t.Errorf("GetJob = %v, %v", g, err)
	}
	for _, id := range []string{"wjob_01ARZ3NDEKTSV4RRFFQ69G5FAV", "nope", "job.>"} {
		get := connect.NewRequest(&workerv1.GetJobRequest{JobId: id})
		get.Header().Set(identity.OperatorHeader, "true")
		if _, err := c.GetJob(ctx, get); codeOf(err) != connect.CodeNotFound {
			t.Errorf("GetJob(%q): %v, want NotFound", id, err)
		}
	}
	cancel := connect.NewRequest(&workerv1.CancelJobRequest{JobId: ids[1]})
	cancel.Header().Set(identity.OperatorHeader, "true")
	if cr, err := c.CancelJob(ctx, cancel); err != nil || cr.Msg.Job.GetState() != workerv1.JobState_JOB_STATE_CANCELED {
		t.Errorf("CancelJob = %v, %v", cr, err)
	}
	retry := connect.NewRequest(&workerv1.RetryJobRequest{JobId: ids[1]})
	retry.Header().Set(identity.OperatorHeader, "true")
	if _, err := c.RetryJob(ctx, retry); codeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("RetryJob of CANCELED: %v, want FailedPrecondition", err)
	}
}

func TestRetentionSweep(t *testing.T) {
	s := newTestService(t, startNATS(t), testConfig(), map[string]Handler{"test.ok": ok}, KindOptions{})
	stop := run(t, s)
	j := submit(t, s, SubmitParams{Kind: "test.ok", IdempotencyKey: "once"})
	waitState(t, s, j.ID, StateSucceeded)
	stop() // nothing else reads the clock from here on
	pending := submit(t, s, SubmitParams{Kind: "test.ok", RunTime: time.Now().Add(24 * time.Hour)})
	s.jobs.sweep(t.Context())
	if _, _, err := s.jobs.get(t.Context(), j.ID); err != nil {
		t.Fatalf("fresh job swept: %v", err)
	}
	clock := newClock(time.Now().Add(8 * 24 * time.Hour))
	s.jobs.now = clock.Now
	s.jobs.sweep(t.Context())
	if _, _, err := s.jobs.get(t.Context(), j.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired job: %v, want NotFound", err)
	}
	if _, _, err := s.jobs.get(t.Context(), pending.ID); err != nil {
		t.Errorf("unfinished job swept: %v", err)
	}
	// Its idempotency key went with it: the key makes a new job.
	again, dedup, err := s.jobs.submit(t.Context(), SubmitParams{Kind: "test.ok", IdempotencyKey: "once"})
	if err != nil || dedup || again.ID == j.ID {
		t.Errorf("resubmit after retention = %+v, %v, %v", again, dedup, err)
	}
}

func TestAbandonedIdempotencyClaimIsReleased(t *testing.T) {
	s := newTestService(t, startNATS(t), testConfig(), map[string]Handler{"test.ok": ok}, KindOptions{})
	if err := s.ensureSetup(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A submit that claimed the key and died before storing its job.
	if _, err := s.jobs.kv.Create(t.Context(), idemKey("test.ok", "k"), []byte(newJobID())); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Submit(t.Context(), SubmitParams{Kind: "test.ok", IdempotencyKey: "k"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first submit: %v, want unavailable", err)
	}
	j, dedup, err := s.Submit(t.Context(), SubmitParams{Kind: "test.ok", IdempotencyKey: "k"})
	if err != nil || dedup || j.State != StateQueued {
		t.Errorf("retry = %+v, %v, %v; want a new QUEUED job", j, dedup, err)
	}
}
