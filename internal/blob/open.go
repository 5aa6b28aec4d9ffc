package blob

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// openTimeout bounds Open's reachability check.
const openTimeout = 20 * time.Second

// defaultRegion is used for S3 when neither the URL nor the AWS
// configuration names one (S3-compatible services mostly ignore it).
const defaultRegion = "us-east-1"

// Open returns the store a URL names and checks that it is reachable:
//
//   - "file:///abs/dir", or a bare path: Local in that directory (created
//     if missing).
//   - "s3://bucket[/prefix][?endpoint=http://host:port&region=us-east-1&path_style=true&part_size=16777216]":
//     S3 in that bucket, keys under the prefix. Credentials and, unless
//     given, the region come from the standard AWS chain (AWS_ACCESS_KEY_ID
//     and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared config files,
//     web identity, the instance role); never from the URL. endpoint is
//     for S3-compatible services (MinIO, versitygw, Ceph), which mostly
//     need path_style=true. Open sends HeadBucket and fails if the bucket
//     cannot be reached.
//
// The caller closes the store when it is an io.Closer (Local).
func Open(ctx context.Context, rawURL string) (Store, error) {
	if rawURL == "" {
		return nil, errors.New("blob: empty store URL")
	}
	if !strings.Contains(rawURL, "://") {
		return NewLocal(rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the URL, which may hold a secret: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("blob: store URL: %w", err)
	}
	if u.User != nil {
		return nil, fmt.Errorf("blob: store URL %s: credentials do not belong in the URL; use the AWS environment or shared config", redact(u))
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("blob: store URL %s: a file URL names a local directory (file:///abs/dir)", redact(u))
		}
		if u.Path == "" || u.RawQuery != "" {
			return nil, fmt.Errorf("blob: store URL %s: want file:///abs/dir", redact(u))
		}
		return NewLocal(u.Path)
	case "s3":
		return openS3(ctx, u)
	default:
		return nil, fmt.Errorf("blob: store URL %s: unknown scheme %q (want file:// or s3://)", redact(u), u.Scheme)
	}
}

// redact is the URL without user info, for errors and logs.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func openS3(ctx context.Context, u *url.URL) (*S3, error) {
	name := redact(u)
	if u.Host == "" {
		return nil, fmt.Errorf("blob: store URL %s: no bucket (want s3://bucket[/prefix])", name)
	}
	cfg := S3Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	var endpoint, region string
	var pathStyle bool
	for k, vs := range u.Query() {
		if len(vs) != 1 {
			return nil, fmt.Errorf("blob: store URL %s: %s given %d times", name, k, len(vs))
		}
		v := vs[0]
		switch k {
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.User != nil {
				return nil, fmt.Errorf("blob: store URL %s: endpoint must be http(s)://host[:port]", name)
			}
			endpoint = v
		case "region":
			region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("blob: store URL %s: path_style: %w", name, err)
			}
			pathStyle = b
		case "part_size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("blob: store URL %s: part_size: %w", name, err)
			}
			cfg.PartSize = n
		default:
			return nil, fmt.Errorf("blob: store URL %s: unknown parameter %q (known: endpoint, region, path_style, part_size)", name, k)
		}
	}
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob: store %s: AWS configuration: %w", name, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = defaultRegion
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
		// Checksums only where S3 requires them: several S3-compatible
		// services refuse the SDK's default trailing checksums. SigV4
		// still signs every payload.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	store, err := NewS3(client, cfg)
	if err != nil {
		return nil, fmt.Errorf("blob: store URL %s: %w", name, err)
	}
	hctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if _, err := client.HeadBucket(hctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		return nil, fmt.Errorf("blob: store %s is not reachable (HeadBucket): %w", name, err)
	}
	return store, nil
}
