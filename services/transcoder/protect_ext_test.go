package transcoder_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/cenc"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/internal/transcode"
	"github.com/streamgate/streamgate/services/transcoder"
)

// protectorFunc is a Protector from a function.
type protectorFunc func(ctx context.Context, videoID string) (*transcode.Encryption, error)

func (f protectorFunc) Encryption(ctx context.Context, videoID string) (*transcode.Encryption, error) {
	return f(ctx, videoID)
}

// startWith runs an instance with p as its Protector.
func (e *env) startWith(t *testing.T, p transcoder.Protector) *transcoder.Service {
	t.Helper()
	cfg := testConfig(e.work, "inst-enc")
	cfg.Protector = p
	svc, err := transcoder.New(cfg, e.bus, e.blobs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return svc
}

func (e *env) get(t *testing.T, key string) []byte {
	t.Helper()
	r, err := e.blobs.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodes reports whether FFmpeg decodes init+segment with key (nil: none).
func decodes(t *testing.T, key []byte, init, seg []byte) bool {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v.mp4")
	if err := os.WriteFile(path, append(append([]byte(nil), init...), seg...), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-v", "error", "-xerror"}
	if key != nil {
		args = append(args, "-decryption_key", hex.EncodeToString(key))
	}
	out, err := exec.CommandContext(t.Context(), "ffmpeg", append(args, "-i", path, "-f", "null", "-")...).CombinedOutput()
	return err == nil && len(strings.TrimSpace(string(out))) == 0
}

// A job whose keys cannot be had fails its attempt before publishing
// anything, and is retried; once the keys come, every segment is
// encrypted: the first (before the 4 s preview) under the preview key,
// the rest under the full key, as the events say.
func TestEncryptedJobRetriesWithoutKeys(t *testing.T) {
	e := newEnv(t)
	completed := collect[*eventsv1.TranscodeCompleted](t, e.bus, "test-completed")
	ready := collect[*eventsv1.SegmentReady](t, e.bus, "test-segments")
	full, pre := cenc.NewKey(), cenc.NewKey()
	var calls atomic.Int32
	var mu sync.Mutex
	var leaked []string
	svc := e.startWith(t, protectorFunc(func(ctx context.Context, videoID string) (*transcode.Encryption, error) {
		if calls.Add(1) == 1 {
			// Whatever an attempt publishes would be here by now.
			list, err := e.blobs.List(ctx, "videos/"+videoID+"/")
			mu.Lock()
			for _, in := range list {
				leaked = append(leaked, in.Key)
			}
			mu.Unlock()
			if err != nil {
				return nil, err
			}
			return nil, connect.NewError(connect.CodeUnavailable, errors.New("auth is down"))
		}
		return &transcode.Encryption{Scheme: cenc.CBCS, Full: full, Preview: pre, PreviewUntil: 4 * time.Second}, nil
	}))
	e.upload(t, 1, clip(t, 9))
	poll.Until(t, waitTimeout, "transcode.completed", func() bool { return len(completed()) == 1 })
	done := completed()[0]
	if done.GetEncryptionScheme() != "cbcs" || done.GetPreviewKeyUntil().AsDuration() != 4*time.Second {
		t.Errorf("completed: scheme %q preview key until %v", done.GetEncryptionScheme(), done.GetPreviewKeyUntil().AsDuration())
	}
	job := jobOf(t, svc, "vid_1")
	if job.Attempt != 2 || calls.Load() != 2 {
		t.Errorf("attempt %d, protector calls %d; want 2 and 2", job.Attempt, calls.Load())
	}
	mu.Lock()
	if len(leaked) > 0 {
		t.Errorf("published before the keys: %v", leaked)
	}
	mu.Unlock()

	// Every media segment event names its key; the init segments of both
	// keys are announced.
	inits := map[string]bool{}
	poll.Until(t, waitTimeout, "segment events", func() bool { return len(ready()) >= 3*(3+2) })
	for _, s := range ready() {
		want := full.ID[:]
		if (s.GetKind() == eventsv1.SegmentKind_SEGMENT_KIND_MEDIA && s.GetSequence() == 1) || strings.HasSuffix(s.GetPath(), "init-preview.m4s") {
			want = pre.ID[:]
		}
		if s.GetEncryptionScheme() != "cbcs" || string(s.GetKeyId()) != string(want) {
			t.Errorf("%s: scheme %q key id %x, want %x", s.GetPath(), s.GetEncryptionScheme(), s.GetKeyId(), want)
		}
		if s.GetKind() == eventsv1.SegmentKind_SEGMENT_KIND_INIT {
			inits[s.GetPath()] = true
		}
	}
	if len(inits) != 6 {
		t.Errorf("init segment events %v, want both inits of 3 renditions", inits)
	}
	// A watcher replaying the finished job gets each init segment before
	// the first segment it applies to, and one resuming past the preview
	// only the full key's.
	for _, c := range []struct {
		after uint32
		want  string
	}{
		{0, "180p/init-preview.m4s 180p/seg-00001.m4s 180p/init.m4s 180p/seg-00002.m4s 180p/seg-00003.m4s"},
		{1, "180p/init.m4s 180p/seg-00002.m4s 180p/seg-00003.m4s"},
		{2, "180p/seg-00003.m4s"},
	} {
		var paths []string
		for _, m := range watchResume(t.Context(), svc, job.ID, false, map[string]uint32{"180p": c.after}, nil).wait(t) {
			if s := m.GetSegment(); s != nil && s.GetRenditionName() == "180p" {
				paths = append(paths, s.GetPath())
			}
		}
		if got := strings.Join(paths, " "); got != c.want {
			t.Errorf("replay after %d: %s, want %s", c.after, got, c.want)
		}
	}
	for _, r := range []string{"180p", "audio"} {
		p := "videos/vid_1/" + r + "/"
		in, inPre := e.get(t, p+"init.m4s"), e.get(t, p+"init-preview.m4s")
		s1, s2 := e.get(t, p+"seg-00001.m4s"), e.get(t, p+"seg-00002.m4s")
		if !decodes(t, pre.Key[:], inPre, s1) || !decodes(t, full.Key[:], in, s2) {
			t.Errorf("%s: a segment does not decode with its key", r)
		}
		if decodes(t, nil, in, s2) || decodes(t, full.Key[:], inPre, s1) {
			t.Errorf("%s: a segment decodes without its key", r)
		}
		if pl := string(e.get(t, p+"playlist.m3u8")); strings.Count(pl, `#EXT-X-KEY:METHOD=SAMPLE-AES,URI="../licence`) != 2 {
			t.Errorf("%s playlist:\n%s", r, pl)
		}
	}
}

// A clear job (the protector says nil) is what it always was.
func TestClearJobUnchanged(t *testing.T) {
	e := newEnv(t)
	completed := collect[*eventsv1.TranscodeCompleted](t, e.bus, "test-completed")
	e.startWith(t, protectorFunc(func(context.Context, string) (*transcode.Encryption, error) { return nil, nil }))
	e.upload(t, 1, clip(t, 5))
	poll.Until(t, waitTimeout, "transcode.completed", func() bool { return len(completed()) == 1 })
	if c := completed()[0]; c.GetEncryptionScheme() != "" || c.GetPreviewKeyUntil() != nil {
		t.Errorf("clear job completed with encryption %q %v", c.GetEncryptionScheme(), c.GetPreviewKeyUntil())
	}
	p := "videos/vid_1/180p/"
	if pl := string(e.get(t, p+"playlist.m3u8")); strings.Contains(pl, "EXT-X-KEY") {
		t.Errorf("clear playlist has a key:\n%s", pl)
	}
	if !decodes(t, nil, e.get(t, p+"init.m4s"), e.get(t, p+"seg-00001.m4s")) {
		t.Error("a clear segment does not decode")
	}
	if _, err := e.blobs.Stat(t.Context(), p+"init-preview.m4s"); err == nil {
		t.Error("a clear job published a preview init segment")
	}
}

// fakeMetadata answers GetVideo with one video.
type fakeMetadata struct {
	metadatav1connect.UnimplementedMetadataServiceHandler
	video *metadatav1.Video
}

func (f *fakeMetadata) GetVideo(context.Context, *connect.Request[metadatav1.GetVideoRequest]) (*connect.Response[metadatav1.GetVideoResponse], error) {
	return connect.NewResponse(&metadatav1.GetVideoResponse{Video: f.video}), nil
}

// fakeAuth hands out two fixed keys, or fails.
type fakeAuth struct {
	authv1connect.UnimplementedAuthServiceHandler
	fail    bool
	calls   atomic.Int32
	preview atomic.Uint32 // the last request's preview_seconds
}

var fullKey, previewKey = cenc.NewKey(), cenc.NewKey()

func (f *fakeAuth) EnsureContentKeys(_ context.Context, req *connect.Request[authv1.EnsureContentKeysRequest]) (*connect.Response[authv1.EnsureContentKeysResponse], error) {
	f.calls.Add(1)
	f.preview.Store(req.Msg.GetPreviewSeconds())
	if f.fail {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("down"))
	}
	return connect.NewResponse(&authv1.EnsureContentKeysResponse{Keys: []*authv1.ContentKey{
		{Scope: authv1.ContentKeyScope_CONTENT_KEY_SCOPE_PREVIEW, KeyId: previewKey.ID[:], Key: previewKey.Key[:]},
		{Scope: authv1.ContentKeyScope_CONTENT_KEY_SCOPE_FULL, KeyId: fullKey.ID[:], Key: fullKey.Key[:]},
	}}), nil
}

// MeshProtector: automatic packaging follows the policy, an explicit
// choice wins, the preview length is the policy's, and an auth failure is
// an error (never clear).
func TestMeshProtector(t *testing.T) {
	gated := &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ANY, PreviewSeconds: 30}
	cases := []struct {
		name      string
		packaging metadatav1.Packaging
		policy    *authv1.AccessPolicy
		authFails bool
		want      bool // encrypted
		preview   time.Duration
		wantErr   bool
	}{
		{name: "automatic public", want: false},
		{name: "automatic gated", policy: gated, want: true, preview: 30 * time.Second},
		{name: "automatic explicit public", policy: &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC}, want: false},
		{name: "automatic gated, auth down", policy: gated, authFails: true, wantErr: true},
		{name: "encrypted gated", packaging: metadatav1.Packaging_PACKAGING_ENCRYPTED, policy: gated, want: true, preview: 30 * time.Second},
		{name: "clear gated", packaging: metadatav1.Packaging_PACKAGING_CLEAR, policy: gated, want: false},
		{name: "encrypted public", packaging: metadatav1.Packaging_PACKAGING_ENCRYPTED, want: true},
		{name: "auth down", packaging: metadatav1.Packaging_PACKAGING_ENCRYPTED, policy: gated, authFails: true, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			md := &fakeMetadata{video: &metadatav1.Video{Id: "vid_1", Packaging: c.packaging, AccessPolicy: c.policy}}
			au := &fakeAuth{fail: c.authFails}
			mux := http.NewServeMux()
			mux.Handle(metadatav1connect.NewMetadataServiceHandler(md))
			mux.Handle(authv1connect.NewAuthServiceHandler(au))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			p := transcoder.MeshProtector{
				Metadata: metadatav1connect.NewMetadataServiceClient(srv.Client(), srv.URL),
				Auth:     authv1connect.NewAuthServiceClient(srv.Client(), srv.URL),
			}
			enc, err := p.Encryption(t.Context(), "vid_1")
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error %v", err, c.wantErr)
			}
			if c.wantErr {
				return
			}
			if (enc != nil) != c.want {
				t.Fatalf("encryption %+v, want encrypted %v", enc, c.want)
			}
			if enc == nil {
				if au.calls.Load() != 0 {
					t.Error("keys asked for a clear video")
				}
				return
			}
			if enc.Scheme != cenc.CBCS || enc.Full != fullKey || enc.PreviewUntil != c.preview || (c.preview > 0 && enc.Preview != previewKey) {
				t.Errorf("encryption %+v", enc)
			}
			// Auth is told the preview the keys encrypt.
			if got := time.Duration(au.preview.Load()) * time.Second; got != c.preview {
				t.Errorf("EnsureContentKeys told of a %s preview, want %s", got, c.preview)
			}
		})
	}
}
