// Package cachetest is the conformance suite every cache.Backend passes:
// the memory and Redis backends run the same subtests.
package cachetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/streamgate/streamgate/services/cache"
)

// NewBackend returns an empty backend for one subtest; it is closed by the
// suite.
type NewBackend func(t *testing.T) cache.Backend

// Run runs the suite against the backends newBackend returns.
func Run(t *testing.T, newBackend NewBackend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b cache.Backend)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"GetMany", testGetMany},
		{"NamespaceIsolation", testNamespaceIsolation},
		{"InvalidatePrefix", testInvalidatePrefix},
		{"InvalidateAll", testInvalidateAll},
		{"Expiry", testExpiry},
		{"NamespaceLimit", testNamespaceLimit},
		{"ReclaimExpiredBeforeLimit", testReclaimExpired},
		{"Stats", testStats},
		{"ConcurrentAccounting", testConcurrentAccounting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, b)
		})
	}
}

const (
	noLimit = 1 << 40
	// wait bounds every wait on a condition; generous for a loaded machine.
	wait = 15 * time.Second
)

func entry(key, value, ct string, ttl time.Duration) cache.Entry {
	return cache.Entry{Key: key, Value: []byte(value), ContentType: ct, ExpireTime: time.Now().Add(ttl)}
}

func mustSet(t *testing.T, b cache.Backend, ns string, e cache.Entry) {
	t.Helper()
	if err := b.Set(t.Context(), ns, e, noLimit); err != nil {
		t.Fatalf("Set(%q, %q): %v", ns, e.Key, err)
	}
}

func mustGet(t *testing.T, b cache.Backend, ns, key string) (cache.Entry, bool) {
	t.Helper()
	e, ok, err := b.Get(t.Context(), ns, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", ns, key, err)
	}
	return e, ok
}

func wantHit(t *testing.T, b cache.Backend, ns, key, value, ct string) cache.Entry {
	t.Helper()
	e, ok := mustGet(t, b, ns, key)
	if !ok {
		t.Fatalf("Get(%q, %q): miss, want hit", ns, key)
	}
	if e.Key != key || !bytes.Equal(e.Value, []byte(value)) || e.ContentType != ct {
		t.Fatalf("Get(%q, %q) = (%q, %q, %q), want (%q, %q, %q)", ns, key, e.Key, e.Value, e.ContentType, key, value, ct)
	}
	return e
}

func wantMiss(t *testing.T, b cache.Backend, ns, key string) {
	t.Helper()
	if e, ok := mustGet(t, b, ns, key); ok {
		t.Fatalf("Get(%q, %q) = hit %q, want miss", ns, key, e.Value)
	}
}

func stats(t *testing.T, b cache.Backend, ns string) cache.NamespaceStats {
	t.Helper()
	st, err := b.Stats(t.Context(), ns)
	if err != nil {
		t.Fatalf("Stats(%q): %v", ns, err)
	}
	if len(st) != 1 || st[0].Namespace != ns {
		t.Fatalf("Stats(%q) = %+v, want one row for it", ns, st)
	}
	return st[0]
}

// eventually polls cond until it holds or the wait is over.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testGetSetDelete(t *testing.T, b cache.Backend) {
	ns := "conf.basic"
	wantMiss(t, b, ns, "k")
	e := entry("k", "v1", "text/plain", time.Minute)
	mustSet(t, b, ns, e)
	got := wantHit(t, b, ns, "k", "v1", "text/plain")
	// A shared backend reports the time left, measured on its own clock:
	// the expiry read back may be off by the round trip.
	if d := got.ExpireTime.Sub(e.ExpireTime); d < -time.Second || d > time.Second {
		t.Errorf("ExpireTime = %v, want %v (within 1s)", got.ExpireTime, e.ExpireTime)
	}
	// Replacing changes value, content type and expiry.
	e2 := entry("k", "v2", "", 2*time.Minute)
	mustSet(t, b, ns, e2)
	got = wantHit(t, b, ns, "k", "v2", "")
	if got.ExpireTime.Before(e.ExpireTime.Add(30 * time.Second)) {
		t.Errorf("ExpireTime after replace = %v, want about %v", got.ExpireTime, e2.ExpireTime)
	}
	// An empty value is a hit; keys may hold any UTF-8, NUL and glob
	// characters included.
	for _, k := range []string{"empty", "a\x00b", "ключ:*?[x]\\", "ns:other"} {
		mustSet(t, b, ns, entry(k, "", "", time.Minute))
		wantHit(t, b, ns, k, "", "")
	}
	found, err := b.Delete(t.Context(), ns, "k")
	if err != nil || !found {
		t.Fatalf("Delete = (%v, %v), want (true, nil)", found, err)
	}
	wantMiss(t, b, ns, "k")
	found, err = b.Delete(t.Context(), ns, "k")
	if err != nil || found {
		t.Fatalf("Delete absent = (%v, %v), want (false, nil)", found, err)
	}
	// The stored value does not alias the caller's slice.
	buf := []byte("orig")
	mustSet(t, b, ns, cache.Entry{Key: "alias", Value: buf, ExpireTime: time.Now().Add(time.Minute)})
	copy(buf, "XXXX")
	wantHit(t, b, ns, "alias", "orig", "")
}

func testGetMany(t *testing.T, b cache.Backend) {
	ns := "conf.many"
	for _, k := range []string{"a", "c", "e"} {
		mustSet(t, b, ns, entry(k, "v-"+k, "ct/"+k, time.Minute))
	}
	got, err := b.GetMany(t.Context(), ns, []string{"e", "b", "a", "d", "c"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range got {
		if string(e.Value) != "v-"+e.Key || e.ContentType != "ct/"+e.Key {
			t.Errorf("entry %q = (%q, %q), want (%q, %q)", e.Key, e.Value, e.ContentType, "v-"+e.Key, "ct/"+e.Key)
		}
		keys = append(keys, e.Key)
	}
	if fmt.Sprint(keys) != "[e a c]" {
		t.Errorf("GetMany hits = %v, want [e a c] (request order)", keys)
	}
	st := stats(t, b, ns)
	if st.Hits != 3 || st.Misses != 2 {
		t.Errorf("hits, misses = %d, %d; want 3, 2", st.Hits, st.Misses)
	}
}

func testNamespaceIsolation(t *testing.T, b cache.Backend) {
	mustSet(t, b, "conf.a", entry("k", "in-a", "", time.Minute))
	mustSet(t, b, "conf.b", entry("k", "in-b", "", time.Minute))
	mustSet(t, b, "conf.a-b", entry("k", "in-a-b", "", time.Minute))
	wantHit(t, b, "conf.a", "k", "in-a", "")
	wantHit(t, b, "conf.b", "k", "in-b", "")
	if _, err := b.Delete(t.Context(), "conf.a", "k"); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, b, "conf.a", "k")
	wantHit(t, b, "conf.b", "k", "in-b", "")
	mustSet(t, b, "conf.a", entry("k", "in-a", "", time.Minute))
	if n, err := b.Invalidate(t.Context(), "conf.a", ""); err != nil || n != 1 {
		t.Fatalf("Invalidate all of conf.a = (%d, %v), want (1, nil)", n, err)
	}
	wantHit(t, b, "conf.b", "k", "in-b", "")
	wantHit(t, b, "conf.a-b", "k", "in-a-b", "")
	if st := stats(t, b, "conf.b"); st.Entries != 1 || st.Bytes != uint64(len("k")+len("in-b")) {
		t.Errorf("conf.b entries, bytes = %d, %d; want 1, %d", st.Entries, st.Bytes, len("k")+len("in-b"))
	}
}

func testInvalidatePrefix(t *testing.T, b cache.Backend) {
	ns := "conf.prefix"
	keys := []string{"user:1", "user:2", "user:10:x", "user", "usr:1", "a*b", "a*", "axb", "a?", "[x]y", "\\z"}
	for _, k := range keys {
		mustSet(t, b, ns, entry(k, "v", "", time.Minute))
	}
	mustSet(t, b, "conf.prefix2", entry("user:1", "v", "", time.Minute))
	tests := []struct {
		prefix string
		want   uint64
		gone   []string
	}{
		{"user:", 3, []string{"user:1", "user:2", "user:10:x"}},
		{"a*", 2, []string{"a*b", "a*"}}, // "*" is literal: "axb" stays
		{"a?", 1, []string{"a?"}},
		{"[x]", 1, []string{"[x]y"}},
		{"\\", 1, []string{"\\z"}},
		{"nothing", 0, nil},
	}
	for _, tt := range tests {
		n, err := b.Invalidate(t.Context(), ns, tt.prefix)
		if err != nil || n != tt.want {
			t.Errorf("Invalidate(%q) = (%d, %v), want (%d, nil)", tt.prefix, n, err, tt.want)
		}
		for _, k := range tt.gone {
			wantMiss(t, b, ns, k)
		}
	}
	for _, k := range []string{"user", "usr:1", "axb"} {
		wantHit(t, b, ns, k, "v", "")
	}
	wantHit(t, b, "conf.prefix2", "user:1", "v", "")
	// Entries written after Invalidate returns are kept.
	mustSet(t, b, ns, entry("user:1", "again", "", time.Minute))
	wantHit(t, b, ns, "user:1", "again", "")
}

func testInvalidateAll(t *testing.T, b cache.Backend) {
	ns := "conf.all"
	for i := range 50 {
		mustSet(t, b, ns, entry(fmt.Sprintf("k%02d", i), "value", "", time.Minute))
	}
	n, err := b.Invalidate(t.Context(), ns, "")
	if err != nil || n != 50 {
		t.Fatalf("Invalidate all = (%d, %v), want (50, nil)", n, err)
	}
	wantMiss(t, b, ns, "k07")
	if st := stats(t, b, ns); st.Entries != 0 || st.Bytes != 0 {
		t.Errorf("after Invalidate all: entries, bytes = %d, %d; want 0, 0", st.Entries, st.Bytes)
	}
	if n, err := b.Invalidate(t.Context(), ns, ""); err != nil || n != 0 {
		t.Fatalf("Invalidate all again = (%d, %v), want (0, nil)", n, err)
	}
}

func testExpiry(t *testing.T, b cache.Backend) {
	ns := "conf.ttl"
	mustSet(t, b, ns, entry("short", "v", "", 200*time.Millisecond))
	mustSet(t, b, ns, entry("long", "v", "", time.Minute))
	eventually(t, "short entry expires", func() bool {
		_, ok := mustGet(t, b, ns, "short")
		return !ok
	})
	wantHit(t, b, ns, "long", "v", "")
	eventually(t, "expired entry leaves the stats", func() bool {
		st := stats(t, b, ns)
		return st.Entries == 1 && st.Bytes == uint64(len("long")+1)
	})
	if found, err := b.Delete(t.Context(), ns, "short"); err != nil || found {
		t.Errorf("Delete expired = (%v, %v), want (false, nil)", found, err)
	}
	if st := stats(t, b, ns); st.Evictions != 0 {
		t.Errorf("evictions = %d, want 0: expiry is not an eviction", st.Evictions)
	}
}

func testNamespaceLimit(t *testing.T, b cache.Backend) {
	ns := "conf.limit"
	const limit = 100
	val := func(n int) string { return string(bytes.Repeat([]byte{'x'}, n)) }
	set := func(key string, n int) error {
		return b.Set(t.Context(), ns, entry(key, val(n), "", time.Minute), limit)
	}
	if err := set("a", 59); err != nil { // 60 bytes
		t.Fatalf("first Set: %v", err)
	}
	if err := set("b", 59); !errors.Is(err, cache.ErrNamespaceFull) {
		t.Fatalf("Set over the limit = %v, want ErrNamespaceFull", err)
	}
	wantMiss(t, b, ns, "b")
	// Replacing counts the old entry out: 60 -> 100 fits exactly.
	if err := set("a", 99); err != nil {
		t.Fatalf("replace up to the limit: %v", err)
	}
	// A refused replacement keeps the previous entry.
	if err := set("a", 100); !errors.Is(err, cache.ErrNamespaceFull) {
		t.Fatalf("replace over the limit = %v, want ErrNamespaceFull", err)
	}
	wantHit(t, b, ns, "a", val(99), "")
	// Other namespaces have their own limit.
	if err := b.Set(t.Context(), "conf.limit2", entry("b", val(59), "", time.Minute), limit); err != nil {
		t.Fatalf("Set in another namespace: %v", err)
	}
	if _, err := b.Delete(t.Context(), ns, "a"); err != nil {
		t.Fatal(err)
	}
	if err := set("b", 59); err != nil {
		t.Fatalf("Set after Delete made room: %v", err)
	}
	if st := stats(t, b, ns); st.Bytes != 60 || st.Entries != 1 {
		t.Errorf("entries, bytes = %d, %d; want 1, 60", st.Entries, st.Bytes)
	}
}

func testReclaimExpired(t *testing.T, b cache.Backend) {
	ns := "conf.reclaim"
	const limit = 100
	if err := b.Set(t.Context(), ns, entry("old", string(make([]byte, 57)), "", 200*time.Millisecond), limit); err != nil {
		t.Fatal(err)
	}
	eventually(t, "entry expires", func() bool {
		_, ok := mustGet(t, b, ns, "old")
		return !ok
	})
	// The expired entry's 60 bytes may still be counted by the backend:
	// Set must reclaim them before refusing.
	if err := b.Set(t.Context(), ns, entry("new", string(make([]byte, 57)), "", time.Minute), limit); err != nil {
		t.Fatalf("Set after the only entry expired = %v, want nil", err)
	}
	if st := stats(t, b, ns); st.Bytes != 60 || st.Entries != 1 {
		t.Errorf("entries, bytes = %d, %d; want 1, 60", st.Entries, st.Bytes)
	}
}

func testStats(t *testing.T, b cache.Backend) {
	ns := "conf.stats"
	if st := stats(t, b, "conf.never-used"); st != (cache.NamespaceStats{Namespace: "conf.never-used"}) {
		t.Errorf("unused namespace = %+v, want zero counters", st)
	}
	mustSet(t, b, ns, entry("k1", "12345", "text/plain", time.Minute)) // 17 bytes
	mustSet(t, b, ns, entry("k2", "", "", time.Minute))                // 2 bytes
	wantHit(t, b, ns, "k1", "12345", "text/plain")
	wantHit(t, b, ns, "k1", "12345", "text/plain")
	wantMiss(t, b, ns, "k3")
	st := stats(t, b, ns)
	want := cache.NamespaceStats{Namespace: ns, Hits: 2, Misses: 1, Entries: 2, Bytes: 19}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	mustSet(t, b, ns, entry("k1", "1", "", time.Minute)) // replace: 3 bytes
	if _, err := b.Delete(t.Context(), ns, "k2"); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, b, ns); st.Entries != 1 || st.Bytes != 3 {
		t.Errorf("after replace and delete: entries, bytes = %d, %d; want 1, 3", st.Entries, st.Bytes)
	}
	all, err := b.Stats(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var seen bool
	for _, s := range all {
		if s.Namespace == ns {
			seen = true
		}
	}
	if !seen {
		t.Errorf("Stats(\"\") = %+v, want %q among them", all, ns)
	}
	if rt, err := b.ResetTime(t.Context()); err != nil || rt.IsZero() || rt.After(time.Now().Add(time.Second)) {
		t.Errorf("ResetTime = (%v, %v), want a past time", rt, err)
	}
}

// testConcurrentAccounting writes, replaces and deletes from several
// goroutines, then checks that the namespace's byte and entry counts are
// exactly those of the entries left.
func testConcurrentAccounting(t *testing.T, b cache.Backend) {
	ns := "conf.concurrent"
	const workers, ops, keys = 8, 100, 20
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range ops {
				k := fmt.Sprintf("k%d", (w*7+i)%keys)
				var err error
				switch i % 5 {
				case 4:
					_, err = b.Delete(ctx, ns, k)
				default:
					err = b.Set(ctx, ns, entry(k, string(make([]byte, (w+i)%13)), "", time.Minute), noLimit)
					if err == nil {
						_, _, err = b.Get(ctx, ns, k)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var wantBytes, wantEntries uint64
	for i := range keys {
		if e, ok := mustGet(t, b, ns, fmt.Sprintf("k%d", i)); ok {
			wantBytes += e.Size()
			wantEntries++
		}
	}
	eventually(t, "counters match the live entries", func() bool {
		st := stats(t, b, ns)
		return st.Bytes == wantBytes && st.Entries == wantEntries
	})
}
