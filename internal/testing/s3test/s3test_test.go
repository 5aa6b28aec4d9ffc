package s3test_test

import (
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/streamgate/streamgate/internal/testing/s3test"
)

func TestStart(t *testing.T) {
	srv := s3test.Start(t)
	ctx := t.Context()
	c := srv.Client()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String("a/b"), Body: strings.NewReader("hello"),
	}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("a/b"), Range: aws.String("bytes=1-3")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil || string(b) != "ell" {
		t.Errorf("ranged GetObject = %q, %v; want %q", b, err, "ell")
	}
	if got, want := srv.URL("media"), "s3://streamgate-test/media?endpoint=http%3A%2F%2F"; !strings.HasPrefix(got, want) {
		t.Errorf("URL = %s, want it to start with %s", got, want)
	}
}
