package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/oklog/ulid/v2"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/internal/identity"
)

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (e *env) blobBytes(id string) []byte {
	e.t.Helper()
	r, err := e.blobs.Get(e.t.Context(), blobKey(id))
	if err != nil {
		e.t.Fatalf("blob of %s: %v", id, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func TestChunkedUploadCompletes(t *testing.T) {
	e := newEnv(t, envOptions{})
	clip := testClip(t)
	up := e.create(alice, len(clip), "My clip")
	if up.GetState() != uploadv1.UploadState_UPLOAD_STATE_CREATED || up.GetVideoId() == "" || !strings.HasPrefix(up.GetId(), "upl_") {
		t.Fatalf("created upload = %v", up)
	}
	if want := e.srv.URL + "/uploads/" + up.GetId(); up.GetTusUrl() != want {
		t.Errorf("tus_url = %q, want %q", up.GetTusUrl(), want)
	}
	if d := up.GetExpireTime().AsTime().Sub(up.GetCreateTime().AsTime()); d != 24*time.Hour {
		t.Errorf("expire_time - create_time = %v, want 24h", d)
	}
	off, resp := e.headOffset(up.GetTusUrl(), alice)
	if resp.StatusCode != http.StatusOK || off != 0 || resp.Header.Get("Upload-Length") != "" && resp.Header.Get("Upload-Length") != itoa(len(clip)) {
		t.Fatalf("HEAD: status %d offset %d length %q", resp.StatusCode, off, resp.Header.Get("Upload-Length"))
	}
	if resp.Header.Get("Upload-Expires") == "" {
		t.Error("HEAD has no Upload-Expires")
	}

	e.patchAll(up.GetTusUrl(), alice, clip[:len(clip)/2], 0, 16<<10)
	mid := e.get(alice, up.GetId())
	if mid.GetState() != uploadv1.UploadState_UPLOAD_STATE_UPLOADING || mid.GetOffsetBytes() != uint64(len(clip)/2) {
		t.Errorf("half way: state %v offset %d, want UPLOADING %d", mid.GetState(), mid.GetOffsetBytes(), len(clip)/2)
	}
	e.patchAll(up.GetTusUrl(), alice, clip, len(clip)/2, 16<<10)

	done := e.waitState(alice, up.GetId(), uploadv1.UploadState_UPLOAD_STATE_COMPLETED)
	if done.GetSha256() != sum(clip) {
		t.Errorf("sha256 = %s, want %s", done.GetSha256(), sum(clip))
	}
	mi := done.GetMediaInfo()
	if mi.GetVideo().GetWidth() != 320 || mi.GetVideo().GetHeight() != 240 || mi.GetAudio().GetCodec() != "aac" || mi.GetDuration().AsDuration() < time.Second {
		t.Errorf("media_info = %v", mi)
	}
	if done.GetOffsetBytes() != uint64(len(clip)) {
		t.Errorf("offset = %d, want %d", done.GetOffsetBytes(), len(clip))
	}
	if !bytes.Equal(e.blobBytes(up.GetId()), clip) {
		t.Error("the stored blob differs from the uploaded file")
	}
	if e.hasTusFiles(up.GetId()) {
		t.Errorf("tus files left after completion: %v", e.tusFiles())
	}
	if n := e.subjectCount("upload.completed"); n != 1 {
		t.Errorf("upload.completed messages = %d, want 1", n)
	}
	// Every byte is in: HEAD says so, PATCH is refused.
	if off, resp := e.headOffset(up.GetTusUrl(), alice); resp.StatusCode != http.StatusOK || off != len(clip) {
		t.Errorf("HEAD after completion: status %d offset %d", resp.StatusCode, off)
	}
	if resp := e.tusRequest(http.MethodPatch, up.GetTusUrl(), alice, int64(len(clip)), strings.NewReader("x")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PATCH after completion: status %d, want 403", resp.StatusCode)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// killedPatch sends a PATCH over a raw connection that promises the
// whole file, writes only the first n bytes and closes: what the server
// sees when a client's connection dies mid-upload.
func (e *env) killedPatch(id, addr string, data []byte, n int) {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH /uploads/%s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\n%s: %s\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n",
		id, e.srv.Listener.Addr(), identity.DevAddressHeader, addr, len(data))
	if _, err := conn.Write(data[:n]); err != nil {
		e.t.Fatal(err)
	}
	conn.Close()
}

func TestResumeAfterKilledConnection(t *testing.T) {
	e := newEnv(t, envOptions{})
	clip := testClip(t)
	up := e.create(alice, len(clip), "resume")
	cut := len(clip)/3 + 7
	e.killedPatch(up.GetId(), alice, clip, cut)
	// tusd keeps what it received; HEAD (under the upload's lock) says
	// where to resume once the server has noticed the broken connection.
	deadline := time.Now().Add(waitTimeout)
	off := 0
	for {
		var resp *http.Response
		off, resp = e.headOffset(up.GetTusUrl(), alice)
		if resp.StatusCode != http.StatusOK || off > cut {
			t.Fatalf("HEAD after the break: status %d offset %d, want 200 and at most %d", resp.StatusCode, off, cut)
		}
		if off == cut {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offset is %d after %v, want the %d bytes sent before the break", off, waitTimeout, cut)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.patchAll(up.GetTusUrl(), alice, clip, off, 64<<10)
	done := e.waitState(alice, up.GetId(), uploadv1.UploadState_UPLOAD_STATE_COMPLETED)
	if done.GetSha256() != sum(clip) || !bytes.Equal(e.blobBytes(up.GetId()), clip) {
		t.Errorf("resumed file differs: sha256 %s, want %s", done.GetSha256(), sum(clip))
	}
}

func TestOffsetMismatchConflict(t *testing.T) {
	e := newEnv(t, envOptions{})
	up := e.create(alice, 100, "offsets")
	e.patchAll(up.GetTusUrl(), alice, bytes.Repeat([]byte("a"), 100)[:40], 0, 40)
	for _, off := range []int64{0, 39, 41, 100} {
		if resp := e.tusRequest(http.MethodPatch, up.GetTusUrl(), alice, off, strings.NewReader("bbbb")); resp.StatusCode != http.StatusConflict {
			t.Errorf("PATCH at %d (server at 40): status %d, want 409", off, resp.StatusCode)
		}
	}
	// More bytes than Upload-Length are refused too.
	if resp := e.tusRequest(http.MethodPatch, up.GetTusUrl(), alice, 40, bytes.NewReader(make([]byte, 61))); resp.StatusCode < 400 {
		t.Errorf("PATCH past Upload-Length: status %d, want an error", resp.StatusCode)
	}
	if off, _ := e.headOffset(up.GetTusUrl(), alice); off != 40 {
		t.Errorf("offset = %d after refused PATCHes, want 40", off)
	}
}

func TestLimitsRefusedBeforeAnythingIsStored(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *Config) {
		c.MaxUploadBytes = 1000
		c.CreatorQuotaBytes = 2500
		c.MaxConcurrentUploads = 2
	}})
	try := func(addr string, size uint64) error {
		_, err := e.client(addr).CreateUpload(t.Context(), connect.NewRequest(&uploadv1.CreateUploadRequest{
			RequestId: ulid.Make().String(), Title: "t", SizeBytes: size, ContentType: "video/mp4",
		}))
		return err
	}
	err := try(alice, 1001)
	if codeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "size") || !strings.Contains(err.Error(), "1000") {
		t.Errorf("over the size limit: %v, want RESOURCE_EXHAUSTED naming size and 1000", err)
	}
	if n := e.videos.count(); n != 0 {
		t.Errorf("a video was created for a refused upload (%d calls)", n)
	}
	if files := e.tusFiles(); len(files) != 0 {
		t.Errorf("files stored for a refused upload: %v", files)
	}
	list, err := e.client(alice).ListUploads(t.Context(), connect.NewRequest(&uploadv1.ListUploadsRequest{}))
	if err != nil || len(list.Msg.GetUploads()) != 0 {
		t.Errorf("records after a refused upload: %v, %v", list.Msg.GetUploads(), err)
	}

	if err := try(alice, 1000); err != nil {
		t.Fatal(err)
	}
	if err := try(alice, 1000); err != nil {
		t.Fatal(err)
	}
	err = try(alice, 1)
	if codeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "concurrent uploads") {
		t.Errorf("third concurrent upload: %v, want RESOURCE_EXHAUSTED naming concurrent uploads", err)
	}
	// Bob has his own limits.
	if err := try(bob, 1000); err != nil {
		t.Errorf("bob: %v", err)
	}

	// Quota: canceling one frees its slot but the remaining 1000 bytes
	// plus 1000 in flight plus 600 exceed 2500.
	list, _ = e.client(alice).ListUploads(t.Context(), connect.NewRequest(&uploadv1.ListUploadsRequest{}))
	if _, err := e.client(alice).CancelUpload(t.Context(), connect.NewRequest(&uploadv1.CancelUploadRequest{UploadId: list.Msg.GetUploads()[0].GetId()})); err != nil {
		t.Fatal(err)
	}
	e.svc.db.db.ExecContext(t.Context(), `UPDATE uploads SET state = ? WHERE id = ?`, int32(stateCompleted), list.Msg.GetUploads()[1].GetId())
	if err := try(alice, 1000); err != nil {
		t.Fatalf("after a cancel: %v", err)
	}
	err = try(alice, 600)
	if codeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "quota") {
		t.Errorf("over the quota: %v, want RESOURCE_EXHAUSTED naming quota", err)
	}
}

func TestAnotherIdentityIsRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	up := e.create(alice, 100, "mine")
	e.patchAll(up.GetTusUrl(), alice, make([]byte, 10), 0, 10)

	for _, method := range []string{http.MethodHead, http.MethodPatch, http.MethodDelete} {
		if resp := e.tusRequest(method, up.GetTusUrl(), bob, 10, strings.NewReader("evil")); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s as another wallet: status %d, want 404", method, resp.StatusCode)
		}
		if resp := e.tusRequest(method, up.GetTusUrl(), "", 10, strings.NewReader("evil")); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s anonymous: status %d, want 401", method, resp.StatusCode)
		}
	}
	_, err := e.client(bob).GetUpload(t.Context(), connect.NewRequest(&uploadv1.GetUploadRequest{UploadId: up.GetId()}))
	if codeOf(err) != connect.CodeNotFound {
		t.Errorf("GetUpload as another wallet: %v, want NOT_FOUND", err)
	}
	_, err = e.client(bob).CancelUpload(t.Context(), connect.NewRequest(&uploadv1.CancelUploadRequest{UploadId: up.GetId()}))
	if codeOf(err) != connect.CodeNotFound {
		t.Errorf("CancelUpload as another wallet: %v, want NOT_FOUND", err)
	}
	_, err = e.client("").GetUpload(t.Context(), connect.NewRequest(&uploadv1.GetUploadRequest{UploadId: up.GetId()}))
	if codeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("GetUpload anonymous: %v, want UNAUTHENTICATED", err)
	}
	list, err := e.client(bob).ListUploads(t.Context(), connect.NewRequest(&uploadv1.ListUploadsRequest{}))
	if err != nil || len(list.Msg.GetUploads()) != 0 {
		t.Errorf("bob lists %v, %v; want nothing", list.Msg.GetUploads(), err)
	}
	if got := e.get(alice, up.GetId()); got.GetOffsetBytes() != 10 || got.GetState() != uploadv1.UploadState_UPLOAD_STATE_UPLOADING {
		t.Errorf("after the attempts: %v", got)
	}
}

func TestTusCreationRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, url := range []string{e.srv.URL + "/uploads/", e.srv.URL + "/uploads"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", "10")
		req.Header.Set(identity.DevAddressHeader, alice)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden && !(url == e.srv.URL+"/uploads" && resp.StatusCode >= 400) {
			t.Errorf("POST %s: status %d, want 403", url, resp.StatusCode)
		}
	}
	// The tusd handler's own creation hook refuses as well.
	if resp := e.tusRequest(http.MethodPatch, e.srv.URL+"/uploads/upl_"+ulid.Make().String(), alice, 0, strings.NewReader("x")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("PATCH to an upload never created: status %d, want 404", resp.StatusCode)
	}
	for _, p := range []string{"/uploads/../upload.db", "/uploads/%2e%2e%2fupload.db", "/uploads/upl_x/../../etc"} {
		if resp := e.tusRequest(http.MethodHead, e.srv.URL+p, alice, 0, nil); resp.StatusCode != http.StatusNotFound && resp.StatusCode < 400 {
			t.Errorf("HEAD %s: status %d, want an error", p, resp.StatusCode)
		}
	}
	if files := e.tusFiles(); len(files) != 0 {
		t.Errorf("files created by refused requests: %v", files)
	}
}

func TestCancelDeletesBytes(t *testing.T) {
	e := newEnv(t, envOptions{})
	up := e.create(alice, 1000, "to cancel")
	e.patchAll(up.GetTusUrl(), alice, make([]byte, 300), 0, 100)
	if !e.hasTusFiles(up.GetId()) {
		t.Fatalf("no tus files before cancel: %v", e.tusFiles())
	}
	c := e.client(alice)
	res, err := c.CancelUpload(t.Context(), connect.NewRequest(&uploadv1.CancelUploadRequest{UploadId: up.GetId()}))
	if err != nil || res.Msg.GetUpload().GetState() != uploadv1.UploadState_UPLOAD_STATE_CANCELED {
		t.Fatalf("CancelUpload = %v, %v", res, err)
	}
	if e.hasTusFiles(up.GetId()) {
		t.Errorf("tus files left after cancel: %v", e.tusFiles())
	}
	if resp := e.tusRequest(http.MethodPatch, up.GetTusUrl(), alice, 300, strings.NewReader("x")); resp.StatusCode != http.StatusGone {
		t.Errorf("PATCH after cancel: status %d, want 410", resp.StatusCode)
	}
	if resp := e.tusRequest(http.MethodHead, up.GetTusUrl(), alice, 0, nil); resp.StatusCode != http.StatusGone {
		t.Errorf("HEAD after cancel: status %d, want 410", resp.StatusCode)
	}
	again, err := c.CancelUpload(t.Context(), connect.NewRequest(&uploadv1.CancelUploadRequest{UploadId: up.GetId()}))
	if err != nil || again.Msg.GetUpload().GetState() != uploadv1.UploadState_UPLOAD_STATE_CANCELED {
		t.Errorf("second CancelUpload = %v, %v", again, err)
	}
	// Metadata hears of it once (so the video leaves UPLOADING), however
	// often the cancel is repeated.
	if n := e.subjectCount("upload.failed"); n != 1 {
		t.Errorf("upload.failed messages after two cancels = %d, want 1", n)
	}
	// tus DELETE (termination) cancels too.
	up2 := e.create(alice, 1000, "to terminate")
	e.patchAll(up2.GetTusUrl(), alice, make([]byte, 10), 0, 10)
	if resp := e.tusRequest(http.MethodDelete, up2.GetTusUrl(), alice, 0, nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("tus DELETE: status %d, want 204", resp.StatusCode)
	}
	if got := e.get(alice, up2.GetId()); got.GetState() != uploadv1.UploadState_UPLOAD_STATE_CANCELED || e.hasTusFiles(up2.GetId()) {
		t.Errorf("after tus DELETE: %v, files %v", got.GetState(), e.tusFiles())
	}
	// A completed upload cannot be canceled.
	clip := testClip(t)
	up3 := e.create(alice, len(clip), "done")
	e.patchAll(up3.GetTusUrl(), alice, clip, 0, len(clip))
	e.waitState(alice, up3.GetId(), uploadv1.UploadState_UPLOAD_STATE_COMPLETED)
	if _, err := c.CancelUpload(t.Context(), connect.NewRequest(&uploadv1.CancelUploadRequest{UploadId: up3.GetId()})); codeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("cancel of a COMPLETED upload: %v, want FAILED_PRECONDITION", err)
	}
}

func TestInvalidMediaFails(t *testing.T) {
	e := newEnv(t, envOptions{})
	clip := testClip(t)
	cases := map[string]struct {
		data   []byte
		reason string
	}{
		"garbage":   {data: bytes.Repeat([]byte("this is not a video\n"), 400), reason: "not a media file"},
		"truncated": {data: clip[:len(clip)/2], reason: "not a media file"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			up := e.create(alice, len(tc.data), name)
			e.patchAll(up.GetTusUrl(), alice, tc.data, 0, 32<<10)
			got := e.waitState(alice, up.GetId(), uploadv1.UploadState_UPLOAD_STATE_FAILED)
			if !strings.Contains(got.GetFailureReason(), tc.reason) {
				t.Errorf("failure_reason = %q, want it to contain %q", got.GetFailureReason(), tc.reason)
			}
			if got.GetSha256() != "" {
				t.Errorf("a FAILED upload reports sha256 %q", got.GetSha256())
			}
			if _, err := e.blobs.Stat(t.Context(), blobKey(up.GetId())); err == nil {
				t.Error("the rejected file is still in the blob store")
			}
			if e.hasTusFiles(up.GetId()) {
				t.Errorf("tus files left: %v", e.tusFiles())
			}
		})
	}
	if n := e.subjectCount("upload.failed"); n != 2 {
		t.Errorf("upload.failed messages = %d, want 2", n)
	}
	if n := e.subjectCount("upload.completed"); n != 0 {
		t.Errorf("upload.completed messages = %d, want 0", n)
	}
}

func TestCompletedPublishedOnceWhenRetried(t *testing.T) {
	// No Run: the test drives completion itself.
	e := newEnv(t, envOptions{noRun: true})
	clip := testClip(t)
	up := e.create(alice, len(clip), "once")
	e.patchAll(up.GetTusUrl(), alice, clip, 0, 64<<10)
	if got := e.get(alice, up.GetId()); got.GetState() != uploadv1.UploadState_UPLOAD_STATE_VALIDATING {
		t.Fatalf("after the last byte: %v, want VALIDATING", got.GetState())
	}
	// Two completions at once, then again after a simulated crash between
	// publishing and recording COMPLETED.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := e.svc.Complete(t.Context(), up.GetId()); err != nil {
				t.Errorf("Complete: %v", err)
			}
		})
	}
	wg.Wait()
	if _, err := e.svc.db.transition(t.Context(), up.GetId(), []uploadv1.UploadState{stateCompleted}, stateValidating, time.Now(), ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Complete(t.Context(), up.GetId()); err != nil {
		t.Fatalf("Complete after the crash: %v", err)
	}
	got := e.get(alice, up.GetId())
	if got.GetState() != uploadv1.UploadState_UPLOAD_STATE_COMPLETED || got.GetSha256() != sum(clip) {
		t.Fatalf("after completion: %v", got)
	}
	if n := e.subjectCount("upload.completed"); n != 1 {
		t.Errorf("upload.completed messages = %d, want 1", n)
	}
}

func TestRunResumesValidatingAfterRestart(t *testing.T) {
	dataDir := t.TempDir()
	clip := testClip(t)
	var id string
	{
		e := newEnv(t, envOptions{noRun: true, dataDir: dataDir})
		up := e.create(alice, len(clip), "restart")
		e.patchAll(up.GetTusUrl(), alice, clip, 0, len(clip))
		id = up.GetId()
		// The service stops here, before completing (cleanup closes it).
		e.svc.Close()
	}
	e := newEnv(t, envOptions{dataDir: dataDir})
	got := e.waitState(alice, id, uploadv1.UploadState_UPLOAD_STATE_COMPLETED)
	if got.GetSha256() != sum(clip) {
		t.Errorf("sha256 = %s, want %s", got.GetSha256(), sum(clip))
	}
}

func TestSweepExpiresAbandonedUploads(t *testing.T) {
	e := newEnv(t, envOptions{noRun: true})
	stale := e.create(alice, 100, "stale")
	e.patchAll(stale.GetTusUrl(), alice, make([]byte, 10), 0, 10)
	e.clock.Advance(23 * time.Hour)
	fresh := e.create(alice, 100, "fresh")
	e.clock.Advance(2 * time.Hour)
	n, err := e.svc.Sweep(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if got := e.get(alice, stale.GetId()); got.GetState() != uploadv1.UploadState_UPLOAD_STATE_EXPIRED {
		t.Errorf("stale upload is %v, want EXPIRED", got.GetState())
	}
	if e.hasTusFiles(stale.GetId()) {
		t.Errorf("expired upload's files left: %v", e.tusFiles())
	}
	if got := e.get(alice, fresh.GetId()); got.GetState() != uploadv1.UploadState_UPLOAD_STATE_CREATED {
		t.Errorf("fresh upload is %v, want CREATED", got.GetState())
	}
	if resp := e.tusRequest(http.MethodPatch, stale.GetTusUrl(), alice, 10, strings.NewReader("x")); resp.StatusCode != http.StatusGone {
		t.Errorf("PATCH to an expired upload: status %d, want 410", resp.StatusCode)
	}
	if n := e.subjectCount("upload.failed"); n != 1 {
		t.Errorf("upload.failed messages = %d, want 1", n)
	}
	// A PATCH moves the expiry forward.
	before := e.get(alice, fresh.GetId()).GetExpireTime().AsTime()
	e.patchAll(fresh.GetTusUrl(), alice, make([]byte, 5), 0, 5)
	if after := e.get(alice, fresh.GetId()).GetExpireTime().AsTime(); !after.After(before) {
		t.Errorf("expire_time %v did not move past %v after a PATCH", after, before)
	}
}

func TestCreateUploadIdempotentAndValidated(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client(alice)
	req := &uploadv1.CreateUploadRequest{RequestId: "req-1", Title: "Same", SizeBytes: 10, ContentType: "video/mp4",
		AccessPolicy: &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ANY, Rules: []*authv1.AccessRule{{
			ChainId: 1337, ContractAddress: "0xcccccccccccccccccccccccccccccccccccccccc", Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
		}}}}
	first, err := c.CreateUpload(t.Context(), connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.CreateUpload(t.Context(), connect.NewRequest(req))
	if err != nil || second.Msg.GetUpload().GetId() != first.Msg.GetUpload().GetId() {
		t.Fatalf("retry = %v, %v; want the first upload %s", second, err, first.Msg.GetUpload().GetId())
	}
	if n := e.videos.count(); n != 1 {
		t.Errorf("CreateVideo calls = %d, want 1", n)
	}
	changed := &uploadv1.CreateUploadRequest{RequestId: "req-1", Title: "Other", SizeBytes: 10, ContentType: "video/mp4"}
	if _, err := c.CreateUpload(t.Context(), connect.NewRequest(changed)); codeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("request_id reused with other parameters: %v, want INVALID_ARGUMENT", err)
	}

	good := func() *uploadv1.CreateUploadRequest {
		return &uploadv1.CreateUploadRequest{RequestId: ulid.Make().String(), Title: "t", SizeBytes: 10, ContentType: "video/mp4"}
	}
	rule := func(f func(*authv1.AccessRule)) *authv1.AccessPolicy {
		r := &authv1.AccessRule{ChainId: 1, ContractAddress: "0xcccccccccccccccccccccccccccccccccccccccc", Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721}
		f(r)
		return &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{r}}
	}
	str := func(s string) *string { return &s }
	bad := map[string]func(r *uploadv1.CreateUploadRequest){
		"no request id":    func(r *uploadv1.CreateUploadRequest) { r.RequestId = "" },
		"bad request id":   func(r *uploadv1.CreateUploadRequest) { r.RequestId = "a b" },
		"no title":         func(r *uploadv1.CreateUploadRequest) { r.Title = "  " },
		"long title":       func(r *uploadv1.CreateUploadRequest) { r.Title = strings.Repeat("x", 201) },
		"long description": func(r *uploadv1.CreateUploadRequest) { r.Description = strings.Repeat("x", 5001) },
		"bad tag":          func(r *uploadv1.CreateUploadRequest) { r.Tags = []string{"no spaces"} },
		"too many tags":    func(r *uploadv1.CreateUploadRequest) { r.Tags = strings.Split(strings.Repeat("a,", 21)[:41], ",") },
		"zero size":        func(r *uploadv1.CreateUploadRequest) { r.SizeBytes = 0 },
		"no content type":  func(r *uploadv1.CreateUploadRequest) { r.ContentType = "" },
		"not video":        func(r *uploadv1.CreateUploadRequest) { r.ContentType = "text/html" },
		"long filename":    func(r *uploadv1.CreateUploadRequest) { r.Filename = strings.Repeat("x", 256) },
		"policy no mode":   func(r *uploadv1.CreateUploadRequest) { r.AccessPolicy = &authv1.AccessPolicy{} },
		"public with rules": func(r *uploadv1.CreateUploadRequest) {
			p := rule(func(*authv1.AccessRule) {})
			p.Mode = authv1.AccessMode_ACCESS_MODE_PUBLIC
			r.AccessPolicy = p
		},
		"all without rules": func(r *uploadv1.CreateUploadRequest) {
			r.AccessPolicy = &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL}
		},
		"bad address": func(r *uploadv1.CreateUploadRequest) {
			r.AccessPolicy = rule(func(x *authv1.AccessRule) { x.ContractAddress = "0x123" })
		},
		"no chain": func(r *uploadv1.CreateUploadRequest) {
			r.AccessPolicy = rule(func(x *authv1.AccessRule) { x.ChainId = 0 })
		},
		"erc1155 no token": func(r *uploadv1.CreateUploadRequest) {
			r.AccessPolicy = rule(func(x *authv1.AccessRule) { x.Standard = authv1.TokenStandard_TOKEN_STANDARD_ERC1155 })
		},
		"erc20 with token": func(r *uploadv1.CreateUploadRequest) {
			r.AccessPolicy = rule(func(x *authv1.AccessRule) {
				x.Standard = authv1.TokenStandard_TOKEN_STANDARD_ERC20
				x.TokenId = str("1")
			})
		},
		"zero min balance": func(r *uploadv1.CreateUploadRequest) {
			r.AccessPolicy = rule(func(x *authv1.AccessRule) { x.MinBalance = "0" })
		},
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			r := good()
			mutate(r)
			if _, err := c.CreateUpload(t.Context(), connect.NewRequest(r)); codeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("CreateUpload = %v, want INVALID_ARGUMENT", err)
			}
		})
	}
	if n := e.videos.count(); n != 1 {
		t.Errorf("CreateVideo calls after invalid requests = %d, want 1", n)
	}
	// The filename loses its directory part.
	r := good()
	r.Filename = `C:\Users\me\clip.mov`
	res, err := c.CreateUpload(t.Context(), connect.NewRequest(r))
	if err != nil || res.Msg.GetUpload().GetFilename() != "clip.mov" {
		t.Errorf("filename = %q, %v; want clip.mov", res.Msg.GetUpload().GetFilename(), err)
	}
	if _, err := e.client("").CreateUpload(t.Context(), connect.NewRequest(good())); codeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("anonymous CreateUpload: %v, want UNAUTHENTICATED", err)
	}
}

func TestCreateVideoFailureIsRetryable(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.videos.fail = connect.NewError(connect.CodeUnavailable, errors.New("metadata down"))
	req := &uploadv1.CreateUploadRequest{RequestId: "retry-me", Title: "t", SizeBytes: 10, ContentType: "video/mp4"}
	if _, err := e.client(alice).CreateUpload(t.Context(), connect.NewRequest(req)); codeOf(err) != connect.CodeUnavailable {
		t.Fatalf("CreateUpload with metadata down: %v, want UNAVAILABLE", err)
	}
	e.videos.mu.Lock()
	e.videos.fail = nil
	e.videos.mu.Unlock()
	res, err := e.client(alice).CreateUpload(t.Context(), connect.NewRequest(req))
	if err != nil || res.Msg.GetUpload().GetVideoId() == "" {
		t.Fatalf("retry: %v, %v", res, err)
	}
	e.patchAll(res.Msg.GetUpload().GetTusUrl(), alice, make([]byte, 10), 0, 10)
}

func TestListUploadsPages(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *Config) { c.MaxConcurrentUploads = 10 }})
	var ids []string
	for i := range 5 {
		ids = append(ids, e.create(alice, 10+i, "u").GetId())
	}
	c := e.client(alice)
	var got []string
	token := ""
	for {
		res, err := c.ListUploads(t.Context(), connect.NewRequest(&uploadv1.ListUploadsRequest{PageSize: 2, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range res.Msg.GetUploads() {
			got = append(got, u.GetId())
		}
		token = res.Msg.GetNextPageToken()
		if token == "" {
			break
		}
	}
	if len(got) != 5 {
		t.Fatalf("listed %d uploads, want 5", len(got))
	}
	for i := range got {
		if got[i] != ids[len(ids)-1-i] {
			t.Errorf("page order: got %v, want newest first %v", got, ids)
			break
		}
	}
	res, _ := c.ListUploads(t.Context(), connect.NewRequest(&uploadv1.ListUploadsRequest{PageSize: 1}))
	if _, err := c.ListUploads(t.Context(), connect.NewRequest(&uploadv1.ListUploadsRequest{PageToken: res.Msg.GetNextPageToken(), State: uploadv1.UploadState_UPLOAD_STATE_CREATED})); codeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("token with another filter: %v, want INVALID_ARGUMENT", err)
	}
	for _, bad := range []*uploadv1.ListUploadsRequest{{PageSize: 101}, {PageSize: -1}, {PageToken: "garbage"}} {
		if _, err := c.ListUploads(t.Context(), connect.NewRequest(bad)); codeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("ListUploads(%v): %v, want INVALID_ARGUMENT", bad, err)
		}
	}
	res, err := c.ListUploads(t.Context(), connect.NewRequest(&uploadv1.ListUploadsRequest{State: uploadv1.UploadState_UPLOAD_STATE_COMPLETED}))
	if err != nil || len(res.Msg.GetUploads()) != 0 {
		t.Errorf("COMPLETED filter: %v, %v", res.Msg.GetUploads(), err)
	}
}

// flakyBus fails the first n publishes, like a NATS outage.
type flakyBus struct {
	Publisher
	mu   sync.Mutex
	left int
}

func (f *flakyBus) Publish(ctx context.Context, msg proto.Message) error {
	f.mu.Lock()
	fail := f.left > 0
	f.left--
	f.mu.Unlock()
	if fail {
		return errors.New("nats: no responders available")
	}
	return f.Publisher.Publish(ctx, msg)
}

func TestCompletionRetriedAfterPublishFailure(t *testing.T) {
	e := newEnv(t, envOptions{wrapBus: func(p Publisher) Publisher { return &flakyBus{Publisher: p, left: 2} }})
	clip := testClip(t)
	up := e.create(alice, len(clip), "retry")
	e.patchAll(up.GetTusUrl(), alice, clip, 0, len(clip))
	got := e.waitState(alice, up.GetId(), uploadv1.UploadState_UPLOAD_STATE_COMPLETED)
	if got.GetSha256() != sum(clip) {
		t.Errorf("sha256 = %s, want %s", got.GetSha256(), sum(clip))
	}
	if n := e.subjectCount("upload.completed"); n != 1 {
		t.Errorf("upload.completed messages = %d, want 1", n)
	}
}

func TestTusOptionsAdvertisesExtensions(t *testing.T) {
	e := newEnv(t, envOptions{})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, e.srv.URL+"/uploads/", nil)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ext := resp.Header.Get("Tus-Extension")
	for _, want := range []string{"creation", "termination", "expiration"} {
		if !strings.Contains(ext, want) {
			t.Errorf("Tus-Extension %q lacks %s", ext, want)
		}
	}
	if resp.Header.Get("Tus-Version") != "1.0.0" {
		t.Errorf("Tus-Version = %q", resp.Header.Get("Tus-Version"))
	}
}

func TestDevHeaderRefusedOutsideDevMode(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *Config) { c.DevMode = false }})
	up := e.create(alice, 10, "prod") // the test's Connect interceptor is in dev mode
	for _, method := range []string{http.MethodHead, http.MethodPatch, http.MethodDelete} {
		if resp := e.tusRequest(method, up.GetTusUrl(), alice, 0, strings.NewReader("x")); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with the dev header outside dev mode: status %d, want 401", method, resp.StatusCode)
		}
	}
	// The gateway's verified header is what counts there.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, up.GetTusUrl(), nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set(identity.AddressHeader, alice)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD with the verified address header: status %d, want 200", resp.StatusCode)
	}
}
