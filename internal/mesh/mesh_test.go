package mesh

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/streamgate/streamgate/internal/registry"
)

func TestRetryBudget(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	b := newRetryBudget(Options{RetryBudgetRatio: 0.2, MinRetries: 1}, clock)

	// Reserve: 1 retry/s over the 10 s window, with no calls at all.
	for i := range 10 {
		if !b.withdraw() {
			t.Fatalf("reserve retry %d refused", i+1)
		}
	}
	if b.withdraw() {
		t.Fatal("retry beyond the reserve allowed with no calls")
	}
	// Each call earns 0.2 retries: 10 calls, 2 retries.
	for range 10 {
		b.deposit()
	}
	got := 0
	for b.withdraw() {
		got++
	}
	if got != 2 {
		t.Fatalf("retries earned by 10 calls at 0.2 = %d, want 2", got)
	}
	// Half the window later everything still counts.
	now = now.Add(5 * time.Second)
	if b.withdraw() {
		t.Fatal("retry allowed while the window is still spent")
	}
	// Once the window has passed, the reserve is back.
	now = now.Add(budgetWindow * time.Second)
	for i := range 10 {
		if !b.withdraw() {
			t.Fatalf("reserve retry %d refused after the window slid", i+1)
		}
	}
}

func TestRetryBudgetNoReserve(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := newRetryBudget(Options{RetryBudgetRatio: 0.5, MinRetries: -1}.withDefaults(), func() time.Time { return now })
	if b.withdraw() {
		t.Fatal("retry allowed with no reserve and no calls")
	}
	b.deposit()
	b.deposit()
	if !b.withdraw() || b.withdraw() {
		t.Fatal("two calls at 0.5 should allow exactly one retry")
	}
}

func TestOptionsDefaults(t *testing.T) {
	got := Options{}.withDefaults()
	want := Options{MaxAttempts: 3, RetryBudgetRatio: 0.2, MinRetries: 10, BreakerFailures: 5, BreakerOpen: 5 * time.Second,
		DialTimeout: 2 * time.Second, RetryBackoff: 25 * time.Millisecond, RetryBackoffMax: time.Second}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		header      http.Header
		wantFailure bool
		wantFinal   bool
	}{
		{"ok", 200, http.Header{"Content-Type": {"application/proto"}}, false, true},
		{"connect NotFound", 404, nil, false, true},
		{"connect ResourceExhausted", 429, nil, false, true},
		{"connect Internal", 500, nil, false, true},
		{"connect Unimplemented", 501, nil, false, true},
		{"bad gateway", 502, nil, true, true},
		{"connect Unavailable", 503, nil, true, true},
		{"gateway timeout", 504, nil, true, true},
		{"gRPC trailers-only Unavailable", 200, http.Header{"Content-Type": {"application/grpc"}, "Grpc-Status": {"14"}}, true, true},
		{"gRPC trailers-only NotFound", 200, http.Header{"Content-Type": {"application/grpc"}, "Grpc-Status": {"5"}}, false, true},
		{"gRPC status in trailers", 200, http.Header{"Content-Type": {"application/grpc+proto"}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			outcome, final := classify(&http.Response{StatusCode: tt.status, Header: h})
			if (outcome != nil) != tt.wantFailure || final != tt.wantFinal {
				t.Errorf("classify = (%v, %v), want failure %v, final %v", outcome, final, tt.wantFailure, tt.wantFinal)
			}
		})
	}
}

type countingBody struct {
	io.Reader
	closes int
}

func (b *countingBody) Close() error { b.closes++; return nil }

func TestReplayBody(t *testing.T) {
	t.Run("close before read is held, then carried out on release", func(t *testing.T) {
		rc := &countingBody{Reader: strings.NewReader("payload")}
		b := newReplayBody(rc)
		b.rearm()
		_ = b.Close() // the transport's close after a failed dial
		if rc.closes != 0 || !b.replayable() {
			t.Fatalf("closes = %d, replayable = %v; want the close held and the body replayable", rc.closes, b.replayable())
		}
		b.rearm() // the next attempt reads it
		got, _ := io.ReadAll(b)
		if string(got) != "payload" {
			t.Fatalf("read %q, want payload", got)
		}
		if b.replayable() {
			t.Fatal("replayable after a read")
		}
		b.release()
		if rc.closes != 0 {
			t.Fatalf("release closed a body the last attempt still owns")
		}
		_ = b.Close()
		if rc.closes != 1 {
			t.Fatalf("closes = %d after the owner's Close, want 1", rc.closes)
		}
	})
	t.Run("last attempt closed before reading", func(t *testing.T) {
		rc := &countingBody{Reader: strings.NewReader("x")}
		b := newReplayBody(rc)
		b.rearm()
		_ = b.Close()
		b.release()
		if rc.closes != 1 {
			t.Fatalf("closes = %d, want 1 at release", rc.closes)
		}
		_ = b.Close()
		if rc.closes != 1 {
			t.Fatalf("closes = %d after a second Close, want 1", rc.closes)
		}
	})
	t.Run("no body", func(t *testing.T) {
		if newReplayBody(nil) != nil || newReplayBody(http.NoBody) != nil {
			t.Fatal("empty bodies need no guard")
		}
		var b *replayBody
		b.rearm()
		b.release()
		if !b.replayable() {
			t.Fatal("an empty body is always replayable")
		}
	})
}

func testTransport(t *testing.T, opts Options, ids ...string) (*transport, map[string]*endpoint) {
	t.Helper()
	tr := newTransport(opts.withDefaults(), slog.New(slog.DiscardHandler))
	var ins []registry.Instance
	for i, id := range ids {
		ins = append(ins, registry.Instance{Service: "svc", ID: id, Address: "127.0.0.1:" + string(rune('1'+i))})
	}
	tr.update(ins)
	byID := map[string]*endpoint{}
	for _, ep := range tr.lookup("svc") {
		byID[ep.id] = ep
	}
	return tr, byID
}

func tripBreaker(t *testing.T, ep *endpoint, failures uint32) {
	t.Helper()
	for range failures {
		report, err := ep.breaker.Allow()
		if err != nil {
			t.Fatal(err)
		}
		ep.finish(report, errFailedResponse)
	}
	if ep.breaker.State() != gobreaker.StateOpen {
		t.Fatalf("breaker %s = %v, want open", ep.id, ep.breaker.State())
	}
}

func TestPick(t *testing.T) {
	t.Run("two choices take the less loaded", func(t *testing.T) {
		tr, eps := testTransport(t, Options{}, "a", "b")
		eps["a"].inflight.Store(5)
		for range 50 {
			ep, report := tr.pick(tr.lookup("svc"), nil, nil)
			if ep != eps["b"] {
				t.Fatalf("picked %s, want the idle b", ep.id)
			}
			report(nil)
		}
	})
	t.Run("open breakers are skipped", func(t *testing.T) {
		tr, eps := testTransport(t, Options{BreakerFailures: 2, BreakerOpen: time.Minute}, "a", "b", "c")
		tripBreaker(t, eps["a"], 2)
		tripBreaker(t, eps["c"], 2)
		for range 50 {
			ep, report := tr.pick(tr.lookup("svc"), nil, nil)
			if ep != eps["b"] || report == nil {
				t.Fatalf("picked %s, want b through its breaker", ep.id)
			}
			report(nil)
		}
	})
	t.Run("all open: least recently failed, bypassing the breaker", func(t *testing.T) {
		tr, eps := testTransport(t, Options{BreakerFailures: 1, BreakerOpen: time.Minute}, "a", "b")
		tripBreaker(t, eps["b"], 1)
		tripBreaker(t, eps["a"], 1)
		eps["b"].lastFailure.Store(1)
		eps["a"].lastFailure.Store(2) // a failed last
		ep, report := tr.pick(tr.lookup("svc"), nil, nil)
		if ep != eps["b"] || report != nil {
			t.Fatalf("picked %v (report %v), want b without a breaker callback", ep.id, report != nil)
		}
	})
	t.Run("tried endpoints are excluded", func(t *testing.T) {
		tr, eps := testTransport(t, Options{}, "a", "b")
		for range 20 {
			ep, _ := tr.pick(tr.lookup("svc"), []*endpoint{eps["a"]}, nil)
			if ep != eps["b"] {
				t.Fatalf("picked %s, want b", ep.id)
			}
		}
		if ep, _ := tr.pick(tr.lookup("svc"), []*endpoint{eps["a"], eps["b"]}, nil); ep != nil {
			t.Fatalf("picked %s with every endpoint tried, want none", ep.id)
		}
	})
	t.Run("retries prefer other endpoints", func(t *testing.T) {
		tr, eps := testTransport(t, Options{}, "a", "b")
		log := &attemptLog{}
		log.add(eps["b"])
		eps["a"].inflight.Store(10) // busier, but not used by this call yet
		for range 20 {
			ep, report := tr.pick(tr.lookup("svc"), nil, log)
			if ep != eps["a"] {
				t.Fatalf("picked %s, want a", ep.id)
			}
			report(nil)
		}
	})
	t.Run("update keeps endpoint state", func(t *testing.T) {
		tr, eps := testTransport(t, Options{BreakerFailures: 1, BreakerOpen: time.Minute}, "a", "b")
		tripBreaker(t, eps["a"], 1)
		tr.update([]registry.Instance{{Service: "svc", ID: "a", Address: eps["a"].addr}})
		got := tr.lookup("svc")
		if len(got) != 1 || got[0] != eps["a"] || got[0].breaker.State() != gobreaker.StateOpen {
			t.Fatalf("after update: %+v, want a with its open breaker", got)
		}
	})
}

func TestCallerGoneIsNotAFailure(t *testing.T) {
	_, eps := testTransport(t, Options{BreakerFailures: 1}, "a")
	report, err := eps["a"].breaker.Allow()
	if err != nil {
		t.Fatal(err)
	}
	eps["a"].finish(report, errCallerGone)
	if st := eps["a"].breaker.State(); st != gobreaker.StateClosed || eps["a"].failures.Load() != 0 {
		t.Fatalf("after a caller cancellation: state %v, failures %d; want closed, 0", st, eps["a"].failures.Load())
	}
}
