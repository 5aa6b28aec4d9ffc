package meshtls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/server"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

const td = "test.streamgate"

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// videos is a metadata service that answers GetVideo with the calling
// service, as the server saw it, in the title.
type videos struct {
	metadatav1connect.UnimplementedMetadataServiceHandler
}

func (videos) GetVideo(ctx context.Context, req *connect.Request[metadatav1.GetVideoRequest]) (*connect.Response[metadatav1.GetVideoResponse], error) {
	peer, ok := meshtls.PeerServiceFromContext(ctx)
	if !ok {
		peer = "(none)"
	}
	return connect.NewResponse(&metadatav1.GetVideoResponse{Video: &metadatav1.Video{Id: req.Msg.GetVideoId(), Title: peer}}), nil
}

type metadataService struct{}

func (metadataService) Name() string        { return "metadata" }
func (metadataService) ServiceName() string { return metadatav1connect.MetadataServiceName }
func (metadataService) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return metadatav1connect.NewMetadataServiceHandler(videos{}, opts...)
}

// newCA writes a CA to a temporary directory.
func newCA(t *testing.T) (*meshtls.CA, string) {
	t.Helper()
	ca, err := meshtls.NewCA(td, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ca.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return ca, dir
}

// issue writes service's certificate from ca to a new directory and loads it.
func issue(t *testing.T, ca *meshtls.CA, service string) *meshtls.Source {
	t.Helper()
	dir := t.TempDir()
	if err := ca.Issue(dir, meshtls.IssueOptions{Service: service}); err != nil {
		t.Fatal(err)
	}
	return load(t, dir, service)
}

// clock is a Source's clock, moved forward by hand past its check
// interval so that the next handshake reads the files again.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *clock) pastCheck() { c.offset.Add(int64(time.Minute)) }

func load(t *testing.T, dir, service string) *meshtls.Source {
	t.Helper()
	return loadWith(t, dir, service, new(clock))
}

func loadWith(t *testing.T, dir, service string, c *clock) *meshtls.Source {
	t.Helper()
	src, err := meshtls.Load(meshtls.Options{Dir: dir, Service: service, TrustDomain: td, Logger: discard(), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// startServer runs the metadata service on a real listener of the server
// runtime, serving mesh TLS from src.
func startServer(t *testing.T, src *meshtls.Source) string {
	t.Helper()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", TLS: src.ServerConfig()}, []server.Service{metadataService{}}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.SetServing(true)
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv.Addr()
}

// client is an HTTP/2 client with the given TLS configuration.
func client(cfg *tls.Config) *http.Client {
	p := new(http.Protocols)
	p.SetHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p, TLSClientConfig: cfg}, Timeout: 30 * time.Second}
}

// call makes one GetVideo and returns the calling service the server saw.
func call(ctx context.Context, c *http.Client, addr string) (string, error) {
	res, err := metadatav1connect.NewMetadataServiceClient(c, "https://"+addr).
		GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: "v1"}))
	if err != nil {
		return "", err
	}
	return res.Msg.GetVideo().GetTitle(), nil
}

func TestCallNamesTheCaller(t *testing.T) {
	ca, _ := newCA(t)
	addr := startServer(t, issue(t, ca, "metadata"))
	upload := issue(t, ca, "upload")

	got, err := call(t.Context(), client(upload.ClientConfig("metadata")), addr)
	if err != nil {
		t.Fatalf("call with upload's certificate: %v", err)
	}
	if got != "upload" {
		t.Errorf("server saw caller %q, want upload", got)
	}
}

// handshakeRefused reports whether a TLS connection with cfg fails: at the
// handshake, or (TLS 1.3, where the client finishes before the server has
// checked its certificate) at the first read, with the server's alert.
func handshakeRefused(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")); err != nil {
		return err
	}
	_, err = io.ReadAll(conn)
	if err == nil {
		return nil // closed cleanly after the preface? not refused
	}
	return err
}

func TestNoClientCertificateIsRefused(t *testing.T) {
	ca, _ := newCA(t)
	addr := startServer(t, issue(t, ca, "metadata"))
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	// The server's certificate verifies; the client has none to show.
	err := handshakeRefused(t, addr, &tls.Config{RootCAs: roots, ServerName: "metadata", InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}})
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Errorf("connection without a client certificate: err = %v, want the certificate_required alert", err)
	}
	if _, err := call(t.Context(), client(&tls.Config{InsecureSkipVerify: true}), addr); err == nil {
		t.Error("a call without a client certificate succeeded")
	}
}

func TestOtherCAIsRefused(t *testing.T) {
	ca, _ := newCA(t)
	rogue, _ := newCA(t) // same trust domain, same service names: another key
	addr := startServer(t, issue(t, ca, "metadata"))

	impostor := issue(t, rogue, "upload")
	if _, err := call(t.Context(), client(impostor.ClientConfig("metadata")), addr); err == nil {
		t.Error("a client with a certificate from another CA was served")
	}
	// And the other way round: a client refuses a server of another CA.
	rogueAddr := startServer(t, issue(t, rogue, "metadata"))
	_, err := call(t.Context(), client(issue(t, ca, "upload").ClientConfig("metadata")), rogueAddr)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("call to a server of another CA: err = %v, want a certificate error", err)
	}
}

func TestClientChecksServerService(t *testing.T) {
	ca, _ := newCA(t)
	addr := startServer(t, issue(t, ca, "metadata"))
	upload := issue(t, ca, "upload")

	// A caller that means to reach auth is refused by the metadata
	// instance's certificate, whatever the registry said.
	_, err := call(t.Context(), client(upload.ClientConfig("auth")), addr)
	if err == nil || !strings.Contains(err.Error(), "does not name spiffe://"+td+"/svc/auth") {
		t.Errorf("calling metadata as auth: err = %v, want the certificate's name refused", err)
	}
}

func TestTLS12IsRefused(t *testing.T) {
	ca, _ := newCA(t)
	addr := startServer(t, issue(t, ca, "metadata"))
	cfg := issue(t, ca, "upload").ClientConfig("metadata")
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if _, err := call(t.Context(), client(cfg), addr); err == nil {
		t.Error("a TLS 1.2 client was served")
	}
}

// serverSerial is the serial number of the certificate a new connection
// to addr is shown.
func serverSerial(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestRotationWithoutRestart(t *testing.T) {
	ca, _ := newCA(t)
	dir := t.TempDir()
	if err := ca.Issue(dir, meshtls.IssueOptions{Service: "metadata"}); err != nil {
		t.Fatal(err)
	}
	var clk clock
	src := loadWith(t, dir, "metadata", &clk)
	addr := startServer(t, src)
	upload := issue(t, ca, "upload")
	cfg := upload.ClientConfig("metadata")
	c := client(cfg)

	first := src.Certificate().SerialNumber.String()
	if got := serverSerial(t, addr, cfg); got != first {
		t.Fatalf("server shows serial %s, want %s", got, first)
	}
	if _, err := call(t.Context(), c, addr); err != nil {
		t.Fatal(err)
	}

	// A rotation that does not load (half a file) keeps the old material.
	if err := os.WriteFile(filepath.Join(dir, meshtls.CertFile), []byte("-----BEGIN CERTIFICATE-----\nMII"), 0o644); err != nil {
		t.Fatal(err)
	}
	clk.pastCheck()
	if got := serverSerial(t, addr, cfg); got != first {
		t.Fatalf("after a broken rotation the server shows serial %s, want the old %s", got, first)
	}

	// cert-manager renews: new key and certificate, same directory.
	if err := ca.Issue(dir, meshtls.IssueOptions{Service: "metadata"}); err != nil {
		t.Fatal(err)
	}
	clk.pastCheck()
	// The server may still be checking the client certificate of the
	// connection above (TLS 1.3 does that after the client's handshake
	// ends); that check can be the one that reloads, and a handshake never
	// waits for a reload, so the rotated certificate reaches the next few
	// new connections, not necessarily the first.
	var second string
	poll.Until(t, 5*time.Second, "a new connection shown the rotated certificate", func() bool {
		second = serverSerial(t, addr, cfg)
		return second != first
	})
	if want := src.Certificate().SerialNumber.String(); second != want {
		t.Errorf("server shows serial %s, want the rotated %s", second, want)
	}
	// The pooled client keeps working, on its old connection or a new one.
	if _, err := call(t.Context(), c, addr); err != nil {
		t.Errorf("call after rotation: %v", err)
	}
}

func TestCARotation(t *testing.T) {
	// A new CA reaches both sides: the server's files, then the
	// client's. Each side reads ca.crt again, no restart.
	oldCA, _ := newCA(t)
	newCA, _ := newCA(t)
	serverDir, clientDir := t.TempDir(), t.TempDir()
	if err := oldCA.Issue(serverDir, meshtls.IssueOptions{Service: "metadata"}); err != nil {
		t.Fatal(err)
	}
	if err := oldCA.Issue(clientDir, meshtls.IssueOptions{Service: "upload"}); err != nil {
		t.Fatal(err)
	}
	var clk clock // both sides' clock
	addr := startServer(t, loadWith(t, serverDir, "metadata", &clk))
	upload := loadWith(t, clientDir, "upload", &clk)
	if _, err := call(t.Context(), client(upload.ClientConfig("metadata")), addr); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ dir, svc string }{{serverDir, "metadata"}, {clientDir, "upload"}} {
		if err := newCA.Issue(d.dir, meshtls.IssueOptions{Service: d.svc}); err != nil {
			t.Fatal(err)
		}
	}
	clk.pastCheck()
	// A fresh client: a new connection, new handshakes.
	if _, err := call(t.Context(), client(upload.ClientConfig("metadata")), addr); err != nil {
		t.Fatalf("call under the new CA: %v", err)
	}
	if err := upload.Certificate().CheckSignatureFrom(newCA.Cert); err != nil {
		t.Errorf("the client presents a certificate not from the new CA: %v", err)
	}
}
