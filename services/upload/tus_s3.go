package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/s3store"

	"github.com/streamgate/streamgate/internal/blob"
)

// tusS3Prefix is where, under the media store's prefix, the tus partial
// uploads live when the media store is S3: "<id>" (the multipart upload,
// an object once finished), "<id>.info" and "<id>.part" (the bytes of a
// part still under S3's minimum part size).
const tusS3Prefix = "tus/"

// tusS3PartSize is the size of the multipart upload's parts that the tus
// store aims for (S3 needs at least blob.MinPartSize for all but the last).
// Each PATCH buffers up to one part on local disk before sending it.
const tusS3PartSize = 16 << 20

// tusS3Store is tusd's s3store under the upload service's ids. s3store
// names an upload "<id>+<multipart upload id>", an id S3 chooses; the
// service's tus URLs carry the id it chose at CreateUpload. So this store
// finds the multipart id in the upload's info object (which s3store writes
// at creation and every instance can read) and hands tusd uploads whose
// FileInfo.ID is the service's id.
type tusS3Store struct {
	inner  s3store.S3Store
	client *s3.Client
	bucket string
	prefix string // ends in a slash
}

// newTusS3Store keeps the tus uploads in the media store's bucket, under
// its prefix + tusS3Prefix; tmpDir holds parts on their way to S3.
func newTusS3Store(media *blob.S3, tmpDir string) *tusS3Store {
	prefix := media.Prefix() + tusS3Prefix
	inner := s3store.New(media.Bucket(), media.Client())
	inner.ObjectPrefix = prefix
	inner.MetadataObjectPrefix = prefix
	inner.MinPartSize = blob.MinPartSize
	inner.PreferredPartSize = tusS3PartSize
	inner.MaxBufferedParts = 2
	inner.TemporaryDirectory = tmpDir
	return &tusS3Store{inner: inner, client: media.Client(), bucket: media.Bucket(), prefix: prefix}
}

// UseIn makes the store the composer's core and terminater (the service
// disables concatenation, deferred lengths and downloads).
func (t *tusS3Store) UseIn(c *tusd.StoreComposer) {
	c.UseCore(t)
	c.UseTerminater(t)
}

func (t *tusS3Store) NewUpload(ctx context.Context, info tusd.FileInfo) (tusd.Upload, error) {
	id := info.ID
	if id == "" || strings.Contains(id, "+") {
		return nil, fmt.Errorf("tus s3: upload id %q: the service names every upload", id)
	}
	up, err := t.inner.NewUpload(ctx, info)
	if err != nil {
		return nil, err
	}
	return &tusS3Upload{Upload: up, id: id}, nil
}

func (t *tusS3Store) GetUpload(ctx context.Context, id string) (tusd.Upload, error) {
	if validUploadID(id) != nil {
		return nil, tusd.ErrNotFound
	}
	full, err := t.storedID(ctx, id)
	if err != nil {
		return nil, err
	}
	up, err := t.inner.GetUpload(ctx, full)
	if err != nil {
		return nil, err
	}
	return &tusS3Upload{Upload: up, id: id}, nil
}

// storedID reads s3store's id of upload id ("<id>+<multipart id>") from
// its info object.
func (t *tusS3Store) storedID(ctx context.Context, id string) (string, error) {
	out, err := t.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(t.bucket),
		Key:    aws.String(t.prefix + id + ".info"),
	})
	if err != nil {
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || (errors.As(err, &api) && api.ErrorCode() == "NoSuchKey") {
			return "", tusd.ErrNotFound
		}
		return "", fmt.Errorf("tus s3: read info of %s: %w", id, err)
	}
	defer out.Body.Close()
	var info struct{ ID string }
	if err := json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&info); err != nil {
		return "", fmt.Errorf("tus s3: info of %s: %w", id, err)
	}
	if mp, ok := strings.CutPrefix(info.ID, id+"+"); !ok || mp == "" {
		return "", fmt.Errorf("tus s3: info of %s names upload %q", id, info.ID)
	}
	return info.ID, nil
}

func (t *tusS3Store) AsTerminatableUpload(up tusd.Upload) tusd.TerminatableUpload {
	return t.inner.AsTerminatableUpload(up.(*tusS3Upload).Upload)
}

// tusS3Upload is an s3store upload whose FileInfo carries the service's
// id (tusd's hooks report it; markReceived looks it up).
type tusS3Upload struct {
	tusd.Upload
	id string
}

func (u *tusS3Upload) GetInfo(ctx context.Context) (tusd.FileInfo, error) {
	info, err := u.Upload.GetInfo(ctx)
	info.ID = u.id
	return info, err
}
