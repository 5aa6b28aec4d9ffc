package events

import "testing"

func TestSubjectCovers(t *testing.T) {
	tests := []struct {
		have, want string
		covers     bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{">", "a.b", true},
		{"a.b", "a.*", false},
		{"a.*", "a.*", true},
		{"a.*", "a.>", false},
		{"a.b.c", "a.b", false},
	}
	for _, tt := range tests {
		if got := subjectCovers(tt.have, tt.want); got != tt.covers {
			t.Errorf("subjectCovers(%q, %q) = %t, want %t", tt.have, tt.want, got, tt.covers)
		}
	}
}
