// Package s3test starts a throwaway S3 server for tests: versitygw (an S3
// gateway over a directory, installed by scripts/install-versitygw.sh) on
// loopback, its data under t.TempDir(), one bucket created, stopped when
// the test ends.
package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// startTimeout bounds the wait for the server to accept the bucket.
const startTimeout = 30 * time.Second

const (
	accessKey = "s3test-access"
	secretKey = "s3test-secret-key"
	region    = "us-east-1"
	bucket    = "streamgate-test"
)

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
}

// URL is the blob.Open URL of a store in the bucket under prefix ("" for
// the bucket's root). Credentials are not in it: call SetEnv.
func (s *Server) URL(prefix string) string {
	q := url.Values{"endpoint": {s.Endpoint}, "region": {s.Region}, "path_style": {"true"}}
	u := url.URL{Scheme: "s3", Host: s.Bucket, Path: "/" + prefix, RawQuery: q.Encode()}
	return u.String()
}

// SetEnv points the standard AWS credential chain at this server's
// credentials for the rest of the test (t.Setenv: not for parallel tests),
// with the shared config files and the instance metadata service out of
// the way.
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", s.Region)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Client is an SDK client for the server (path-style, static credentials).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// Binary finds versitygw on PATH or in GOPATH/bin.
func Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(gp, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("versitygw is neither on PATH nor in GOPATH/bin")
}

// Start runs versitygw on 127.0.0.1 and a free port and creates the
// bucket. A missing binary fails the test (it never skips): run
// scripts/install-versitygw.sh (make tools does).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("s3test: %v: run scripts/install-versitygw.sh", err)
	}
	var lastErr error
	for range 3 { // a free port may be taken between probe and bind
		port, err := freePort()
		if err != nil {
			t.Fatalf("s3test: %v", err)
		}
		srv, err := start(t, bin, t.TempDir(), port)
		if err == nil {
			return srv
		}
		lastErr = err
	}
	t.Fatalf("s3test: %v", lastErr)
	return nil
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t testing.TB, bin, dir string, port int) (*Server, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--port", addr, "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+accessKey, "ROOT_SECRET_KEY="+secretKey)
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cancel()
		<-exited
	}
	srv := &Server{
		Endpoint: "http://" + addr, Bucket: bucket, Region: region,
		AccessKey: accessKey, SecretKey: secretKey, Dir: dir,
	}
	client := srv.Client()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case err := <-exited:
			cancel()
			return nil, fmt.Errorf("versitygw exited (%v): %s", err, out.String())
		default:
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.CreateBucket(cctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		ccancel()
		var owned *types.BucketAlreadyOwnedByYou
		if err == nil || errors.As(err, &owned) { // owned: an earlier try timed out after creating it
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("versitygw on %s did not create a bucket within %v (%v): %s", addr, startTimeout, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(stop)
	return srv, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
