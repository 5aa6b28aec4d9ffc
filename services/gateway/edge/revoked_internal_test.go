package edge

import (
	"testing"
	"time"
)

func TestRevokedSessionsBound(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	d := newRevokedSessions(func() time.Time { return now }, 2)
	if d.add("a", now.Add(time.Minute)) || d.add("b", now.Add(3*time.Minute)) {
		t.Fatal("evicted below the bound")
	}
	// Full: the entry expiring first makes room.
	if !d.add("c", now.Add(2*time.Minute)) {
		t.Error("add to a full list: no eviction reported")
	}
	if d.has("a") || !d.has("b") || !d.has("c") || d.len() != 2 {
		t.Errorf("after eviction: a=%v b=%v c=%v len=%d, want a gone", d.has("a"), d.has("b"), d.has("c"), d.len())
	}
	// Expired entries are swept before anything live is evicted.
	now = now.Add(150 * time.Second) // c is past its bound
	if d.add("e", now.Add(time.Minute)) {
		t.Error("evicted a live entry while an expired one could go")
	}
	if !d.has("b") || !d.has("e") || d.has("c") || d.len() != 2 {
		t.Errorf("after sweep: b=%v e=%v c=%v len=%d", d.has("b"), d.has("e"), d.has("c"), d.len())
	}
}
