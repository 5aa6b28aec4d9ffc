package upload

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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

// paddedClip is the test clip followed by an MP4 "free" box (which players
// and ffprobe skip) making it size bytes: big enough for S3 parts.
func paddedClip(t *testing.T, size int) []byte {
	t.Helper()
	clip := testClip(t)
	pad := size - len(clip)
	if pad < 8 {
		t.Fatalf("padded clip of %d bytes is smaller than the clip (%d)", size, len(clip))
	}
	out := make([]byte, size)
	copy(out, clip)
	binary.BigEndian.PutUint32(out[len(clip):], uint32(pad))
	copy(out[len(clip)+4:], "free")
	return out
}

// tusObjects lists the keys under the tus prefix of the media store, and
// the multipart uploads in progress there.
func tusObjects(t *testing.T, srv *s3test.Server, prefix string) (keys, multipart []string) {
	t.Helper()
	c := srv.Client()
	objs, err := c.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	mps, err := c.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mps.Uploads {
		multipart = append(multipart, aws.ToString(m.Key))
	}
	return keys, multipart
}

// TestResumeOnAnotherInstanceOnS3: with the media store on S3 the tus
// uploads are there too, so a resume works on any instance. A sends the
// first 6 MiB (one 5 MiB part and a remainder below S3's minimum part
// size); B, with a data directory of its own, answers HEAD with that
// offset and takes the rest. The file is assembled byte for byte, is
// completed once, and no tus object or multipart upload is left on S3.
func TestResumeOnAnotherInstanceOnS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	media, err := blob.Open(t.Context(), srv.URL("media"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := twoInstances(t, media)
	if a.cfg.DataDir == b.cfg.DataDir {
		t.Fatal("the instances share a data directory")
	}
	data := paddedClip(t, 12<<20+4321)
	up := a.create(alice, len(data), "resumed on S3")
	id := up.GetId()

	cut := 6<<20 + 12345
	a.patchAll(a.on(id), alice, data[:cut], 0, 1<<20)
	keys, mps := tusObjects(t, srv, "media/tus/")
	if want := []string{"media/tus/" + id + ".info", "media/tus/" + id + ".part"}; !slices.Equal(keys, want) || !slices.Equal(mps, []string{"media/tus/" + id}) {
		t.Fatalf("on S3 after A's PATCHes: objects %v, multipart uploads %v; want objects %v and one multipart upload", keys, mps, want)
	}
	if a.hasTusFiles(id) {
		t.Fatalf("A keeps tus files on its disk: %v", a.tusFiles())
	}

	off, resp := b.headOffset(b.on(id), alice)
	if resp.StatusCode != http.StatusOK || off != cut {
		t.Fatalf("HEAD on B: status %d offset %d, want 200 and %d", resp.StatusCode, off, cut)
	}
	b.patchAll(b.on(id), alice, data, off, 1<<20)

	done := a.waitState(alice, id, uploadv1.UploadState_UPLOAD_STATE_COMPLETED)
	if done.GetSha256() != sum(data) {
		t.Fatalf("sha256 %s, want %s", done.GetSha256(), sum(data))
	}
	if !bytes.Equal(a.blobBytes(id), data) {
		t.Fatal("the object on S3 differs from the uploaded file")
	}
	if mi := done.GetMediaInfo(); mi.GetVideo().GetWidth() != 320 {
		t.Errorf("media_info = %v", mi)
	}
	if n := a.subjectCount("upload.completed"); n != 1 {
		t.Errorf("upload.completed published %d times, want 1", n)
	}
	if keys, mps := tusObjects(t, srv, "media/tus/"); len(keys) != 0 || len(mps) != 0 {
		t.Errorf("left on S3 after completion: objects %v, multipart uploads %v", keys, mps)
	}
}

// TestCancelOnS3RemovesTusUpload: a tus DELETE on the other instance
// aborts the multipart upload and deletes the tus objects of an upload
// half sent to the first.
func TestCancelOnS3RemovesTusUpload(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	media, err := blob.Open(t.Context(), srv.URL("media"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := twoInstances(t, media)
	data := paddedClip(t, 8<<20)
	up := a.create(alice, len(data), "canceled on S3")
	a.patchAll(a.on(up.GetId()), alice, data[:6<<20], 0, 2<<20)
	if keys, mps := tusObjects(t, srv, "media/tus/"); len(keys) == 0 || len(mps) != 1 {
		t.Fatalf("on S3 after A's PATCHes: objects %v, multipart uploads %v", keys, mps)
	}
	if resp := b.tusRequest(http.MethodDelete, b.on(up.GetId()), alice, 0, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE on B: status %d, want 204", resp.StatusCode)
	}
	if got := a.get(alice, up.GetId()).GetState(); got != uploadv1.UploadState_UPLOAD_STATE_CANCELED {
		t.Fatalf("state after DELETE: %v, want CANCELED", got)
	}
	if keys, mps := tusObjects(t, srv, "media/tus/"); len(keys) != 0 || len(mps) != 0 {
		t.Errorf("left on S3 after cancel: objects %v, multipart uploads %v", keys, mps)
	}
}

// TestStalledPatchOnS3ReleasedByAnotherInstance: s3store buffers a PATCH's
// bytes on the receiving instance's disk until the part is sent; a HEAD on
// the other instance asks (through etcd) for the stalled PATCH's lock, the
// PATCH ends and stores what it got on S3, and the HEAD reports it.
func TestStalledPatchOnS3ReleasedByAnotherInstance(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	media, err := blob.Open(t.Context(), srv.URL("media"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := twoInstances(t, media)
	data := paddedClip(t, 7<<20)
	up := a.create(alice, len(data), "stalled on S3")
	cut := 1<<20 + 5
	a.stalledPatch(up.GetId(), alice, data, cut)

	// Wait until A has buffered the bytes sent in its part file (the
	// stalled PATCH holds the lock meanwhile; a HEAD would interrupt it).
	deadline := time.Now().Add(waitTimeout)
	for buffered(t, a.svc.tusDir) != int64(cut) {
		if time.Now().After(deadline) {
			t.Fatalf("A did not buffer the %d bytes sent", cut)
		}
		time.Sleep(10 * time.Millisecond)
	}

	start := time.Now()
	off, resp := b.headOffset(b.on(up.GetId()), alice)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("HEAD on B waited %s for the stalled PATCH's lock", took)
	}
	if resp.StatusCode != http.StatusOK || off != cut {
		t.Fatalf("HEAD on B: status %d offset %d, want 200 and %d", resp.StatusCode, off, cut)
	}
	b.patchAll(b.on(up.GetId()), alice, data, off, 2<<20)
	if done := b.waitState(alice, up.GetId(), uploadv1.UploadState_UPLOAD_STATE_COMPLETED); done.GetSha256() != sum(data) {
		t.Fatalf("sha256 %s, want %s", done.GetSha256(), sum(data))
	}
}

// buffered is the size of the largest part file s3store keeps in dir.
func buffered(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, en := range entries {
		if !strings.HasPrefix(en.Name(), "tusd-s3-tmp-") {
			continue
		}
		if fi, err := en.Info(); err == nil {
			n = max(n, fi.Size())
		}
	}
	return n
}
