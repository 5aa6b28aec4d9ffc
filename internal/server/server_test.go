package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
)

func TestConfigDefaults(t *testing.T) {
	cfg := Config{Addr: "127.0.0.1:0"}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr:              "127.0.0.1:0",
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		DrainTimeout:      15 * time.Second,
		UnaryTimeout:      60 * time.Second,
		ReadMaxBytes:      8 << 20,
	}
	if cfg != want {
		t.Errorf("defaults = %+v, want %+v", cfg, want)
	}
}

func TestTrackerWait(t *testing.T) {
	tr := newTracker()
	if err := tr.wait(t.Context()); err != nil {
		t.Fatalf("wait with nothing in flight = %v, want nil", err)
	}
	tr.start()
	tr.start()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := tr.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with 2 in flight = %v, want deadline exceeded", err)
	}
	done := make(chan error, 1)
	go func() { done <- tr.wait(t.Context()) }()
	tr.finish()
	tr.finish()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("wait after both finished = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return after the last request finished")
	}
	if n := tr.count(); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

type fakeService struct{ name string }

func (f fakeService) Name() string        { return "fake" }
func (f fakeService) ServiceName() string { return f.name }
func (f fakeService) Handler(...connect.HandlerOption) (string, http.Handler) {
	return "/" + f.name + "/", http.NotFoundHandler()
}

func TestSetServingAfterShutdownIsIgnored(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0"}, []Service{fakeService{"fake.v1.FakeService"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	status := func(svc string) grpchealth.Status {
		t.Helper()
		res, err := s.health.Check(t.Context(), &grpchealth.CheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("Check(%q): %v", svc, err)
		}
		return res.Status
	}
	for _, svc := range []string{"", "fake.v1.FakeService"} {
		if got := status(svc); got != grpchealth.StatusNotServing {
			t.Errorf("before SetServing: %q = %v, want not_serving", svc, got)
		}
	}
	s.SetServing(true)
	if got := status(""); got != grpchealth.StatusServing {
		t.Errorf("after SetServing(true): %v, want serving", got)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.SetServing(true)
	for _, svc := range []string{"", "fake.v1.FakeService"} {
		if got := status(svc); got != grpchealth.StatusNotServing {
			t.Errorf("SetServing(true) after Shutdown: %q = %v, want not_serving", svc, got)
		}
	}
}
