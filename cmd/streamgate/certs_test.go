package main

import (
	"bytes"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/internal/meshtls"
)

// TestCertsInitIssue makes a CA and two service certificates with the
// command, then has the two services complete a mutual TLS handshake with
// what it wrote.
func TestCertsInitIssue(t *testing.T) {
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	certs := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), append([]string{"certs"}, args...), &stdout, &stderr); code != 0 {
			t.Fatalf("streamgate certs %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr.String())
		}
		return stdout.String()
	}
	certs("init", "--dir", caDir, "--trust-domain", "prod.example")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"certs", "init", "--dir", caDir}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "already holds a CA") {
		t.Errorf("init over a CA: exit %d, stderr %q; want 1 and a refusal", code, stderr.String())
	}
	out := certs("issue", "--ca", caDir, "--service", "metadata", "--out", filepath.Join(dir, "metadata"), "--dns", "metadata.streamgate.svc", "--days", "30")
	if !strings.Contains(out, "spiffe://prod.example/svc/metadata") {
		t.Errorf("issue printed %q, want the service URI in the CA's trust domain", out)
	}
	certs("issue", "--ca", caDir, "--service", "upload", "--out", filepath.Join(dir, "upload"))

	load := func(svc string) *meshtls.Source {
		t.Helper()
		src, err := meshtls.Load(meshtls.Options{Dir: filepath.Join(dir, svc), Service: svc, TrustDomain: "prod.example"})
		if err != nil {
			t.Fatalf("load %s: %v", svc, err)
		}
		return src
	}
	metadata, upload := load("metadata"), load("upload")
	if got := metadata.Certificate().DNSNames; len(got) != 1 || got[0] != "metadata.streamgate.svc" {
		t.Errorf("DNS names = %v, want [metadata.streamgate.svc]", got)
	}
	if days := metadata.Certificate().NotAfter.Sub(metadata.Certificate().NotBefore).Hours() / 24; days < 29 || days > 31 {
		t.Errorf("validity = %.1f days, want 30", days)
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, metadata.ServerConfig())
	cli := tls.Client(b, upload.ClientConfig("metadata"))
	errs := make(chan error, 1)
	go func() { errs <- srv.HandshakeContext(t.Context()) }()
	if err := cli.HandshakeContext(t.Context()); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	st := srv.ConnectionState()
	if peer, ok := meshtls.PeerServiceOf(&st); !ok || peer != "upload" {
		t.Errorf("server sees peer %q (%v), want upload", peer, ok)
	}
}
