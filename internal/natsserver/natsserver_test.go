package natsserver_test

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamgate/streamgate/internal/natsserver"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
)

func TestStartServesJetStream(t *testing.T) {
	s := natsservertest.Start(t)
	if url := s.ClientURL(); !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Errorf("ClientURL() = %q, want nats://127.0.0.1:<port>", url)
	}
	js := connect(t, s.ClientURL())
	info, err := js.AccountInfo(t.Context())
	if err != nil {
		t.Fatalf("AccountInfo: %v", err)
	}
	if info.Limits.MaxStore == 0 {
		t.Errorf("account has no file store limit: %+v", info.Limits)
	}
}

// A restart on the same directory must find streams and messages again: that
// is what makes `streamgate dev` keep its events across runs.
func TestRestartKeepsStreams(t *testing.T) {
	dir := t.TempDir()
	s := natsservertest.StartInDir(t, dir)
	js := connect(t, s.ClientURL())
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	if _, err := js.Publish(t.Context(), "t.a", []byte("kept")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	s.Shutdown()

	s2 := natsservertest.StartInDir(t, dir)
	js2 := connect(t, s2.ClientURL())
	stream, err := js2.Stream(t.Context(), "T")
	if err != nil {
		t.Fatalf("Stream after restart: %v", err)
	}
	msg, err := stream.GetMsg(t.Context(), 1)
	if err != nil {
		t.Fatalf("GetMsg after restart: %v", err)
	}
	if got, want := string(msg.Data), "kept"; got != want {
		t.Errorf("message after restart = %q, want %q", got, want)
	}
}

func TestStartRequiresDir(t *testing.T) {
	_, err := natsserver.Start(t.Context(), natsserver.Config{}, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("Start with no Dir succeeded, want an error")
	}
}

// A port already in use makes the server give up inside Start; Start must
// report that at once rather than wait for a listener that never comes.
func TestStartFailsFastWhenPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	began := time.Now()
	s, err := natsserver.Start(t.Context(), natsserver.Config{Dir: t.TempDir(), Port: port}, slog.New(slog.DiscardHandler))
	if err == nil {
		s.Shutdown()
		t.Fatal("Start on a taken port succeeded, want an error")
	}
	if elapsed := time.Since(began); elapsed > 5*time.Second {
		t.Errorf("Start took %s to fail, want well under the 10s ready timeout", elapsed)
	}
	if !strings.Contains(err.Error(), "listen") {
		t.Errorf("error = %q, want it to mention listening", err)
	}
}

func TestShutdownTwice(t *testing.T) {
	s := natsservertest.Start(t)
	s.Shutdown()
	s.Shutdown()
	_, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0), nats.Timeout(time.Second))
	if !errors.Is(err, nats.ErrNoServers) {
		t.Errorf("Connect after Shutdown: err = %v, want %v", err, nats.ErrNoServers)
	}
}

func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return js
}
