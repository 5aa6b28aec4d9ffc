package events_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
)

// A Bus over mesh TLS creates the streams and publishes its service's own
// events; another service's events are refused by the server.
func TestConnectWithTLS(t *testing.T) {
	srv, m := natsservertest.StartTLS(t)
	upload := connectBus(t, srv.ClientURL(), events.WithTLS(m.ClientConfig(t, "upload")))
	if err := upload.EnsureStreams(t.Context()); err != nil {
		t.Fatalf("EnsureStreams as upload: %v", err)
	}
	if err := upload.Publish(t.Context(), uploadCompleted("u1")); err != nil {
		t.Fatalf("upload publishing upload.completed: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	forged := &eventsv1.SegmentReady{EventId: "segment.ready:forged"}
	if err := upload.Publish(ctx, forged); err == nil {
		t.Error("upload published segment.ready, which only the transcoder may")
	}
	media, err := upload.JetStream().Stream(t.Context(), "MEDIA")
	if err != nil {
		t.Fatal(err)
	}
	info, err := media.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("MEDIA holds %d messages, want 1 (upload.completed only)", info.State.Msgs)
	}
}

// Connect retries only while no server answers: a refused certificate or
// an unknown service will not fix itself, so it is reported at once.
func TestConnectDoesNotRetryRefusal(t *testing.T) {
	srv, m := natsservertest.StartTLS(t)
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		want func(error) bool
	}{
		{"unknown service", m.ClientConfig(t, "intruder"), func(err error) bool { return errors.Is(err, nats.ErrAuthorization) }},
		{"no certificate", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, func(err error) bool { return err != nil }},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		began := time.Now()
		b, err := events.Connect(ctx, srv.ClientURL(), testLogger(t), events.WithTLS(tc.cfg))
		cancel()
		if err == nil {
			b.Close()
			t.Errorf("%s: Connect succeeded", tc.name)
			continue
		}
		if !tc.want(err) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Connect err = %v, want the refusal itself", tc.name, err)
		}
		if elapsed := time.Since(began); elapsed > 5*time.Second {
			t.Errorf("%s: Connect took %s to fail: it retried", tc.name, elapsed)
		}
	}
}
