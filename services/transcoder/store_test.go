package transcoder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

const (
	alice = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	bob   = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
)

// newTestStore returns a store on a fresh server's job bucket, created as
// setup creates it.
func newTestStore(t *testing.T, retention time.Duration) *store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	bus, err := events.Connect(ctx, natsservertest.Start(t).ClientURL(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	kv, err := bus.EnsureKeyValue(ctx, jetstream.KeyValueConfig{Bucket: jobsBucket, History: 1, LimitMarkerTTL: markerTTL})
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(kv, bus.JetStream(), retention)
	st.grace = 0
	return st
}

func testJob(id, creator string, state State) *Job {
	return &Job{ID: id, VideoID: "vid_" + id, CreatorAddress: creator, RequestID: "req-" + id, State: state, CreateTime: time.Now().UTC()}
}

func ids(jobs []*Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	slices.Sort(out)
	return out
}

func gone(t *testing.T, st *store, key string) bool {
	_, err := st.kv.Get(t.Context(), key)
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatal(err)
	}
	return err != nil
}

// A finished job, its index entry and its request id expire after the
// retention; a queued job does not.
func TestStoreFinishedJobsExpire(t *testing.T) {
	st := newTestStore(t, 2*time.Second)
	for _, j := range []*Job{testJob("job_done", alice, StateQueued), testJob("job_waiting", alice, StateQueued)} {
		if err := st.create(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		if _, err := st.kv.Create(t.Context(), requestKey(j.RequestID), []byte(j.ID)); err != nil {
			t.Fatal(err)
		}
	}
	finished, err := st.update(t.Context(), "job_done", func(j *Job) error {
		j.State, j.FinishTime = StateSucceeded, time.Now().UTC()
		return nil
	})
	if err != nil {
		t.Fatalf("update to SUCCEEDED: %v", err)
	}
	// Readable and listed within the retention.
	if _, _, err := st.get(t.Context(), "job_done"); err != nil {
		t.Fatalf("get right after it finished: %v", err)
	}
	mine, err := st.byCreator(t.Context(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(mine), []string{"job_done", "job_waiting"}; !slices.Equal(got, want) {
		t.Fatalf("byCreator = %v, want %v", got, want)
	}

	poll.Until(t, 15*time.Second, "the finished job to expire", func() bool {
		return gone(t, st, jobKey("job_done"))
	})
	poll.Until(t, 15*time.Second, "its index entry and request id to expire", func() bool {
		return gone(t, st, creatorKey(alice, "job_done")) && gone(t, st, requestKey(finished.RequestID))
	})
	if _, _, err := st.get(t.Context(), "job_done"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get after the retention: %v, want ErrNotFound", err)
	}
	mine, err = st.byCreator(t.Context(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(mine), []string{"job_waiting"}; !slices.Equal(got, want) {
		t.Errorf("byCreator after the retention = %v, want %v (the queued job stays)", got, want)
	}
	if gone(t, st, jobKey("job_waiting")) || gone(t, st, requestKey("req-job_waiting")) {
		t.Error("the queued job or its request id expired")
	}
}

// byCreator reads one creator's index entries and jobs, never the others':
// it works even when another creator's job cannot be decoded, which a scan
// of every job would trip on.
func TestStoreByCreatorReadsOnlyTheCreatorsJobs(t *testing.T) {
	st := newTestStore(t, time.Hour)
	for _, j := range []*Job{
		testJob("job_a1", alice, StateQueued), testJob("job_a2", alice, StateRunning),
		testJob("job_b1", bob, StateQueued), testJob("job_x1", "not-an-address", StateQueued),
	} {
		if err := st.create(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.kv.Put(t.Context(), jobKey("job_b1"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.all(t.Context()); err == nil {
		t.Fatal("all() decoded a corrupt job: the test proves nothing")
	}

	tests := []struct {
		addr string
		want []string
	}{
		{alice, []string{"job_a1", "job_a2"}},
		{"0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", []string{"job_a1", "job_a2"}}, // any case
		{"not-an-address", []string{"job_x1"}},
		{"0x0000000000000000000000000000000000000001", nil},
	}
	for _, tt := range tests {
		got, err := st.byCreator(t.Context(), tt.addr)
		if err != nil {
			t.Fatalf("byCreator(%s): %v", tt.addr, err)
		}
		if !slices.Equal(ids(got), tt.want) {
			t.Errorf("byCreator(%s) = %v, want %v", tt.addr, ids(got), tt.want)
		}
	}
}

// A bucket from before the index: backfill indexes every job and gives
// finished ones their time to live, once.
func TestStoreBackfill(t *testing.T) {
	st := newTestStore(t, time.Hour)
	old := testJob("job_old", alice, StateFailed)
	old.FinishTime = time.Now().Add(-2 * time.Hour) // past the retention
	recent := testJob("job_recent", alice, StateSucceeded)
	recent.FinishTime = time.Now().Add(-time.Minute)
	waiting := testJob("job_waiting", bob, StateQueued)
	for _, j := range []*Job{old, recent, waiting} {
		b, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.kv.Create(t.Context(), jobKey(j.ID), b); err != nil { // the old layout: no index
			t.Fatal(err)
		}
	}
	if err := st.backfill(t.Context()); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if gone(t, st, indexedKey) {
		t.Errorf("%s not written", indexedKey)
	}
	poll.Until(t, 15*time.Second, "the job finished before the retention to expire", func() bool {
		return gone(t, st, jobKey("job_old"))
	})
	for addr, want := range map[string][]string{alice: {"job_recent"}, bob: {"job_waiting"}} {
		got, err := st.byCreator(t.Context(), addr)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), want) {
			t.Errorf("byCreator(%s) after backfill = %v, want %v", addr, ids(got), want)
		}
	}
	// The recent job now expires too: its last write carries a TTL.
	msg, err := st.js.Conn().Request("$JS.API.DIRECT.GET.KV_"+jobsBucket, []byte(`{"last_by_subj":"$KV.`+jobsBucket+`.job.job_recent"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := msg.Header.Get(jetstream.MsgTTLHeader); ttl == "" {
		t.Errorf("job_recent has no TTL after backfill (headers %v)", msg.Header)
	}
}

func TestConfigJobRetention(t *testing.T) {
	c := Config{}
	if err := c.defaults(); err != nil || c.JobRetention != DefaultJobRetention {
		t.Errorf("defaults: JobRetention %s, err %v; want %s", c.JobRetention, err, DefaultJobRetention)
	}
	c = Config{JobRetention: time.Millisecond}
	if err := c.defaults(); err == nil {
		t.Error("JobRetention 1ms accepted, want an error")
	}
}

func queueIDs(t *testing.T, st *store) []string {
	t.Helper()
	q, err := st.queue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range q {
		out = append(out, e.id)
	}
	return out
}

// The queue entries follow the jobs in and out of QUEUED, in create order,
// and leave no key behind (an empty value that expires, not a delete
// marker every read would walk).
func TestStoreQueueIndex(t *testing.T) {
	st := newTestStore(t, time.Hour)
	base := time.Now().UTC()
	for _, id := range []string{"job_q3", "job_q1", "job_q2"} {
		j := testJob(id, alice, StateQueued)
		j.CreateTime = base.Add(time.Duration(map[string]int{"job_q1": 1, "job_q2": 2, "job_q3": 3}[id]) * time.Millisecond)
		if err := st.create(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := queueIDs(t, st), []string{"job_q1", "job_q2", "job_q3"}; !slices.Equal(got, want) {
		t.Fatalf("queue = %v, want %v", got, want)
	}
	set := func(id string, s State) {
		t.Helper()
		if _, err := st.update(t.Context(), id, func(j *Job) error {
			j.State = s
			if s.Terminal() {
				j.FinishTime = time.Now().UTC()
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	set("job_q1", StateRunning)
	if got, want := queueIDs(t, st), []string{"job_q2", "job_q3"}; !slices.Equal(got, want) {
		t.Fatalf("queue after q1 runs = %v, want %v", got, want)
	}
	j3, _, err := st.get(t.Context(), "job_q3")
	if err != nil {
		t.Fatal(err)
	}
	if st.withQueuePosition(t.Context(), j3).QueuePosition != 2 {
		t.Errorf("q3 at %d, want 2", j3.QueuePosition)
	}
	set("job_q1", StateQueued) // retried: back in its place
	if got, want := queueIDs(t, st), []string{"job_q1", "job_q2", "job_q3"}; !slices.Equal(got, want) {
		t.Fatalf("queue after q1 is retried = %v, want %v", got, want)
	}
	set("job_q2", StateCanceled)
	if got, want := queueIDs(t, st), []string{"job_q1", "job_q3"}; !slices.Equal(got, want) {
		t.Fatalf("queue after q2 is canceled = %v, want %v", got, want)
	}
	poll.Until(t, 15*time.Second, "the emptied entry of q2 to expire", func() bool {
		return gone(t, st, queuedKey("job_q2"))
	})
}

// repairQueue drops the entries of jobs that are not QUEUED (an instance
// died between the job's write and its entry's) and keeps the others.
func TestStoreRepairQueue(t *testing.T) {
	st := newTestStore(t, time.Hour)
	waiting, running, done := testJob("job_w", alice, StateQueued), testJob("job_r", alice, StateRunning), testJob("job_d", alice, StateSucceeded)
	for _, j := range []*Job{waiting, running, done} {
		if err := st.create(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		if err := st.enqueued(t.Context(), j); err != nil { // stale for r and d
			t.Fatal(err)
		}
	}
	if err := st.enqueued(t.Context(), testJob("job_gone", alice, StateQueued)); err != nil {
		t.Fatal(err)
	}
	if got := queueIDs(t, st); len(got) != 4 {
		t.Fatalf("queue before repair = %v", got)
	}
	q, err := st.repairQueue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].id != "job_w" {
		t.Errorf("repairQueue = %v, want job_w only", q)
	}
	if got, want := queueIDs(t, st), []string{"job_w"}; !slices.Equal(got, want) {
		t.Errorf("queue after repair = %v, want %v", got, want)
	}
}

// The upload entry names the upload's latest job; a finished job's entry
// expires with it.
func TestStoreByUpload(t *testing.T) {
	st := newTestStore(t, 2*time.Second)
	first, second := testJob("job_u1", alice, StateQueued), testJob("job_u2", alice, StateQueued)
	first.UploadID, second.UploadID = "upl_1", "upl_1"
	for _, j := range []*Job{first, second} {
		if err := st.create(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		if err := st.indexUpload(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.kv.Put(t.Context(), jobKey("job_corrupt"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if j, err := st.byUpload(t.Context(), "upl_1"); err != nil || j.ID != "job_u2" {
		t.Fatalf("byUpload = %v, %v; want job_u2", j, err)
	}
	if _, err := st.byUpload(t.Context(), "upl_2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("byUpload of an unknown upload: %v", err)
	}
	if _, err := st.byUpload(t.Context(), "not an id.*"); !errors.Is(err, ErrNotFound) {
		t.Errorf("byUpload of a malformed upload id: %v", err)
	}
	// The older job finishing leaves the entry to the newer one.
	for _, id := range []string{"job_u1", "job_u2"} {
		if _, err := st.update(t.Context(), id, func(j *Job) error {
			j.State, j.FinishTime = StateSucceeded, time.Now().UTC()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if id == "job_u1" {
			if j, err := st.byUpload(t.Context(), "upl_1"); err != nil || j.ID != "job_u2" {
				t.Fatalf("byUpload after the older job ended = %v, %v; want job_u2", j, err)
			}
		}
	}
	poll.Until(t, 15*time.Second, "the upload entry to expire with the job", func() bool {
		return gone(t, st, uploadKey("upl_1"))
	})
}

// A bucket from before the queue and upload entries: backfill writes them.
func TestStoreBackfillQueue(t *testing.T) {
	st := newTestStore(t, time.Hour)
	old, waiting := testJob("job_old", alice, StateSucceeded), testJob("job_waiting", alice, StateQueued)
	old.UploadID, waiting.UploadID = "upl_1", "upl_1"
	old.CreateTime, old.FinishTime = time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
	for _, j := range []*Job{old, waiting} {
		b, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.kv.Create(t.Context(), jobKey(j.ID), b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.kv.Put(t.Context(), indexedKey, []byte("1")); err != nil { // the creator backfill done
		t.Fatal(err)
	}
	if err := st.backfill(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := queueIDs(t, st), []string{"job_waiting"}; !slices.Equal(got, want) {
		t.Errorf("queue after backfill = %v, want %v", got, want)
	}
	if j, err := st.byUpload(t.Context(), "upl_1"); err != nil || j.ID != "job_waiting" {
		t.Errorf("byUpload after backfill = %v, %v; want job_waiting", j, err)
	}
	if gone(t, st, queueIndexedKey) {
		t.Errorf("%s not written", queueIndexedKey)
	}
}

// TestRetryRead: a read whose attempt timed out (a consumer stuck on a
// stream that changed leader) is made again; other errors are answers.
func TestRetryRead(t *testing.T) {
	calls := 0
	got, err := retryRead(t.Context(), func(ctx context.Context) (int, error) {
		calls++
		if _, ok := ctx.Deadline(); !ok {
			t.Error("an attempt without its own deadline")
		}
		if calls < 3 {
			return 0, fmt.Errorf("list: %w", context.DeadlineExceeded)
		}
		return 42, nil
	})
	if got != 42 || err != nil || calls != 3 {
		t.Errorf("retryRead = %d, %v after %d calls; want 42 after 3", got, err, calls)
	}
	calls = 0
	_, err = retryRead(t.Context(), func(context.Context) (int, error) {
		calls++
		return 0, context.DeadlineExceeded
	})
	if calls != 4 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a read timing out every time: %d calls, %v; want 4 and the timeout", calls, err)
	}
	calls = 0
	_, err = retryRead(t.Context(), func(context.Context) (int, error) { calls++; return 0, ErrNotFound })
	if calls != 1 || !errors.Is(err, ErrNotFound) {
		t.Errorf("an answer was retried: %d calls, %v", calls, err)
	}
}

// Reads wait through a leader election (JetStream's "temporarily
// unavailable" answers) and return other errors at once.
func TestRetryElection(t *testing.T) {
	calls := 0
	v, err := retryElection(t.Context(), func() (int, error) {
		if calls++; calls < 3 {
			return 0, &jetstream.APIError{Code: 503, ErrorCode: jsClusterNotAvailable, Description: "JetStream system temporarily unavailable"}
		}
		return 7, nil
	})
	if err != nil || v != 7 || calls != 3 {
		t.Fatalf("through an election: %d, %v after %d calls", v, err, calls)
	}
	calls = 0
	bad := errors.New("bucket not found")
	if _, err := retryElection(t.Context(), func() (int, error) { calls++; return 0, bad }); !errors.Is(err, bad) || calls != 1 {
		t.Fatalf("another error: %v after %d calls, want it at once", err, calls)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := retryElection(ctx, func() (int, error) { return 0, jetstream.ErrNoStreamResponse }); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("an election outlasting the context: %v", err)
	}
}
