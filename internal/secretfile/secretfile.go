// Package secretfile reads files that hold secrets (the key-encryption
// key, the operator tokens), refusing one that other users may read.
package secretfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// MaxSize bounds a secret file: secrets are short, and a bigger file is a
// wrong path.
const MaxSize = 1 << 20

// Read returns the contents of the file at path, after checking that only
// its owner may read or write it: a file with any group or other
// permission bit (0o077) is refused with a message saying how to fix it.
// The check runs on the open file, so the file read is the file checked.
// Symbolic links are followed (Kubernetes mounts secrets through them).
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s holds secrets but its mode %04o lets other users read or write it; run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s is over %d bytes: not a secret file", path, MaxSize)
	}
	return data, nil
}

// Write creates the file at path with mode 0600 holding data, failing
// with an error satisfying errors.Is(err, fs.ErrExist) if it exists. The
// file appears whole (written aside, then linked into place), so two
// processes generating a secret at once never read a partial one: one
// wins, the other reads the winner's.
func Write(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Link(tmp, path)
}
