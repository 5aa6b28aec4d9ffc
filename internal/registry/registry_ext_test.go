package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/registry"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func instance(service, id string) registry.Instance {
	return registry.Instance{
		Service:   service,
		ID:        id,
		Address:   "127.0.0.1:7001",
		Protocols: []string{"connect", "grpc", "grpc-web"},
		Version:   "v1.2.3",
		StartTime: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
	}
}

func startWatcher(t *testing.T, cli *clientv3.Client, prefix string) *registry.Watcher {
	t.Helper()
	w := registry.NewWatcher(cli, prefix, discard())
	if err := w.Start(t.Context()); err != nil {
		t.Fatalf("Watcher.Start: %v", err)
	}
	t.Cleanup(w.Close)
	return w
}

// waitState waits on the watcher's change signals until cond holds.
func waitState(t *testing.T, w *registry.Watcher, what string, cond func() bool) {
	t.Helper()
	ch, unsubscribe := w.Changes()
	defer unsubscribe()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; watcher has %+v", what, w.All())
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		prefix, service, id, want string
	}{
		{registry.DefaultPrefix, "upload", "up-1", "/streamgate/services/upload/up-1"},
		{"/x/", "auth", "a", "/x/auth/a"},
		{"/x", "auth", "a", "/x/auth/a"},
		{"", "auth", "a", "/streamgate/services/auth/a"},
	}
	for _, tt := range tests {
		if got := registry.Key(tt.prefix, tt.service, tt.id); got != tt.want {
			t.Errorf("Key(%q, %q, %q) = %q, want %q", tt.prefix, tt.service, tt.id, got, tt.want)
		}
	}
}

func TestRegisterDiscoverDeregister(t *testing.T) {
	_, cli := etcdservertest.Start(t)
	ctx := t.Context()

	// A raw watch records the events exactly as etcd delivers them.
	events := cli.Watch(ctx, registry.DefaultPrefix, clientv3.WithPrefix())

	w := startWatcher(t, cli, registry.DefaultPrefix)
	inst := instance("upload", "upload-1")
	reg := registry.NewRegistrar(cli, inst, registry.RegistrarOptions{TTL: 5 * time.Second}, discard())
	if err := reg.Register(ctx); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if err := w.WaitFor(ctx, "upload", 1); err != nil {
		t.Fatalf("WaitFor: %v", err)
	}

	got := w.Instances("upload")
	if len(got) != 1 || got[0].ID != inst.ID || got[0].Address != inst.Address || got[0].Version != inst.Version ||
		!slices.Equal(got[0].Protocols, inst.Protocols) || !got[0].StartTime.Equal(inst.StartTime) {
		t.Fatalf("Instances(upload) = %+v, want [%+v]", got, inst)
	}
	if all := w.All(); len(all) != 1 {
		t.Fatalf("All() = %+v, want one instance", all)
	}
	if other := w.Instances("auth"); len(other) != 0 {
		t.Fatalf("Instances(auth) = %+v, want none", other)
	}

	// The stored value is the documented JSON, bound to a lease with the TTL.
	key := registry.Key(registry.DefaultPrefix, "upload", "upload-1")
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("Get(%s) = %v, %v; want one kv", key, resp, err)
	}
	var fields map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &fields); err != nil {
		t.Fatalf("value is not JSON: %v: %s", err, resp.Kvs[0].Value)
	}
	wantFields := map[string]any{
		"service":    "upload",
		"id":         "upload-1",
		"address":    "127.0.0.1:7001",
		"protocols":  []any{"connect", "grpc", "grpc-web"},
		"version":    "v1.2.3",
		"start_time": "2026-11-28T10:00:00Z",
	}
	if len(fields) != len(wantFields) {
		t.Errorf("value fields = %v, want %v", fields, wantFields)
	}
	for k, want := range wantFields {
		gotJSON, _ := json.Marshal(fields[k])
		wantJSON, _ := json.Marshal(want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("value[%q] = %s, want %s", k, gotJSON, wantJSON)
		}
	}
	lease := clientv3.LeaseID(resp.Kvs[0].Lease)
	if lease == 0 {
		t.Fatal("key has no lease")
	}
	ttl, err := cli.TimeToLive(ctx, lease)
	if err != nil {
		t.Fatalf("TimeToLive: %v", err)
	}
	if ttl.GrantedTTL != 5 {
		t.Errorf("lease granted TTL = %d s, want 5", ttl.GrantedTTL)
	}

	if err := reg.Deregister(ctx); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if err := reg.Deregister(ctx); err != nil {
		t.Fatalf("second Deregister: %v", err)
	}
	waitState(t, w, "upload-1 gone", func() bool { return len(w.Instances("upload")) == 0 })
	if err := reg.Register(ctx); err == nil {
		t.Error("Register after Deregister succeeded, want error")
	}

	var types []string
	for len(types) < 2 {
		select {
		case wr := <-events:
			for _, ev := range wr.Events {
				types = append(types, ev.Type.String())
			}
		case <-ctx.Done():
			t.Fatalf("events so far %v: %v", types, ctx.Err())
		}
	}
	if want := []string{"PUT", "DELETE"}; !slices.Equal(types, want) {
		t.Errorf("etcd events = %v, want %v", types, want)
	}
	if _, err := cli.TimeToLive(ctx, lease); err != nil {
		t.Fatalf("TimeToLive after Deregister: %v", err)
	} else if ttl, _ := cli.TimeToLive(ctx, lease); ttl.TTL != -1 {
		t.Errorf("lease TTL after Deregister = %d, want -1 (revoked)", ttl.TTL)
	}
}

func TestReregisterWhenLost(t *testing.T) {
	tests := []struct {
		name string
		lose func(ctx context.Context, cli *clientv3.Client, key string, lease clientv3.LeaseID) error
	}{
		{"lease revoked", func(ctx context.Context, cli *clientv3.Client, _ string, lease clientv3.LeaseID) error {
			_, err := cli.Revoke(ctx, lease)
			return err
		}},
		{"key deleted", func(ctx context.Context, cli *clientv3.Client, key string, _ clientv3.LeaseID) error {
			_, err := cli.Delete(ctx, key)
			return err
		}},
	}
	_, cli := etcdservertest.Start(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			inst := instance("auth", "auth-"+string(rune('a'+i)))
			reg := registry.NewRegistrar(cli, inst, registry.RegistrarOptions{}, discard())
			if err := reg.Register(ctx); err != nil {
				t.Fatalf("Register: %v", err)
			}
			t.Cleanup(func() { _ = reg.Deregister(context.WithoutCancel(ctx)) })

			key := reg.Key()
			resp, err := cli.Get(ctx, key)
			if err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("Get(%s) = %v, %v", key, resp, err)
			}
			oldLease := clientv3.LeaseID(resp.Kvs[0].Lease)
			events := cli.Watch(ctx, key, clientv3.WithRev(resp.Header.Revision+1))

			if err := tt.lose(ctx, cli, key, oldLease); err != nil {
				t.Fatalf("lose registration: %v", err)
			}
			var sawDelete bool
			for {
				var wr clientv3.WatchResponse
				select {
				case wr = <-events:
				case <-time.After(10 * time.Second):
					t.Fatal("no re-registration within 10s")
				}
				if err := wr.Err(); err != nil {
					t.Fatalf("watch: %v", err)
				}
				for _, ev := range wr.Events {
					switch {
					case ev.Type == clientv3.EventTypeDelete:
						sawDelete = true
					case ev.Kv.Lease == int64(oldLease):
						t.Fatalf("key re-put with the lost lease %x", oldLease)
					default:
						if !sawDelete {
							t.Fatal("PUT before the DELETE")
						}
						// Re-registered with a new lease that is being kept alive.
						ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(ev.Kv.Lease))
						if err != nil || ttl.TTL <= 0 {
							t.Fatalf("new lease TTL = %v, %v; want a live lease", ttl, err)
						}
						return
					}
				}
			}
		})
	}
}

func TestDuplicateInstance(t *testing.T) {
	_, cli := etcdservertest.Start(t)
	ctx := t.Context()
	first := registry.NewRegistrar(cli, instance("cache", "c1"), registry.RegistrarOptions{}, discard())
	if err := first.Register(ctx); err != nil {
		t.Fatalf("first Register: %v", err)
	}
	defer first.Deregister(ctx)
	second := registry.NewRegistrar(cli, instance("cache", "c1"), registry.RegistrarOptions{}, discard())
	if err := second.Register(ctx); !errors.Is(err, registry.ErrDuplicateInstance) {
		t.Fatalf("second Register error = %v, want ErrDuplicateInstance", err)
	}
	if err := second.Deregister(ctx); err != nil {
		t.Fatalf("Deregister of a never-registered registrar: %v", err)
	}
	resp, err := cli.Get(ctx, first.Key())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("first instance's key after the duplicate: %v, %v", resp, err)
	}
}

func TestRegisterInvalid(t *testing.T) {
	tests := []struct {
		name string
		inst registry.Instance
	}{
		{"no service", registry.Instance{ID: "x", Address: "a:1"}},
		{"slash in service", registry.Instance{Service: "a/b", ID: "x", Address: "a:1"}},
		{"no id", registry.Instance{Service: "a", Address: "a:1"}},
		{"no address", registry.Instance{Service: "a", ID: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Validation happens before any etcd call, so no client is needed.
			reg := registry.NewRegistrar(nil, tt.inst, registry.RegistrarOptions{}, discard())
			if err := reg.Register(t.Context()); err == nil {
				t.Fatal("Register succeeded, want a validation error")
			}
		})
	}
}

func TestWatcherFollowsChanges(t *testing.T) {
	_, cli := etcdservertest.Start(t)
	ctx := t.Context()
	prefix := "/test/services/"

	// Present before Start: part of the initial load.
	pre := registry.NewRegistrar(cli, instance("metadata", "m2"), registry.RegistrarOptions{Prefix: prefix}, discard())
	if err := pre.Register(ctx); err != nil {
		t.Fatalf("Register: %v", err)
	}
	// Garbage under the prefix is skipped, not fatal.
	if _, err := cli.Put(ctx, prefix+"metadata/bad", "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, prefix+"nolayout", "{}"); err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, cli, prefix)
	if got := w.Instances("metadata"); len(got) != 1 || got[0].ID != "m2" {
		t.Fatalf("after Start, Instances(metadata) = %+v, want [m2]", got)
	}

	changes, unsubscribe := w.Changes()
	defer unsubscribe()
	var regs []*registry.Registrar
	for _, in := range []registry.Instance{instance("metadata", "m1"), instance("metadata", "m3"), instance("auth", "a1")} {
		r := registry.NewRegistrar(cli, in, registry.RegistrarOptions{Prefix: prefix}, discard())
		if err := r.Register(ctx); err != nil {
			t.Fatalf("Register %s: %v", in.ID, err)
		}
		regs = append(regs, r)
	}
	if err := w.WaitFor(ctx, "metadata", 3); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitFor(ctx, "auth", 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	default:
		t.Error("no change signal after registrations")
	}

	ids := func(ins []registry.Instance) []string {
		var out []string
		for _, in := range ins {
			out = append(out, in.Service+"/"+in.ID)
		}
		return out
	}
	if got, want := ids(w.Instances("metadata")), []string{"metadata/m1", "metadata/m2", "metadata/m3"}; !slices.Equal(got, want) {
		t.Errorf("Instances(metadata) = %v, want %v", got, want)
	}
	if got, want := ids(w.All()), []string{"auth/a1", "metadata/m1", "metadata/m2", "metadata/m3"}; !slices.Equal(got, want) {
		t.Errorf("All() = %v, want %v", got, want)
	}

	// The copy is the caller's.
	got := w.Instances("metadata")
	got[0].Protocols[0] = "mutated"
	if w.Instances("metadata")[0].Protocols[0] == "mutated" {
		t.Error("Instances returned shared Protocols")
	}

	// Updates in place (same key, new value) are seen.
	if _, err := cli.Put(ctx, prefix+"metadata/bad", `{"address":"10.0.0.9:1"}`); err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "metadata/bad decoded", func() bool { return len(w.Instances("metadata")) == 4 })

	for _, r := range append(regs, pre) {
		if err := r.Deregister(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, w, "deregistered instances gone", func() bool {
		return len(w.Instances("auth")) == 0 && len(w.Instances("metadata")) == 1
	})

	// After Close the state is frozen.
	w.Close()
	w.Close()
	if _, err := cli.Delete(ctx, prefix, clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if got := w.Instances("metadata"); len(got) != 1 {
		t.Errorf("after Close, Instances(metadata) = %+v, want the frozen state", got)
	}
}

func TestWaitForTimeout(t *testing.T) {
	_, cli := etcdservertest.Start(t)
	w := startWatcher(t, cli, "")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := w.WaitFor(ctx, "upload", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor error = %v, want DeadlineExceeded", err)
	}
}
