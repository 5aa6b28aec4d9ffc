package transcoder_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/services/transcoder"

	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

// TestMain lets the test binary act as a transcoder instance in its own
// process, so that a test can kill -9 it mid-job.
func TestMain(m *testing.M) {
	if spec := os.Getenv("TRANSCODER_TEST_CHILD"); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// runChild runs an instance until killed; spec is "natsURL|blobDir|workDir".
func runChild(spec string) int {
	parts := strings.Split(spec, "|")
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	bus, err := events.Connect(ctx, parts[0], logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	blobs, err := blob.NewLocal(parts[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	svc, err := transcoder.New(testConfig(parts[2], "child"), bus, blobs, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := svc.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func processesIn(dir string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if cmd, err := os.ReadFile(p + "/cmdline"); err == nil && bytes.Contains(cmd, []byte(dir)) && !bytes.Contains(cmd, []byte("TRANSCODER_TEST_CHILD")) {
			if bytes.Contains(cmd, []byte("ffmpeg")) {
				return true
			}
		}
	}
	return false
}

// TestWorkerKilledMidJob kills -9 the process running a job after its first
// segments are out; another instance takes the job over after AckWait and
// restarts it cleanly. A watcher on a third instance follows the whole job,
// and a watcher that reconnects gets the current snapshot first.
func TestWorkerKilledMidJob(t *testing.T) {
	e := newEnv(t)
	childWork := t.TempDir()
	child := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "TRANSCODER_TEST_CHILD="+e.natsURL+"|"+e.blobs.(*blob.Local).Dir()+"|"+childWork)
	var childLog bytes.Buffer
	child.Stderr = &childLog
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	})

	// The watching instance runs no workers: it only serves RPCs.
	watcherSvc, err := transcoder.New(testConfig(t.TempDir(), "watcher"), e.bus, e.blobs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e.upload(t, 4, clip(t, 60))
	job := jobOf(t, watcherSvc, "vid_4")

	// A first watcher breaks off after the first media segment.
	ctx1, disconnect := context.WithCancel(t.Context())
	firstSeg := make(chan struct{})
	w1 := watch(ctx1, watcherSvc, job.ID, false, func(m *transcoderv1.WatchJobResponse) {
		if m.GetSegment().GetKind() == transcoderv1.SegmentKind_SEGMENT_KIND_MEDIA {
			select {
			case <-firstSeg:
			default:
				close(firstSeg)
			}
		}
	})
	select {
	case <-firstSeg:
	case <-time.After(waitTimeout):
		t.Fatalf("no segment from the child instance; its log:\n%s", childLog.String())
	}
	disconnect()
	<-w1.done

	// Reconnect: the current snapshot comes first and tells which
	// segments exist.
	snap := make(chan *transcoderv1.TranscodeJob, 1)
	w2 := watch(t.Context(), watcherSvc, job.ID, false, func(m *transcoderv1.WatchJobResponse) {
		select {
		case snap <- m.GetJob():
		default:
		}
	})
	first := <-snap
	if first == nil || first.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_RUNNING || first.GetWorkerInstanceId() != "child" {
		t.Fatalf("first message after reconnect: %v", first)
	}

	// kill -9 mid-job.
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	poll.Until(t, waitTimeout, "the child's ffmpeg to die with it", func() bool { return !processesIn(childWork) })
	// Leave a stray segment, as a crash in the middle of a write would.
	if _, err := e.blobs.Put(t.Context(), "videos/vid_4/180p/seg-00099.m4s", strings.NewReader("stale")); err != nil {
		t.Fatal(err)
	}

	// Another instance takes over.
	e.start(t, "inst-b")
	msgs := w2.wait(t)
	last := msgs[len(msgs)-1].GetJob()
	if last.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_SUCCEEDED || last.GetAttempt() != 2 || last.GetWorkerInstanceId() != "inst-b" {
		t.Fatalf("job after recovery: state %v attempt %d worker %q reason %q", last.GetState(), last.GetAttempt(), last.GetWorkerInstanceId(), last.GetFailureReason())
	}
	// No stray or duplicate segment: exactly init + the listed segments.
	for _, r := range last.GetRenditions() {
		infos, err := e.blobs.List(t.Context(), "videos/vid_4/"+r.GetName()+"/")
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		want = append(want, "init.m4s")
		for i := range r.GetSegmentCount() {
			want = append(want, fmt.Sprintf("seg-%05d.m4s", i+1))
		}
		want = append(want, "playlist.m3u8")
		slices.Sort(want)
		var got []string
		for _, in := range infos {
			got = append(got, strings.TrimPrefix(in.Key, "videos/vid_4/"+r.GetName()+"/"))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s objects: %v, want %v", r.GetName(), got, want)
		}
	}
}

// TestAttemptsExhausted: with one attempt allowed, a job whose worker is
// lost ends FAILED on the next delivery instead of running again.
func TestAttemptsExhausted(t *testing.T) {
	e := newEnv(t)
	cfg := func(instance string) transcoder.Config {
		c := testConfig(e.work, instance)
		c.MaxAttempts = 1
		return c
	}
	run := func(instance string) (*transcoder.Service, context.CancelFunc, chan struct{}) {
		svc, err := transcoder.New(cfg(instance), e.bus, e.blobs, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = svc.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
		return svc, cancel, done
	}
	a, stopA, doneA := run("inst-a")
	e.upload(t, 9, clip(t, 40))
	job := jobOf(t, a, "vid_9")
	poll.Until(t, waitTimeout, "the job to run on A", func() bool {
		j, err := a.GetJob(t.Context(), owner, job.ID)
		return err == nil && j.State == transcoder.StateRunning
	})
	stopA() // the worker is lost without settling its message
	<-doneA
	b, _, _ := run("inst-b")
	msgs := watch(t.Context(), b, job.ID, false, nil).wait(t)
	last := msgs[len(msgs)-1].GetJob()
	if last.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_FAILED || !strings.Contains(last.GetFailureReason(), "gave up after 1 attempts") {
		t.Fatalf("job: state %v reason %q", last.GetState(), last.GetFailureReason())
	}
	if infos, _ := e.blobs.List(t.Context(), "videos/vid_9/"); len(infos) != 0 {
		t.Errorf("output left behind: %d objects", len(infos))
	}
}

// flakyStore fails reads of the upload sources while down is positive,
// one failure per read, as a store that is unreachable for a while.
type flakyStore struct {
	blob.Store
	down atomic.Int32
}

func (f *flakyStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasPrefix(key, "uploads/") && f.down.Add(-1) >= 0 {
		return nil, errors.New("dial tcp: connection refused")
	}
	return f.Store.Get(ctx, key)
}

// TestStoreOutageDelaysNotFails: a media store that fails more times than
// a job has attempts delays the job; once the store answers, the job
// succeeds on its first real attempt.
func TestStoreOutageDelaysNotFails(t *testing.T) {
	local, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.Close() })
	flaky := &flakyStore{Store: local}
	e := newEnvOn(t, flaky)
	c := testConfig(e.work, "inst-a")
	c.MaxAttempts = 1
	svc, err := transcoder.New(c, e.bus, e.blobs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	flaky.down.Store(3)
	e.upload(t, 11, clip(t, 9))
	job := jobOf(t, svc, "vid_11")
	msgs := watch(t.Context(), svc, job.ID, false, nil).wait(t)
	last := msgs[len(msgs)-1].GetJob()
	if last.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_SUCCEEDED || last.GetAttempt() != 1 {
		t.Fatalf("job after a store outage: state %v attempt %d reason %q", last.GetState(), last.GetAttempt(), last.GetFailureReason())
	}
	if n := flaky.down.Load(); n >= 0 {
		t.Fatalf("the store was read %d times fewer than its outage lasted", n+1)
	}
}
