package upload

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/testing/pgtest"
	"github.com/streamgate/streamgate/services/upload/etcdlocker"
)

// twoInstances starts two upload services on one PostgreSQL database and
// one etcd, each with its own locker (its own lease). With a local media
// store (media nil) the tus bytes are on disk, so the two share one data
// directory; with an S3 media store the tus uploads are on S3 too and each
// instance has a data directory of its own, as on different machines.
func twoInstances(t *testing.T, media blob.Store) (a, b *env) {
	t.Helper()
	url := pgtest.Start(t).NewDatabase(t)
	_, cli := etcdservertest.Start(t)
	shared := ""
	if media == nil {
		shared = t.TempDir()
	}
	open := func(share *env) *env {
		l, err := etcdlocker.New(cli, etcdlocker.Config{TTL: 5 * time.Second}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		// Registered before newEnv's cleanup, so it runs after it: the
		// lease goes once the service has stopped.
		t.Cleanup(func() { _ = l.Close() })
		return newEnv(t, envOptions{dataDir: shared, share: share, blobs: media, cfg: func(c *Config) {
			c.DatabaseURL = url
			c.Locker = l
			c.MaxConcurrentUploads = 2
		}})
	}
	a = open(nil)
	b = open(a)
	return a, b
}

// on returns the tus URL of upload id on instance e.
func (e *env) on(id string) string { return e.srv.URL + tusBasePath + id }

func TestTwoInstancesShareUploads(t *testing.T) {
	a, b := twoInstances(t, nil)
	clip := testClip(t)

	up := a.create(alice, len(clip), "two instances")
	// The record is B's too: the same request_id is the same upload, and
	// the limits count both instances' uploads.
	if got := b.get(alice, up.GetId()); got.GetState() != uploadv1.UploadState_UPLOAD_STATE_CREATED || got.GetVideoId() != up.GetVideoId() {
		t.Fatalf("B sees %v video %q, want CREATED video %q", got.GetState(), got.GetVideoId(), up.GetVideoId())
	}
	b.create(alice, 100, "second")
	_, err := b.client(alice).CreateUpload(t.Context(), connect.NewRequest(&uploadv1.CreateUploadRequest{
		RequestId: "third", Title: "third", SizeBytes: 100, ContentType: "video/mp4", Filename: "c.mp4",
	}))
	if codeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("third concurrent upload across instances: %v, want ResourceExhausted", err)
	}

	// Half the bytes to A, then resume on B from B's HEAD.
	half := len(clip) / 2
	a.patchAll(a.on(up.GetId()), alice, clip[:half], 0, 64<<10)
	off, resp := b.headOffset(b.on(up.GetId()), alice)
	if resp.StatusCode != http.StatusOK || off != half {
		t.Fatalf("HEAD on B: status %d offset %d, want 200 and %d", resp.StatusCode, off, half)
	}
	b.patchAll(b.on(up.GetId()), alice, clip, off, 64<<10)

	done := a.waitState(alice, up.GetId(), uploadv1.UploadState_UPLOAD_STATE_COMPLETED)
	if done.GetSha256() != sum(clip) || !bytes.Equal(a.blobBytes(up.GetId()), clip) {
		t.Fatalf("file assembled across instances differs: sha256 %s, want %s", done.GetSha256(), sum(clip))
	}
	// Both instances run the completion loop: the event goes out once.
	if n := a.subjectCount("upload.completed"); n != 1 {
		t.Fatalf("upload.completed published %d times, want 1", n)
	}
}

// stalledPatch opens a PATCH on e that promises the whole file, sends the
// first n bytes and then nothing, keeping the connection open: a client
// whose network went away without the server noticing.
func (e *env) stalledPatch(id, addr string, data []byte, n int) net.Conn {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "PATCH /uploads/%s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\n%s: %s\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n",
		id, e.srv.Listener.Addr(), identity.DevAddressHeader, addr, len(data))
	if _, err := conn.Write(data[:n]); err != nil {
		e.t.Fatal(err)
	}
	return conn
}

// TestResumeOnAnotherInstanceInterruptsAStalledPatch: the client's PATCH
// to A hangs holding the upload's lock; its resume goes to B, whose HEAD
// asks A (through etcd) to release the lock, so the stalled PATCH ends and
// the HEAD answers well before tusd's 20 s lock timeout.
func TestResumeOnAnotherInstanceInterruptsAStalledPatch(t *testing.T) {
	a, b := twoInstances(t, nil)
	clip := testClip(t)
	up := a.create(alice, len(clip), "stalled")
	cut := len(clip)/3 + 5
	a.stalledPatch(up.GetId(), alice, clip, cut)

	// Wait until A's PATCH has stored the bytes sent (it holds the lock
	// meanwhile), reading the tus store directly: a HEAD would interrupt it.
	deadline := time.Now().Add(waitTimeout)
	for {
		if n, err := a.svc.tusOffset(t.Context(), up.GetId()); err == nil && n == uint64(cut) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's PATCH did not store the %d bytes sent", cut)
		}
		time.Sleep(10 * time.Millisecond)
	}

	start := time.Now()
	off, resp := b.headOffset(b.on(up.GetId()), alice)
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK || off != cut {
		t.Fatalf("HEAD on B: status %d offset %d, want 200 and %d", resp.StatusCode, off, cut)
	}
	if took > 10*time.Second {
		t.Fatalf("HEAD on B waited %s for the stalled PATCH's lock", took)
	}
	t.Logf("HEAD on B answered in %s", took.Round(time.Millisecond))
	b.patchAll(b.on(up.GetId()), alice, clip, off, 64<<10)
	done := b.waitState(alice, up.GetId(), uploadv1.UploadState_UPLOAD_STATE_COMPLETED)
	if done.GetSha256() != sum(clip) {
		t.Fatalf("sha256 %s, want %s", done.GetSha256(), sum(clip))
	}
}
