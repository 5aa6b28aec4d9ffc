package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

// A single server refuses replicated streams: the setting must stay 1 there,
// and asking for more fails at start rather than running unreplicated.
func TestEnsureStreamsReplicasOnSingleServer(t *testing.T) {
	srv := natsservertest.Start(t)
	b := connectBus(t, srv.ClientURL(), events.WithReplicas(3))
	err := b.EnsureStreams(t.Context())
	// The server's JSStreamReplicasNotSupportedErr; nats.go names no
	// constant for it.
	const replicasNotSupported jetstream.ErrorCode = 10074
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != replicasNotSupported {
		t.Fatalf("EnsureStreams with 3 replicas on one server: err = %v, want error code %d (replicas > 1 not supported)", err, replicasNotSupported)
	}
}

func TestConnectReplicasOutOfRange(t *testing.T) {
	srv := natsservertest.Start(t)
	for _, n := range []int{0, -1, 6} {
		if _, err := events.Connect(t.Context(), srv.ClientURL(), testLogger(t), events.WithReplicas(n)); err == nil {
			t.Errorf("Connect(WithReplicas(%d)) succeeded, want an error", n)
		}
	}
}

// An operator's changes to a stream survive the next start: EnsureStream
// creates what is missing and otherwise adds missing subjects only.
func TestEnsureStreamKeepsOperatorSettings(t *testing.T) {
	srv := natsservertest.Start(t)
	b := connectBus(t, srv.ClientURL())
	js := b.JetStream()
	ours := jetstream.StreamConfig{
		Name: "WORK", Subjects: []string{"work.a", "work.b"}, Storage: jetstream.FileStorage,
		MaxAge: time.Hour, Duplicates: time.Minute,
	}

	s, err := b.EnsureStream(t.Context(), ours)
	if err != nil {
		t.Fatalf("EnsureStream (create): %v", err)
	}
	if got := s.CachedInfo().Config; got.Replicas != 1 || got.MaxAge != time.Hour {
		t.Fatalf("created with replicas %d, MaxAge %s; want 1, 1h", got.Replicas, got.MaxAge)
	}

	// The operator keeps a day, caps the bytes and narrows the subjects.
	op := s.CachedInfo().Config
	op.MaxAge, op.MaxBytes, op.Description, op.Subjects = 24*time.Hour, 1<<20, "tuned by ops", []string{"work.a"}
	if _, err := js.UpdateStream(t.Context(), op); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureStream(t.Context(), ours); err != nil {
		t.Fatalf("EnsureStream (existing): %v", err)
	}
	got := streamConfig(t, js, "WORK")
	if got.MaxAge != 24*time.Hour || got.MaxBytes != 1<<20 || got.Description != "tuned by ops" {
		t.Errorf("after EnsureStream: MaxAge %s, MaxBytes %d, Description %q; want the operator's 24h, 1048576, \"tuned by ops\"",
			got.MaxAge, got.MaxBytes, got.Description)
	}
	if want := []string{"work.a", "work.b"}; !equalSet(got.Subjects, want) {
		t.Errorf("subjects = %v, want %v (the missing one added back)", got.Subjects, want)
	}

	// A wildcard the operator chose covers our subjects: nothing is added.
	op = got
	op.Subjects = []string{"work.*"}
	if _, err := js.UpdateStream(t.Context(), op); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureStream(t.Context(), ours); err != nil {
		t.Fatalf("EnsureStream (wildcard): %v", err)
	}
	if got := streamConfig(t, js, "WORK").Subjects; !equalSet(got, []string{"work.*"}) {
		t.Errorf("subjects = %v, want [work.*]", got)
	}
}

func TestEnsureKeyValue(t *testing.T) {
	srv := natsservertest.Start(t)
	b := connectBus(t, srv.ClientURL())
	js := b.JetStream()
	ours := jetstream.KeyValueConfig{Bucket: "things", History: 1, Storage: jetstream.FileStorage}

	if _, err := b.EnsureKeyValue(t.Context(), ours); err != nil {
		t.Fatalf("EnsureKeyValue (create): %v", err)
	}
	// The operator caps the bucket's size; a later start leaves it.
	op := streamConfig(t, js, "KV_things")
	op.MaxBytes = 1 << 20
	if _, err := js.UpdateStream(t.Context(), op); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureKeyValue(t.Context(), ours); err != nil {
		t.Fatalf("EnsureKeyValue (existing): %v", err)
	}
	if got := streamConfig(t, js, "KV_things"); got.MaxBytes != 1<<20 || got.AllowMsgTTL {
		t.Errorf("MaxBytes %d, AllowMsgTTL %t; want the operator's 1048576 and false", got.MaxBytes, got.AllowMsgTTL)
	}

	// A caller that now writes keys with a TTL gets per-message TTLs
	// switched on in the bucket it finds, and keys with a TTL expire.
	ours.LimitMarkerTTL = time.Minute
	kv, err := b.EnsureKeyValue(t.Context(), ours)
	if err != nil {
		t.Fatalf("EnsureKeyValue (TTL): %v", err)
	}
	got := streamConfig(t, js, "KV_things")
	if !got.AllowMsgTTL || got.SubjectDeleteMarkerTTL != time.Minute || got.MaxBytes != 1<<20 {
		t.Errorf("AllowMsgTTL %t, marker TTL %s, MaxBytes %d; want true, 1m, 1048576", got.AllowMsgTTL, got.SubjectDeleteMarkerTTL, got.MaxBytes)
	}
	if _, err := kv.Create(t.Context(), "short", []byte("x"), jetstream.KeyTTL(time.Second)); err != nil {
		t.Fatalf("Create with KeyTTL: %v", err)
	}
	poll.Until(t, waitTimeout, "the key with a 1s TTL to expire", func() bool {
		_, err := kv.Get(t.Context(), "short")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
}

func streamConfig(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}

func equalSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, s := range a {
		seen[s] = true
	}
	for _, s := range b {
		if !seen[s] {
			return false
		}
	}
	return true
}

// In a three-server cluster the setting gives R3 streams and buckets, and a
// process started with the default of 1 (an old one, or one run without the
// flag) leaves them at R3: start-up never scales a stream down.
func TestEnsureStreamsReplicatedInCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	srvs := natsservertest.StartCluster(t, 3)
	b3 := connectBus(t, srvs[0].ClientURL(), events.WithReplicas(3))
	// The first request waits for the cluster to elect its meta leader.
	var err error
	poll.Until(t, 30*time.Second, "the cluster to create replicated streams", func() bool {
		err = b3.EnsureStreams(t.Context())
		return err == nil
	})
	if _, err := b3.EnsureKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "jobs", History: 1}); err != nil {
		t.Fatalf("EnsureKeyValue: %v", err)
	}

	b1 := connectBus(t, srvs[1].ClientURL()) // the default: 1 replica
	if err := b1.EnsureStreams(t.Context()); err != nil {
		t.Fatalf("EnsureStreams with 1 replica: %v", err)
	}
	if _, err := b1.EnsureKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "jobs", History: 1}); err != nil {
		t.Fatalf("EnsureKeyValue with 1 replica: %v", err)
	}

	cfgs, err := events.StreamConfigs()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"KV_jobs"}
	for _, c := range cfgs {
		names = append(names, c.Name)
	}
	for _, name := range names {
		s, err := b1.JetStream().Stream(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		info := s.CachedInfo()
		if info.Config.Replicas != 3 {
			t.Errorf("%s: Replicas = %d, want 3", name, info.Config.Replicas)
		}
		if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("%s: cluster info %+v, want a leader and 2 replicas", name, info.Cluster)
		}
	}
}
