package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamgate/streamgate/internal/meshtls"
)

// TestEmbeddedNATSWithTLS runs `streamgate embedded nats --tls-dir` and
// connects with a service certificate of the same CA; a certificate naming
// no service is refused.
func TestEmbeddedNATSWithTLS(t *testing.T) {
	const td = "embedded.test"
	dir := t.TempDir()
	if err := meshtls.EnsureDev(dir, td, []string{"nats", "upload", "intruder"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	out, stdout := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runEmbedded(ctx, []string{"nats", "--data-dir", t.TempDir(), "--tls-dir", filepath.Join(dir, "nats"), "--trust-domain", td, "--log-level", "ERROR"}, stdout, io.Discard)
		stdout.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("embedded nats: %v", err)
		}
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatalf("embedded nats printed nothing: %v", sc.Err())
	}
	url, ok := strings.CutPrefix(sc.Text(), "nats ")
	if !ok || !strings.HasPrefix(url, "tls://") {
		t.Fatalf("first line %q, want nats tls://host:port", sc.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	connect := func(service string) error {
		src, err := meshtls.Load(meshtls.Options{Dir: filepath.Join(dir, service), Service: service, TrustDomain: td})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect(url, nats.Secure(src.ClientConfig("nats")), nats.MaxReconnects(0), nats.Timeout(5*time.Second))
		if err == nil {
			nc.Close()
		}
		return err
	}
	if err := connect("upload"); err != nil {
		t.Errorf("connect as upload: %v", err)
	}
	if err := connect("intruder"); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect as intruder: err = %v, want %v", err, nats.ErrAuthorization)
	}
}
