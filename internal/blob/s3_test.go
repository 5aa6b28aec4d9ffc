package blob_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/blob/blobtest"
	"github.com/streamgate/streamgate/internal/testing/s3test"
)

// TestS3Conformance runs the suite against a real S3 server, each subtest
// in a store of its own under a prefix of one bucket, opened by URL with
// the credentials from the environment, with the smallest part size S3
// allows so that the suite's big objects go through multipart uploads.
func TestS3Conformance(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	var n atomic.Int64
	blobtest.Run(t, func(t *testing.T) blob.Store {
		url := srv.URL(fmt.Sprintf("suite/%d", n.Add(1))) + fmt.Sprintf("&part_size=%d", blob.MinPartSize)
		s, err := blob.Open(t.Context(), url)
		if err != nil {
			t.Fatalf("Open(%s): %v", url, err)
		}
		if _, ok := s.(*blob.S3); !ok {
			t.Fatalf("Open(%s) = %T, want *blob.S3", url, s)
		}
		return s
	})
	// No multipart upload is left behind by the failed and cancelled Puts.
	out, err := srv.Client().ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range out.Uploads {
		t.Errorf("multipart upload left behind: %s (%s)", aws.ToString(u.Key), aws.ToString(u.UploadId))
	}
}

func TestS3PrefixAndPaging(t *testing.T) {
	srv := s3test.Start(t)
	ctx := t.Context()
	client := srv.Client()
	a, err := blob.NewS3(client, blob.S3Config{Bucket: srv.Bucket, Prefix: "media/", ListPageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := blob.NewS3(client, blob.S3Config{Bucket: srv.Bucket, Prefix: "media2"})
	if err != nil {
		t.Fatal(err)
	}
	root, err := blob.NewS3(client, blob.S3Config{Bucket: srv.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 7 {
		key := fmt.Sprintf("v/%d", i)
		want = append(want, key)
		if _, err := a.Put(ctx, key, strings.NewReader(key)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Put(ctx, "v/other", strings.NewReader("b")); err != nil {
		t.Fatal(err)
	}
	// A "directory marker" written by another tool is not a valid key.
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("media/v/"), Body: strings.NewReader("")}); err != nil {
		t.Logf("the server refuses a directory marker (%v); skipping that part", err)
	}
	list, err := a.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range list {
		got = append(got, i.Key)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List over pages of 2 = %v, want %v (no other store's keys, no markers)", got, want)
	}
	if info, err := root.Stat(ctx, "media/v/3"); err != nil || info.Size != 3 {
		t.Errorf("the prefixed key in the bucket: Stat = %+v, %v", info, err)
	}
	if _, err := b.Stat(ctx, "v/3"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("a store under media2 sees media's keys: %v", err)
	}
	if _, err := blob.NewS3(client, blob.S3Config{Bucket: srv.Bucket, Prefix: "../x"}); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("NewS3 with prefix ../x = %v, want ErrInvalidKey", err)
	}
	if _, err := blob.NewS3(client, blob.S3Config{Bucket: srv.Bucket, PartSize: 1 << 20}); err == nil {
		t.Error("NewS3 accepted a part size below S3's minimum")
	}
}

func TestOpen(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	ctx := t.Context()
	dir := t.TempDir()

	for _, url := range []string{"file://" + filepath.Join(dir, "a"), filepath.Join(dir, "b"), "file://localhost" + filepath.Join(dir, "c")} {
		s, err := blob.Open(ctx, url)
		if err != nil {
			t.Fatalf("Open(%s): %v", url, err)
		}
		l, ok := s.(*blob.Local)
		if !ok {
			t.Fatalf("Open(%s) = %T, want *blob.Local", url, s)
		}
		l.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err != nil {
		t.Errorf("Open(file://) did not create the directory: %v", err)
	}

	s, err := blob.Open(ctx, srv.URL("open"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "k", strings.NewReader("v")); err != nil {
		t.Fatal(err)
	}
	rc, err := srv.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("open/k")})
	if err != nil {
		t.Fatalf("the object is not under the URL's prefix: %v", err)
	}
	b, _ := io.ReadAll(rc.Body)
	rc.Body.Close()
	if string(b) != "v" {
		t.Errorf("open/k = %q, want v", b)
	}

	for _, tc := range []struct {
		url  string
		want []string // in the error
		not  string   // never in the error
	}{
		{"ftp://host/x", []string{"unknown scheme", "ftp"}, ""},
		{"s3://", []string{"no bucket"}, ""},
		{"s3://AKIAEXAMPLE:topsecret@bucket/x", []string{"credentials do not belong"}, "topsecret"},
		{srv.URL("x") + "&regoin=eu", []string{`unknown parameter "regoin"`}, ""},
		{"s3://bucket?endpoint=ftp://x", []string{"endpoint must be"}, ""},
		{"s3://no-such-bucket?endpoint=" + srv.Endpoint + "&path_style=true", []string{"not reachable", "s3://no-such-bucket"}, srv.SecretKey},
		{"s3://bucket?endpoint=http://127.0.0.1:1&path_style=true", []string{"not reachable", "127.0.0.1:1"}, srv.SecretKey},
		{"file://otherhost/x", []string{"local directory"}, ""},
	} {
		s, err := blob.Open(ctx, tc.url)
		if err == nil {
			t.Errorf("Open(%s) = %T, want an error", tc.url, s)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%s) = %v, want it to mention %q", tc.url, err, w)
			}
		}
		if tc.not != "" && strings.Contains(err.Error(), tc.not) {
			t.Errorf("Open(%s) = %v: the error shows a secret", tc.url, err)
		}
	}
	// Wrong credentials: reachable server, refused request.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := blob.Open(cctx, srv.URL("x")); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("Open with a wrong secret = %v, want a HeadBucket error", err)
	}
}
