// Package integration runs whole-system tests against the streamgate binary
// built from this repository, started as a real process.
package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// streamgateBinary builds cmd/streamgate once per test binary run.
func streamgateBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "streamgate-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "streamgate")
		// Build from the repository root, as a user would, in whatever
		// workspace mode the test runs in.
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/streamgate")
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = &buildError{out: string(out), err: err}
		}
	})
	if binErr != nil {
		t.Fatalf("building streamgate: %v", binErr)
	}
	return binPath
}

func TestVersion(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), streamgateBinary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("streamgate version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "streamgate ") {
		t.Errorf("streamgate version printed %q, want a line starting with %q", out, "streamgate ")
	}
}
