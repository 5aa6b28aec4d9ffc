package main

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/streamgate/streamgate/internal/secretbox"
	"github.com/streamgate/streamgate/internal/secretfile"
)

// devKEKFile makes <dir>/kek, a new key-encryption key (mode 0600), unless
// it exists, and returns its path: dev and cluster seal their secrets
// under it across restarts.
func devKEKFile(dir string) (string, error) {
	path := filepath.Join(dir, "kek")
	if err := secretfile.Write(path, secretbox.GenerateFile()); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	return path, nil
}
