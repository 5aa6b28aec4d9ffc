// Package s3test starts a throwaway S3 server for tests: versitygw (an S3
// gateway over a directory, installed by scripts/install-versitygw.sh,
// run through internal/devengine) on loopback, its data under t.TempDir(),
// one bucket created, stopped when the test ends.
package s3test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/streamgate/streamgate/internal/devengine"
)

// startTimeout bounds the wait for the server to accept the bucket.
const startTimeout = 30 * time.Second

const bucket = "streamgate-test"

// Server is a running versitygw with one bucket.
type Server struct {
	// Endpoint is http://127.0.0.1:port.
	Endpoint string
	// Bucket exists and is empty at the start.
	Bucket string
	// Region, AccessKey and SecretKey are what clients sign with.
	Region, AccessKey, SecretKey string
	// Dir is the directory versitygw serves (one folder per bucket).
	Dir string
	s3  *devengine.S3
}

// URL is the blob.Open URL of a store in the bucket under prefix ("" for
// the bucket's root). Credentials are not in it: call SetEnv.
func (s *Server) URL(prefix string) string { return s.s3.URL(prefix) }

// SetEnv points the standard AWS credential chain at this server's
// credentials for the rest of the test (t.Setenv: not for parallel tests),
// with the shared config files and the instance metadata service out of
// the way.
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.s3.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Client is an SDK client for the server (path-style, static credentials).
func (s *Server) Client() *s3.Client { return s.s3.Client() }

// Binary finds versitygw on PATH or in GOPATH/bin.
func Binary() (string, error) { return devengine.S3Binary() }

// Start runs versitygw on 127.0.0.1 and a free port and creates the
// bucket. A missing binary fails the test (it never skips): run
// scripts/install-versitygw.sh (make tools does).
func Start(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := devengine.StartS3(ctx, t.TempDir(), bucket)
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("s3test: %v", err)
		}
	})
	return &Server{
		Endpoint: s.Endpoint, Bucket: s.Bucket, Region: s.Region,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		Dir: filepath.Join(s.Dir, "data"), s3: s,
	}
}
