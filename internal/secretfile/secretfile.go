// Package secretfile reads files that hold secrets (the key-encryption
// key, the operator tokens), refusing one that other users may read.
package secretfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// MaxSize bounds a secret file: secrets are short, and a bigger file is a
// wrong path.
const MaxSize = 1 << 20

// Read returns the contents of the file at path, after checking who else
// may read it (Mode). The check runs on the open file, so the file read is
// the file checked. Symbolic links are followed (Kubernetes mounts secrets
// through them).
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
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := Mode(path, fi.Mode().Perm(), st.Uid, uint32(os.Geteuid())); err != nil {
			return nil, err
		}
	} else if err := Mode(path, fi.Mode().Perm(), 1, 1); err != nil { // no owner to compare: the owner-only rule
		return nil, err
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

// Mode says whether the secret file at path, with permissions perm and
// owned by uid, is safe for a process of effective user euid to read, by
// the rule PostgreSQL applies to its TLS key
// (check_ssl_key_file_permissions): a file of the process's own user must
// give no permission to its group or others (0600 or less); a file of
// root may also let its group read it (0640 or less), as a Kubernetes
// Secret volume for a non-root pod is (root, the pod's fsGroup, 0440),
// since root chose who is in that group; a file of any other user is
// refused (that user could swap its contents).
func Mode(path string, perm fs.FileMode, uid, euid uint32) error {
	switch {
	case uid != euid && uid != 0:
		return fmt.Errorf("%s holds secrets but belongs to user %d, neither this process's user (%d) nor root; run: chown %d %s", path, uid, euid, euid, path)
	case uid == 0 && perm&0o037 == 0:
		return nil
	case perm&0o077 != 0:
		return fmt.Errorf("%s holds secrets but its mode %04o lets other users read or write it; run: chmod 600 %s", path, perm, path)
	}
	return nil
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
