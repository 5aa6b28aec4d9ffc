package video_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/internal/video"
)

func TestCheckID(t *testing.T) {
	tests := []struct {
		name, id string
		ok       bool
	}{
		{"issued", "vid_01J9Z3K6Q4W8N2M5R7T0V1X3Y5", true},
		{"shortest", "vid_1", true},
		{"longest", "vid_" + strings.Repeat("a", 60), true},
		{"every allowed byte", "vid_AZaz09_-", true},
		{"empty", "", false},
		{"prefix only", "vid_", false},
		{"no prefix", "v1", false},
		{"other prefix", "job_01J9Z3K6Q4W8N2M5R7T0V1X3Y5", false},
		{"upper-case prefix", "VID_x", false},
		{"prefix without underscore", "vid1", false},
		{"overlong", "vid_" + strings.Repeat("a", 61), false},
		{"very long", strings.Repeat("vid_", 1000), false},
		{"parent", "../", false},
		{"parent after prefix", "vid_../x", false},
		{"dot dot", "vid_..", false},
		{"dot", "vid_a.b", false},
		{"slash", "vid_a/b", false},
		{"backslash", `vid_a\b`, false},
		{"percent-encoded slash", "vid_a%2Fb", false},
		{"NUL", "vid_a\x00", false},
		{"newline", "vid_a\n", false},
		{"unicode letter", "vid_é", false},
		{"fullwidth digit", "vid_１", false},
		{"invalid UTF-8", "vid_\xff", false},
		{"leading space", " vid_1", false},
		{"trailing space", "vid_1 ", false},
		{"inner space", "vid_a b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := video.CheckID(tt.id)
			if tt.ok {
				if err != nil {
					t.Errorf("CheckID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if !errors.Is(err, video.ErrInvalidID) {
				t.Errorf("CheckID(%q) = %v, want an error wrapping ErrInvalidID", tt.id, err)
			}
		})
	}
}

func TestCheckIDMessageNamesTheRule(t *testing.T) {
	err := video.CheckID("v1")
	if err == nil || !strings.Contains(err.Error(), `"vid_" followed by 1 to 60`) {
		t.Errorf("CheckID(\"v1\") = %v, want the rule in the message", err)
	}
	long := strings.Repeat("x", 10000)
	if err := video.CheckID(long); err == nil || len(err.Error()) > 200 {
		t.Errorf("CheckID(10000 bytes) = %.300v, want a short error", err)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := video.NewID()
		if err := video.CheckID(id); err != nil {
			t.Fatalf("NewID() = %q: %v", id, err)
		}
		if len(id) != 30 || !strings.HasPrefix(id, video.IDPrefix) {
			t.Fatalf("NewID() = %q, want %q and a 26-character ULID", id, video.IDPrefix)
		}
		if seen[id] {
			t.Fatalf("NewID() returned %q twice", id)
		}
		seen[id] = true
	}
}

func FuzzCheckID(f *testing.F) {
	for _, s := range []string{"vid_1", "vid_../x", "vid_a/b", "", "VID_x", " vid_1", "vid_\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if video.CheckID(id) != nil {
			return
		}
		// Whatever passes is one harmless path component.
		if len(id) > video.MaxIDLen || !strings.HasPrefix(id, video.IDPrefix) ||
			strings.ContainsAny(id, "/\\.% \x00") || strings.Trim(id, "\t\n\r ") != id {
			t.Errorf("CheckID(%q) = nil", id)
		}
		for _, r := range id {
			if r >= 0x80 {
				t.Errorf("CheckID(%q) = nil with a non-ASCII rune", id)
			}
		}
	})
}
