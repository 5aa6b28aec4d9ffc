package secretfile_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/internal/secretfile"
)

func TestMode(t *testing.T) {
	const me, other = 65532, 1000
	for _, c := range []struct {
		perm      fs.FileMode
		uid, euid uint32
		refused   string // in the error; empty when the file is accepted
	}{
		{0o600, me, me, ""},
		{0o400, me, me, ""},
		{0o640, me, me, "chmod 600"},
		{0o620, me, me, "chmod 600"},
		{0o604, me, me, "chmod 600"},
		// A Kubernetes Secret volume with fsGroup: root, the pod's group, 0440.
		{0o440, 0, me, ""},
		{0o640, 0, me, ""},
		{0o600, 0, me, ""},
		{0o660, 0, me, "chmod 600"},
		{0o650, 0, me, "chmod 600"},
		{0o644, 0, me, "chmod 600"},
		{0o444, 0, me, "chmod 600"},
		// Root reading its own file: the root rule.
		{0o640, 0, 0, ""},
		{0o644, 0, 0, "chmod 600"},
		// Another user's file, however strict, could be swapped by them.
		{0o600, other, me, "belongs to user 1000"},
		{0o400, other, 0, "belongs to user 1000"},
	} {
		err := secretfile.Mode("kek", c.perm, c.uid, c.euid)
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("Mode(%04o, uid %d, euid %d) = %v, want accepted", c.perm, c.uid, c.euid, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)):
			t.Errorf("Mode(%04o, uid %d, euid %d) = %v, want a refusal saying %q", c.perm, c.uid, c.euid, err, c.refused)
		}
	}
}

// TestReadChecksTheFile reads real files: the mode and owner checked are
// the open file's, through a symbolic link as Kubernetes mounts them.
func TestReadChecksTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "..data-kek")
	if err := os.WriteFile(path, []byte("secret\n"), 0o604); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "kek")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := secretfile.Read(link); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Read of a world-readable file: %v, want a refusal", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := secretfile.Read(link); err != nil || string(b) != "secret\n" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := secretfile.Read(link)
	if root := os.Geteuid() == 0; root != (err == nil) {
		t.Fatalf("Read of a group-readable file owned by uid %d: %v; want it accepted only when that owner is root", os.Geteuid(), err)
	}
	if _, err := secretfile.Read(dir); err == nil {
		t.Fatal("Read of a directory succeeded")
	}
}
