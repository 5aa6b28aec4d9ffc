package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Set(t time.Time)  { c.ns.Store(t.UnixNano()) }
func newClock(t time.Time) *fakeClock { c := &fakeClock{}; c.Set(t); return c }
func opCtx(t *testing.T) context.Context {
	return identity.WithCaller(t.Context(), identity.Caller{Operator: true})
}
func noCtx(t *testing.T) context.Context { return t.Context() }
func tickJobs(t *testing.T, s *Service) []Job {
	t.Helper()
	jobs, _, err := s.jobs.list(t.Context(), "test.tick", StateUnspecified, 200, "")
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		spec, tz string
		ok       bool
	}{
		{"*/15 * * * *", "", true},
		{"0 3 * * *", "Europe/Berlin", true},
		{"@daily", "UTC", true},
		{"0 0 * * 7", "", true},
		{"0 0 * * 5-7", "", true},
		{"0 0 * * MON-FRI", "", true},
		{"0 0 1 JAN *", "", true},
		{"* * * * * *", "", false},
		{"@every 5m", "", false},
		{"61 * * * *", "", false},
		{"* * * * *", "Mars/Phobos", false},
		{"* * * * *", "Local", false},
		{"CRON_TZ=UTC * * * * *", "", false},
		{"", "", false},
	} {
		_, _, err := parseSpec(tc.spec, tc.tz)
		if (err == nil) != tc.ok {
			t.Errorf("parseSpec(%q, %q) = %v, want ok=%v", tc.spec, tc.tz, err, tc.ok)
		}
	}
	// Day-of-week 7 is Sunday; the spec is read in its zone.
	sc := Schedule{CronSpec: "0 3 * * 7", Timezone: "Europe/Berlin"}
	got := sc.nextFire(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) // a Monday
	if want := time.Date(2026, 3, 8, 2, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next = %v, want %v", got, want)
	}
}

func TestScheduleFiresOncePerTickAcrossReplicas(t *testing.T) {
	url := startNATS(t)
	_, etcd := etcdservertest.Start(t)
	clock := newClock(time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC))
	var calls atomic.Int32
	mk := func(name string) *Service {
		cfg := testConfig()
		cfg.NodeName, cfg.LeaderTTL, cfg.ScheduleInterval = name, 2*time.Second, 50*time.Millisecond
		s := newTestService(t, url, cfg, map[string]Handler{"test.tick": func(context.Context, Job) error { calls.Add(1); return nil }}, KindOptions{})
		s.etcd = etcd
		s.jobs.now = clock.Now
		if err := s.ensureSetup(t.Context()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := mk("a"), mk("b")
	c := client(t, a)
	req := connect.NewRequest(&workerv1.CreateScheduleRequest{Schedule: &workerv1.Schedule{Name: "every-minute", CronSpec: "* * * * *", Kind: "test.tick"}, RequestId: "r1"})
	req.Header().Set(identity.OperatorHeader, "true")
	cr, err := c.CreateSchedule(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	sc := cr.Msg.Schedule
	if want := time.Date(2026, 1, 1, 12, 1, 0, 0, time.UTC); !sc.GetNextFireTime().AsTime().Equal(want) || sc.GetTimezone() != "UTC" {
		t.Errorf("created = %v, want next fire %v", sc, want)
	}
	if again, err := c.CreateSchedule(t.Context(), req); err != nil || again.Msg.Schedule.GetId() != sc.GetId() {
		t.Errorf("retry with request_id = %v, %v", again, err)
	}
	dup := connect.NewRequest(&workerv1.CreateScheduleRequest{Schedule: &workerv1.Schedule{Name: "every-minute", CronSpec: "@hourly", Kind: "test.tick"}})
	dup.Header().Set(identity.OperatorHeader, "true")
	if _, err := c.CreateSchedule(t.Context(), dup); codeOf(err) != connect.CodeAlreadyExists {
		t.Errorf("duplicate name: %v, want AlreadyExists", err)
	}

	stopA := run(t, a)
	clock.Set(time.Date(2026, 1, 1, 12, 1, 5, 0, time.UTC))
	poll.Until(t, waitTimeout, "the 12:01 tick", func() bool { return calls.Load() == 1 })
	run(t, b) // b campaigns; a stays leader
	quiet := time.Now().Add(time.Second)
	poll.Until(t, waitTimeout, "a quiet second", func() bool { return time.Now().After(quiet) })
	if n := len(tickJobs(t, a)); n != 1 {
		t.Fatalf("%d jobs after one tick, want 1", n)
	}
	stopA() // failover: b takes over
	clock.Set(time.Date(2026, 1, 1, 12, 2, 5, 0, time.UTC))
	poll.Until(t, waitTimeout, "the 12:02 tick from the new leader", func() bool { return calls.Load() == 2 })
	quiet = time.Now().Add(time.Second)
	poll.Until(t, waitTimeout, "a quiet second", func() bool { return time.Now().After(quiet) })
	jobs := tickJobs(t, b)
	if len(jobs) != 2 || calls.Load() != 2 {
		t.Fatalf("%d jobs, %d runs after two ticks, want 2", len(jobs), calls.Load())
	}
	for _, j := range jobs {
		if j.ScheduleID != sc.GetId() {
			t.Errorf("job %s schedule_id = %q", j.ID, j.ScheduleID)
		}
	}
	got, _, _ := b.getSchedule(t.Context(), sc.GetId())
	if !got.LastFireTime.Equal(time.Date(2026, 1, 1, 12, 2, 0, 0, time.UTC)) || got.LastJobID != jobs[0].ID {
		t.Errorf("schedule after fires = %+v", got)
	}
	// A long outage: missed ticks are not replayed beyond the grace; at
	// most the latest one fires.
	clock.Set(time.Date(2026, 1, 1, 15, 0, 30, 0, time.UTC))
	poll.Until(t, waitTimeout, "the latest missed tick", func() bool { return calls.Load() == 3 })
	quiet = time.Now().Add(time.Second)
	poll.Until(t, waitTimeout, "a quiet second", func() bool { return time.Now().After(quiet) })
	if n := calls.Load(); n != 3 {
		t.Errorf("%d runs after the outage, want 3", n)
	}

	del := connect.NewRequest(&workerv1.DeleteScheduleRequest{ScheduleId: sc.GetId()})
	del.Header().Set(identity.OperatorHeader, "true")
	if _, err := c.DeleteSchedule(t.Context(), del); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSchedule(t.Context(), del); codeOf(err) != connect.CodeNotFound {
		t.Errorf("second delete: %v, want NotFound", err)
	}
}

func TestSchedulesNeedEtcd(t *testing.T) {
	s := newTestService(t, startNATS(t), testConfig(), map[string]Handler{"test.tick": ok}, KindOptions{})
	c := client(t, s)
	req := connect.NewRequest(&workerv1.ListSchedulesRequest{})
	req.Header().Set(identity.OperatorHeader, "true")
	if _, err := c.ListSchedules(t.Context(), req); codeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("ListSchedules without etcd: %v, want FailedPrecondition", err)
	}
	if _, err := c.ListSchedules(t.Context(), connect.NewRequest(&workerv1.ListSchedulesRequest{})); codeOf(err) != connect.CodePermissionDenied {
		t.Errorf("ListSchedules as anonymous: %v, want PermissionDenied", err)
	}
}
