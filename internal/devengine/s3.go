package devengine

import (
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
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The fixed credentials and region of local S3 servers.
const (
	s3AccessKey = "streamgate-dev-access"
	s3SecretKey = "streamgate-dev-secret-key"
	s3Region    = "us-east-1"
)

// S3 is a running versitygw: an S3 gateway over a directory, with one
// bucket.
type S3 struct {
	// Endpoint is http://127.0.0.1:port.
	Endpoint string
	// Bucket exists.
	Bucket string
	// Region, AccessKey and SecretKey are what clients sign with.
	Region, AccessKey, SecretKey string
	// Dir holds the log and, in Dir/data, the served data (one folder per
	// bucket).
	Dir string
	p   *proc
}

// S3Binary finds versitygw on PATH or in GOPATH/bin.
func S3Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(gp, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("versitygw is neither on PATH nor in GOPATH/bin: run scripts/install-versitygw.sh")
}

// StartS3 starts versitygw serving dir/data on 127.0.0.1 and a free port,
// and creates bucket unless it exists (a restart on the same dir keeps the
// objects).
func StartS3(ctx context.Context, dir, bucket string) (*S3, error) {
	if n := len(bucket); n < 3 || n > 63 {
		return nil, fmt.Errorf("versitygw: bucket name %q: S3 wants 3 to 63 characters", bucket)
	}
	bin, err := S3Binary()
	if err != nil {
		return nil, err
	}
	dir, err = mkdir(dir)
	if err != nil {
		return nil, fmt.Errorf("versitygw: %w", err)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, fmt.Errorf("versitygw: %w", err)
	}
	var lastErr error
	for range portTries {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("versitygw: %w", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin, "--port", addr, "posix", data)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s3AccessKey, "ROOT_SECRET_KEY="+s3SecretKey)
		cmd.Dir = dir
		p, err := startProc("versitygw", cmd, filepath.Join(dir, LogFile), syscall.SIGTERM, nil)
		if err != nil {
			return nil, err
		}
		s := &S3{
			Endpoint: "http://" + addr, Bucket: bucket, Region: s3Region,
			AccessKey: s3AccessKey, SecretKey: s3SecretKey, Dir: dir, p: p,
		}
		client := s.Client()
		err = p.waitReady(ctx, func(ctx context.Context) error {
			_, cerr := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
			if cerr == nil {
				return nil
			}
			// It exists already (a restart, or an earlier try that timed
			// out after creating it) if we can head it.
			if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
				return fmt.Errorf("create bucket: %v; head bucket: %w", cerr, err)
			}
			return nil
		})
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, lastErr
}

// URL is the blob.Open URL of a store in the bucket under prefix ("" for
// the bucket's root). Credentials are not in it: see Env.
func (s *S3) URL(prefix string) string {
	q := url.Values{"endpoint": {s.Endpoint}, "region": {s.Region}, "path_style": {"true"}}
	u := url.URL{Scheme: "s3", Host: s.Bucket, Path: "/" + prefix, RawQuery: q.Encode()}
	return u.String()
}

// Env is the environment (KEY=value) that points the standard AWS
// credential chain of a child process at this server's credentials, with
// the shared config files and the instance metadata service out of the
// way. Append it to os.Environ(): later entries win.
func (s *S3) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_REGION=" + s.Region,
		// Files that do not exist: no developer's ~/.aws gets in.
		"AWS_CONFIG_FILE=" + filepath.Join(s.Dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(s.Dir, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Client is an SDK client for the server (path-style, static credentials).
func (s *S3) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// Done is closed when the server has exited.
func (s *S3) Done() <-chan struct{} { return s.p.done }

// Stop stops the server (SIGTERM) and waits for it to exit, killing it if
// it takes too long. It returns the same result when called again.
func (s *S3) Stop() error { return s.p.stop() }
