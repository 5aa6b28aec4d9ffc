// Package integration runs whole-system tests against the streamgate binary
// built from this repository, started as a real process.
package integration

import (
	"encoding/json"
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

// cli runs the streamgate binary against one server with a configuration
// directory, and so a sign-in, of its own.
type cli struct {
	t      *testing.T
	server string
	env    []string
}

func newCLI(t *testing.T, server string) *cli {
	return &cli{t: t, server: server, env: append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "XDG_CACHE_HOME="+t.TempDir())}
}

// run runs `streamgate ARGS --server SERVER` and returns what it printed
// on standard output; a failure ends the test with both outputs.
func (c *cli) run(args ...string) string {
	c.t.Helper()
	cmd := exec.CommandContext(c.t.Context(), streamgateBinary(c.t), append(args, "--server", c.server)...)
	cmd.Env = c.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("streamgate %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// upload runs `streamgate upload ARGS --json` and returns the id of the
// video it created, which the last line names.
func (c *cli) upload(args ...string) string {
	c.t.Helper()
	out := strings.TrimSpace(c.run(append(append([]string{"upload"}, args...), "--json")...))
	var ids struct {
		VideoID string `json:"video_id"`
	}
	if err := json.Unmarshal([]byte(out[strings.LastIndex(out, "\n")+1:]), &ids); err != nil || ids.VideoID == "" {
		c.t.Fatalf("upload --json printed %q (%v), want the ids as JSON on the last line", out, err)
	}
	return ids.VideoID
}
