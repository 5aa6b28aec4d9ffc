package registry

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
)

// TestWatcherReloadsAfterCompaction starts the watch loop at a revision that
// has been compacted away: the watch fails, and the watcher must reload the
// prefix and keep following it.
func TestWatcherReloadsAfterCompaction(t *testing.T) {
	_, cli := etcdservertest.Start(t)
	ctx := t.Context()
	prefix := "/compact/"
	putInst := func(service, id string) {
		t.Helper()
		b, _ := json.Marshal(Instance{Service: service, ID: id, Address: "127.0.0.1:1"})
		if _, err := cli.Put(ctx, Key(prefix, service, id), string(b)); err != nil {
			t.Fatal(err)
		}
	}

	putInst("upload", "u1")
	w := NewWatcher(cli, prefix, slog.New(slog.DiscardHandler))
	staleRev, err := w.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	putInst("upload", "u2")
	if _, err := cli.Delete(ctx, Key(prefix, "upload", "u1")); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Put(ctx, "/unrelated", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go w.run(runCtx, staleRev, done)
	defer func() { cancel(); <-done }()

	ch, unsubscribe := w.Changes()
	defer unsubscribe()
	wait := func(what string, cond func() bool) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for !cond() {
			select {
			case <-ch:
			case <-timeout:
				t.Fatalf("timed out waiting for %s; have %+v", what, w.All())
			}
		}
	}
	wait("reload to [u2]", func() bool {
		got := w.Instances("upload")
		return len(got) == 1 && got[0].ID == "u2"
	})
	putInst("upload", "u3")
	wait("watch resumed after reload", func() bool { return len(w.Instances("upload")) == 2 })
}
