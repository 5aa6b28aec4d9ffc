package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// MinPartSize is the smallest part S3 accepts in a multipart upload (all
// parts but the last).
const MinPartSize = 5 << 20

// defaultPartSize is the part size of a multipart Put; objects up to it
// are written with one PutObject.
const defaultPartSize = 16 << 20

// abortTimeout bounds the abort of a failed multipart upload, which runs
// even when the Put's context is done.
const abortTimeout = 30 * time.Second

// S3Config configures an S3 store.
type S3Config struct {
	// Bucket holds the objects. Required.
	Bucket string
	// Prefix, when set, is put before every key in the bucket, so one
	// bucket can hold several stores: "media" stores key "a/b" as
	// "media/a/b". A trailing slash is added if missing.
	Prefix string
	// PartSize is the size of the parts of a multipart upload, at least
	// MinPartSize; objects up to it are written with one request.
	// Default 16 MiB. Each Put in flight holds up to one part in memory.
	PartSize int64
	// ListPageSize is the number of keys List asks for per page, at most
	// 1000 (S3's maximum and the default).
	ListPageSize int32
}

// S3 is a Store in a bucket of an S3-compatible service. A Put makes the
// object visible only once all of it is stored: a single PutObject, or a
// multipart upload completed after the reader's end and aborted on error.
type S3 struct {
	client   *s3.Client
	bucket   string
	prefix   string
	partSize int64
	pageSize int32
}

var _ Store = (*S3)(nil)

// NewS3 returns a store in cfg.Bucket through client. It does not contact
// the service; Open does (HeadBucket).
func NewS3(client *s3.Client, cfg S3Config) (*S3, error) {
	if client == nil {
		return nil, errors.New("blob: s3: nil client")
	}
	if cfg.Bucket == "" {
		return nil, errors.New("blob: s3: empty bucket name")
	}
	prefix := strings.TrimSuffix(cfg.Prefix, "/")
	if prefix != "" {
		if err := ValidateKey(prefix); err != nil {
			return nil, fmt.Errorf("blob: s3: prefix: %w", err)
		}
		prefix += "/"
	}
	switch {
	case cfg.PartSize == 0:
		cfg.PartSize = defaultPartSize
	case cfg.PartSize < MinPartSize:
		return nil, fmt.Errorf("blob: s3: part size %d is below S3's minimum of %d", cfg.PartSize, MinPartSize)
	}
	if cfg.ListPageSize < 0 || cfg.ListPageSize > 1000 {
		return nil, fmt.Errorf("blob: s3: list page size %d is not in [1, 1000]", cfg.ListPageSize)
	}
	return &S3{client: client, bucket: cfg.Bucket, prefix: prefix, partSize: cfg.PartSize, pageSize: cfg.ListPageSize}, nil
}

// Bucket is the store's bucket.
func (s *S3) Bucket() string { return s.bucket }

// Prefix is what the store puts before every key ("" or ending in a slash).
func (s *S3) Prefix() string { return s.prefix }

// Client is the SDK client the store talks through, for a component that
// keeps objects of its own in the same bucket beside the store's (upload's
// tus partial uploads, under Prefix()+"tus/").
func (s *S3) Client() *s3.Client { return s.client }

func (s *S3) objectKey(key string) *string { return aws.String(s.prefix + key) }

// mapErr turns a missing object into ErrNotFound; other errors keep their
// cause (a missing bucket is a configuration error, not a missing object).
func (s *S3) mapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	if isNotFound(err) {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return fmt.Errorf("blob: s3 %s %s: %w", op, key, err)
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		}
	}
	return false
}

func isInvalidRange(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "InvalidRange"
}

// Put stores r under key: with one PutObject when r ends within the part
// size, else as a multipart upload that is completed only after r's end
// and aborted on any error, so a failed Put leaves no object behind and
// never replaces the old one.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r = ctxReader{ctx: ctx, r: r}
	first, err := readPart(r, s.partSize, nil)
	if err != nil {
		return 0, fmt.Errorf("blob: s3 put %s: %w", key, err)
	}
	if int64(len(first)) < s.partSize {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(s.bucket),
			Key:           s.objectKey(key),
			Body:          bytes.NewReader(first),
			ContentLength: aws.Int64(int64(len(first))),
		})
		if err != nil {
			return 0, s.mapErr("put", key, err)
		}
		return int64(len(first)), nil
	}
	return s.putMultipart(ctx, key, r, first)
}

// readPart reads up to size bytes of r into buf (reused), stopping early
// only at r's end.
func readPart(r io.Reader, size int64, buf []byte) ([]byte, error) {
	b := bytes.NewBuffer(buf[:0])
	_, err := b.ReadFrom(io.LimitReader(r, size))
	return b.Bytes(), err
}

func (s *S3) putMultipart(ctx context.Context, key string, r io.Reader, part []byte) (_ int64, err error) {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket),
		Key:    s.objectKey(key),
	})
	if err != nil {
		return 0, s.mapErr("put", key, err)
	}
	defer func() {
		if err == nil {
			return
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if _, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: s.objectKey(key), UploadId: up.UploadId,
		}); aerr != nil {
			err = fmt.Errorf("%w (and aborting the multipart upload %s failed: %v)", err, aws.ToString(up.UploadId), aerr)
		}
	}()
	var parts []types.CompletedPart
	var total int64
	for num := int32(1); ; num++ {
		if num > 10000 {
			return 0, fmt.Errorf("blob: s3 put %s: more than 10000 parts of %d bytes", key, s.partSize)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        aws.String(s.bucket),
			Key:           s.objectKey(key),
			UploadId:      up.UploadId,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(part),
			ContentLength: aws.Int64(int64(len(part))),
		})
		if err != nil {
			return 0, s.mapErr("put", key, err)
		}
		parts = append(parts, types.CompletedPart{
			ETag: out.ETag, PartNumber: aws.Int32(num),
			ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C,
			ChecksumCRC64NVME: out.ChecksumCRC64NVME,
			ChecksumSHA1:      out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256,
		})
		total += int64(len(part))
		if int64(len(part)) < s.partSize {
			break
		}
		if part, err = readPart(r, s.partSize, part); err != nil {
			return 0, fmt.Errorf("blob: s3 put %s: %w", key, err)
		}
		if len(part) == 0 {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             s.objectKey(key),
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return 0, s.mapErr("put", key, err)
	}
	return total, nil
}

// Get opens the object.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.GetRange(ctx, key, 0, -1)
}

// GetRange opens n bytes from off (n < 0: to the end). A range starting at
// or past the end is empty, as with Local.
func (s *S3) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("blob: negative offset %d", off)
	}
	if n == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)}
	switch {
	case n > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if isInvalidRange(err) {
			// The range starts at or past the end (or the object is
			// empty): an empty read, once the object is known to exist.
			if _, serr := s.Stat(ctx, key); serr != nil {
				return nil, serr
			}
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, s.mapErr("get", key, err)
	}
	return out.Body, nil
}

// Stat describes the object.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)})
	if err != nil {
		return Info{}, s.mapErr("stat", key, err)
	}
	return Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Delete removes the object; a missing object is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)})
	if err != nil && !isNotFound(err) {
		return s.mapErr("delete", key, err)
	}
	return nil
}

// List returns the objects whose keys start with prefix, sorted by key,
// reading every page. Objects under the store's prefix whose rest is not a
// valid key (written by other tools, such as "dir/" markers) are skipped.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	var out []Info
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	}, func(o *s3.ListObjectsV2PaginatorOptions) {
		if s.pageSize > 0 {
			o.Limit = s.pageSize
		}
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("blob: s3 list %q: %w", prefix, err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || ValidateKey(key) != nil {
				continue
			}
			out = append(out, Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
