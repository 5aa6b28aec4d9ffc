package sqlbind

import "testing"

func TestNumbered(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"", ""},
		{"WHERE a = ?", "WHERE a = $1"},
		{"VALUES (?, ?, ?)", "VALUES ($1, $2, $3)"},
		{"?,?,?,?,?,?,?,?,?,?,?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
	} {
		if got := Numbered(tc.in); got != tc.want {
			t.Errorf("Numbered(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
