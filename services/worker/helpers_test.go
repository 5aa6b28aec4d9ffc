package worker

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/worker/v1/workerv1connect"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

// waitTimeout bounds every wait on a condition; generous, because a wait
// that succeeds returns at once.
const waitTimeout = 20 * time.Second

func testConfig() Config {
	return Config{RetryBaseDelay: 50 * time.Millisecond, RetryMaxDelay: time.Second, AckWait: time.Second, ScanInterval: 100 * time.Millisecond}
}

func startNATS(t *testing.T) string {
	t.Helper()
	return natsservertest.Start(t).ClientURL()
}

func connectBus(t *testing.T, url string) *events.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	b, err := events.Connect(ctx, url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// newTestService returns a service on url with the given kinds registered,
// not yet running.
func newTestService(t *testing.T, url string, cfg Config, kinds map[string]Handler, opts KindOptions, svcOpts ...Option) *Service {
	t.Helper()
	s, err := New(cfg, connectBus(t, url), nil, slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), svcOpts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for k, h := range kinds {
		if err := s.Register(k, h, opts); err != nil {
			t.Fatalf("Register: %v", err)
		}
	}
	return s
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// run runs s until the returned stop is called (or the test ends).
func run(t *testing.T, s *Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitState waits for job id to reach state and returns it.
func waitState(t *testing.T, s *Service, id string, want State) Job {
	t.Helper()
	if err := s.ensureSetup(t.Context()); err != nil {
		t.Fatal(err)
	}
	var j Job
	poll.Until(t, waitTimeout, id+" to be "+stateName(want), func() bool {
		var err error
		j, _, err = s.jobs.get(t.Context(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return j.State == want
	})
	return j
}

func submit(t *testing.T, s *Service, p SubmitParams) Job {
	t.Helper()
	j, _, err := s.Submit(t.Context(), p)
	if err != nil {
		t.Fatalf("Submit(%+v): %v", p, err)
	}
	return j
}

// client serves s over HTTP with the identity interceptor in dev mode.
func client(t *testing.T, s *Service) workerv1connect.WorkerServiceClient {
	t.Helper()
	path, h := s.Handler(connect.WithInterceptors(identity.NewInterceptor(true)))
	_ = path
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return workerv1connect.NewWorkerServiceClient(srv.Client(), srv.URL)
}

func codeOf(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.CodeUnknown
}

// asOperator marks a request as carrying the operator credential, as the
// gateway does.
func asOperator[T any](m *T) *connect.Request[T] {
	r := connect.NewRequest(m)
	r.Header().Set(identity.OperatorHeader, "true")
	return r
}
