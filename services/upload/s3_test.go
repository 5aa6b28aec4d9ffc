package upload

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/testing/s3test"
)

// countingStore counts the reads of the store under it.
type countingStore struct {
	blob.Store
	gets atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *countingStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Store.GetRange(ctx, key, off, n)
}

// TestUploadCompletesOnS3: with the media store on a real S3 server, a
// finished upload is copied there whole, hashed and probed (from the tus
// file it came from: the store is not read back), and the tus files go.
func TestUploadCompletesOnS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	s3, err := blob.Open(t.Context(), srv.URL("media"))
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: s3}
	e := newEnv(t, envOptions{blobs: store})
	clip := testClip(t)
	up := e.create(alice, len(clip), "On S3")
	e.patchAll(up.GetTusUrl(), alice, clip, 0, 64<<10)
	done := e.waitState(alice, up.GetId(), uploadv1.UploadState_UPLOAD_STATE_COMPLETED)
	if done.GetSha256() != sum(clip) {
		t.Errorf("sha256 = %s, want %s", done.GetSha256(), sum(clip))
	}
	if mi := done.GetMediaInfo(); mi.GetVideo().GetWidth() != 320 || mi.GetAudio().GetCodec() != "aac" {
		t.Errorf("media_info = %v", mi)
	}
	if n := store.gets.Load(); n != 0 {
		t.Errorf("completion read the S3 object back %d times, want 0 (probe the tus file)", n)
	}
	if !bytes.Equal(e.blobBytes(up.GetId()), clip) {
		t.Error("the object on S3 differs from the uploaded file")
	}
	if e.hasTusFiles(up.GetId()) {
		t.Errorf("tus files left after completion: %v", e.tusFiles())
	}
	if n := e.subjectCount("upload.completed"); n != 1 {
		t.Errorf("upload.completed messages = %d, want 1", n)
	}
}
