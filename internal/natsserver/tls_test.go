package natsserver_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/natsserver"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

// asyncErrs collects the errors the server reports on a connection, such as
// permission violations, which a publish does not return.
type asyncErrs struct {
	mu   sync.Mutex
	errs []error
}

func (a *asyncErrs) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs = append(a.errs, err)
}

func (a *asyncErrs) contains(s string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, err := range a.errs {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// dialTLS connects once, without retries, with cfg.
func dialTLS(url string, cfg *tls.Config, errs *asyncErrs) (*nats.Conn, error) {
	opts := []nats.Option{nats.MaxReconnects(0), nats.Timeout(5 * time.Second), nats.Secure(cfg)}
	if errs != nil {
		opts = append(opts, nats.ErrorHandler(errs.handler))
	}
	return nats.Connect(url, opts...)
}

// connectAs connects as service with its mesh certificate.
func connectAs(t *testing.T, s *natsserver.Server, m *natsservertest.Mesh, service string) (jetstream.JetStream, *asyncErrs) {
	t.Helper()
	errs := new(asyncErrs)
	nc, err := dialTLS(s.ClientURL(), m.ClientConfig(t, service), errs)
	if err != nil {
		t.Fatalf("connect as %s: %v", service, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, errs
}

// ensureStreams creates the event streams as service, which needs the
// JetStream API: publish permissions must leave it open.
func ensureStreams(t *testing.T, s *natsserver.Server, m *natsservertest.Mesh, service string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := events.Connect(ctx, s.ClientURL(), discard(), events.WithTLS(m.ClientConfig(t, service)))
	if err != nil {
		t.Fatalf("events.Connect as %s: %v", service, err)
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatalf("EnsureStreams as %s: %v", service, err)
	}
}

func TestTLSServesMeshClients(t *testing.T) {
	s, m := natsservertest.StartTLS(t)
	if url := s.ClientURL(); !strings.HasPrefix(url, "tls://127.0.0.1:") {
		t.Errorf("ClientURL() = %q, want tls://127.0.0.1:<port>", url)
	}
	js, _ := connectAs(t, s, m, "gateway")
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("AccountInfo as gateway: %v", err)
	}
	// gateway publishes no event at all, yet may create the streams.
	ensureStreams(t, s, m, "gateway")
}

// tlsRefused reports whether err is the server refusing the handshake: its
// alert, or, since in TLS 1.3 the client may finish its handshake and write
// before the server has checked its certificate, the server's close.
func tlsRefused(err error, alert string) bool {
	return err != nil && (strings.Contains(err.Error(), alert) ||
		strings.Contains(err.Error(), "tls error: connection closed by remote after TLS handshake"))
}

func TestTLSRefusesClientWithoutCertificate(t *testing.T) {
	s, _ := natsservertest.StartTLS(t)
	_, err := dialTLS(s.ClientURL(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, nil)
	if !tlsRefused(err, "certificate required") {
		t.Errorf("connect without a certificate: err = %v, want the certificate_required alert", err)
	}
	// Nor in plain text.
	_, err = nats.Connect(strings.Replace(s.ClientURL(), "tls://", "nats://", 1), nats.MaxReconnects(0), nats.Timeout(5*time.Second))
	if err == nil {
		t.Error("a plain-text client without a certificate connected")
	}
}

func TestTLSRefusesOtherCA(t *testing.T) {
	s, _ := natsservertest.StartTLS(t)
	rogue, err := meshtls.NewCA(meshtls.DefaultTrustDomain, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := rogue.Issue(dir, meshtls.IssueOptions{Service: "upload"}); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, meshtls.CertFile), filepath.Join(dir, meshtls.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	// The client trusts the server blindly: only the server's check of the
	// client's certificate is under test.
	_, err = dialTLS(s.ClientURL(), &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, nil)
	if !tlsRefused(err, "tls: bad certificate") {
		t.Errorf("connect with upload's certificate from another CA: err = %v, want the bad_certificate alert", err)
	}
}

func TestTLSRefusesUnknownService(t *testing.T) {
	s, m := natsservertest.StartTLS(t)
	// Right CA, right trust domain, but no NATS user: neither a service the
	// server was not told of, nor the server's own certificate.
	for _, svc := range []string{"intruder", natsserver.Service} {
		_, err := dialTLS(s.ClientURL(), m.ClientConfig(t, svc), nil)
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("connect as %s: err = %v, want %v", svc, err, nats.ErrAuthorization)
		}
	}
}

func TestTLSPublishOnlyOwnEvents(t *testing.T) {
	s, m := natsservertest.StartTLS(t)
	ensureStreams(t, s, m, "worker")
	ctx := t.Context()

	upload, uploadErrs := connectAs(t, s, m, "upload")
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err := upload.Publish(short, "transcode.completed", []byte("forged"))
	cancel()
	if err == nil {
		t.Fatal("upload published transcode.completed through JetStream")
	}
	poll.Until(t, 10*time.Second, "the permissions violation to be reported", func() bool {
		return uploadErrs.contains(`Permissions Violation for Publish to "transcode.completed"`)
	})
	// Core NATS: refused as well, and so nothing reaches the stream.
	if err := upload.Conn().Publish("transcode.completed", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	if err := upload.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	assertMsgs(t, upload, "MEDIA", "transcode.completed", 0)

	transcoder, _ := connectAs(t, s, m, "transcoder")
	if _, err := transcoder.Publish(ctx, "transcode.completed", []byte("real")); err != nil {
		t.Fatalf("transcoder publishing transcode.completed: %v", err)
	}
	assertMsgs(t, upload, "MEDIA", "transcode.completed", 1)

	if _, err := upload.Publish(ctx, "upload.completed", []byte("u1")); err != nil {
		t.Fatalf("upload publishing upload.completed: %v", err)
	}
	// Everyone publishes log records.
	if _, err := upload.Publish(ctx, "log.record", []byte("l1")); err != nil {
		t.Fatalf("upload publishing log.record: %v", err)
	}

	// Consuming is open to every service.
	worker, _ := connectAs(t, s, m, "worker")
	cons, err := worker.CreateOrUpdateConsumer(ctx, "MEDIA", jetstream.ConsumerConfig{
		Durable: "worker-test", FilterSubject: "upload.completed", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatalf("worker creating a consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for msg := range batch.Messages() {
		got = append(got, string(msg.Data()))
		if err := msg.DoubleAck(ctx); err != nil {
			t.Errorf("worker acking: %v", err)
		}
	}
	if len(got) != 1 || got[0] != "u1" {
		t.Errorf("worker fetched %q, want [u1] (fetch err: %v)", got, batch.Error())
	}
}

func assertMsgs(t *testing.T, js jetstream.JetStream, stream, subject string, want uint64) {
	t.Helper()
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects[subject]; got != want {
		t.Errorf("stream %s holds %d messages on %s, want %d", stream, got, subject, want)
	}
}

func TestTLSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	srvs, m := natsservertest.StartTLSCluster(t, 3)
	js, _ := connectAs(t, srvs[2], m, "upload")
	var err error
	poll.Until(t, 30*time.Second, "the TLS cluster to create a replicated stream", func() bool {
		_, err = js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
		return err == nil
	})
	st, err := js.Stream(t.Context(), "R3")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
		t.Errorf("stream R3 cluster info = %+v, want a leader and two replicas", info.Cluster)
	}
	if _, err := js.Publish(t.Context(), "r3.a", []byte("x")); err != nil {
		t.Errorf("publish to the R3 stream: %v", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// The monitoring port shows what KEDA's JetStream scaler reads, the
// transcoder queue's pending jobs, without a client certificate; the
// message data never appears there.
func TestMonitorShowsConsumerBacklog(t *testing.T) {
	s, m := natsservertest.StartTLSConfig(t, natsserver.Config{MonitorPort: -1})
	if s.MonitorURL() == "" {
		t.Fatal("no monitoring URL with MonitorPort set")
	}
	js, _ := connectAs(t, s, m, "transcoder")
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TRANSCODE_JOBS", Subjects: []string{"jobs.transcode"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "TRANSCODE_JOBS", jetstream.ConsumerConfig{Durable: "transcoder-workers", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "jobs.transcode", []byte("secret-job-body")); err != nil {
			t.Fatal(err)
		}
	}
	// KEDA's request: the global account's streams with their consumers.
	// The consumer's pending count follows the stored messages a moment
	// after their acks, so the backlog is read until it shows all three.
	var body []byte
	poll.UntilNil(t, 10*time.Second, "the monitor's backlog of transcoder-workers", func() error {
		var pending int
		body, pending = jszPending(t, s.MonitorURL(), "TRANSCODE_JOBS", "transcoder-workers")
		if pending != 3 {
			return fmt.Errorf("pending = %d, want 3; /jsz said %s", pending, body)
		}
		return nil
	})
	if strings.Contains(string(body), "secret-job-body") {
		t.Fatal("the monitoring endpoint shows message data")
	}
}

// jszPending asks the monitoring endpoint what KEDA asks and returns the
// answer and the number of messages pending for the consumer (-1 when it
// is not listed).
func jszPending(t *testing.T, monitorURL, stream, consumer string) ([]byte, int) {
	t.Helper()
	res, err := http.Get(monitorURL + "/jsz?acc=$G&consumers=true&config=true")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var jsz struct {
		Accounts []struct {
			Streams []struct {
				Name      string `json:"name"`
				Consumers []struct {
					Name       string `json:"name"`
					NumPending int    `json:"num_pending"`
				} `json:"consumer_detail"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.Unmarshal(body, &jsz); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, a := range jsz.Accounts {
		for _, st := range a.Streams {
			for _, c := range st.Consumers {
				if st.Name == stream && c.Name == consumer {
					return body, c.NumPending
				}
			}
		}
	}
	return body, -1
}
