package worker

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/oklog/ulid/v2"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1/transcoderv1connect"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/mediaprobe"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/metadata"
	"github.com/streamgate/streamgate/services/transcoder"
	"github.com/streamgate/streamgate/services/upload"
)

// mediaEnv runs the real upload, metadata (SQLite) and transcoder services
// behind one in-memory server, on one bus and one local blob store, as the
// mesh would, and gives the worker their generated clients.
type mediaEnv struct {
	t         *testing.T
	url       string
	bus       *events.Bus
	blobs     *blob.Local
	uploadDir string
	offset    atomic.Int64 // upload's clock offset
	builtins  Builtins
	upload    func(addr string) uploadv1connect.UploadServiceClient
	metadata  func(addr string) metadatav1connect.MetadataServiceClient
	// keyDeletes records what media.delete asks auth to forget.
	keyDeletes keyDeletes
}

// asCaller sets the dev identity header on every call ("" = no caller, as
// for a job).
func asCaller(addr string) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if addr != "" {
				req.Header().Set(identity.DevAddressHeader, addr)
			}
			return next(ctx, req)
		}
	}))
}

// metadataVideos lets upload create videos in the real metadata service,
// as node/ wires it.
type metadataVideos struct {
	c metadatav1connect.MetadataServiceClient
}

func (m metadataVideos) CreateVideo(ctx context.Context, req *metadatav1.CreateVideoRequest) (*metadatav1.Video, error) {
	res, err := m.c.CreateVideo(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetVideo(), nil
}

func newMediaEnv(t *testing.T, natsURL string) *mediaEnv {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e := &mediaEnv{t: t, bus: connectBus(t, natsURL), uploadDir: t.TempDir()}
	if err := e.bus.EnsureStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.blobs, err = blob.NewLocal(filepath.Join(t.TempDir(), "media")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.blobs.Close() })
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	opt := connect.WithInterceptors(identity.NewInterceptor(true))

	meta, err := metadata.New(metadata.Config{DatabaseURL: "sqlite://" + filepath.Join(t.TempDir(), "metadata.db")}, nil, e.bus, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	mux.Handle(meta.Handler(opt))
	e.metadata = func(addr string) metadatav1connect.MetadataServiceClient {
		return metadatav1connect.NewMetadataServiceClient(srv.Client(), srv.URL, asCaller(addr))
	}

	probe, err := mediaprobe.New(mediaprobe.Config{})
	if err != nil {
		t.Fatal(err)
	}
	up, err := upload.New(upload.Config{
		DevMode: true, PublicBaseURL: srv.URL, DataDir: e.uploadDir,
		Now: func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) },
	}, metadataVideos{e.metadata("")}, e.bus, e.blobs, probe, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	mux.Handle(up.Handler(opt))
	for p, h := range up.HTTPHandlers() {
		mux.Handle(p, h)
	}
	e.upload = func(addr string) uploadv1connect.UploadServiceClient {
		return uploadv1connect.NewUploadServiceClient(srv.Client(), srv.URL, asCaller(addr))
	}

	tc, err := transcoder.New(transcoder.Config{Workers: 1}, e.bus, e.blobs, logger)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(tc.Handler(opt))

	e.builtins = Builtins{
		Upload:     e.upload(""),
		Metadata:   e.metadata(""),
		Transcoder: transcoderv1connect.NewTranscoderServiceClient(srv.Client(), srv.URL),
		Auth:       nil, // ownership.reverify is tested with auth on a dev chain
		// Auth's side (the keys forgotten) is tested in services/auth;
		// here, that the job asks for it, after the media.
		ContentKeys: &e.keyDeletes,
	}
	return e
}

// keyDeletes records the content-key deletions media.delete asks auth for.
type keyDeletes struct {
	mu     sync.Mutex
	videos []string
}

func (k *keyDeletes) DeleteContentKeys(_ context.Context, req *connect.Request[authv1.DeleteContentKeysRequest]) (*connect.Response[authv1.DeleteContentKeysResponse], error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.videos = append(k.videos, req.Msg.GetVideoId())
	return connect.NewResponse(&authv1.DeleteContentKeysResponse{}), nil
}

func (k *keyDeletes) list() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.videos...)
}

// createUpload opens an upload as addr and sends its first 10 bytes.
func (e *mediaEnv) createUpload(addr string) *uploadv1.Upload {
	e.t.Helper()
	res, err := e.upload(addr).CreateUpload(e.t.Context(), connect.NewRequest(&uploadv1.CreateUploadRequest{
		RequestId: ulid.Make().String(), Title: "clip", SizeBytes: 100, ContentType: "video/mp4", Filename: "clip.mp4",
	}))
	if err != nil {
		e.t.Fatalf("CreateUpload: %v", err)
	}
	u := res.Msg.GetUpload()
	req, _ := http.NewRequestWithContext(e.t.Context(), http.MethodPatch, u.GetTusUrl(), bytes.NewReader(make([]byte, 10)))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set(identity.DevAddressHeader, addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		e.t.Fatalf("PATCH: status %d", resp.StatusCode)
	}
	if !e.hasTusFiles(u.GetId()) {
		e.t.Fatalf("no tus files for %s after a PATCH", u.GetId())
	}
	return u
}

func (e *mediaEnv) hasTusFiles(uploadID string) bool {
	ents, _ := os.ReadDir(filepath.Join(e.uploadDir, "tus"))
	for _, de := range ents {
		if strings.HasPrefix(de.Name(), uploadID) {
			return true
		}
	}
	return false
}

func (e *mediaEnv) put(key string) {
	e.t.Helper()
	if _, err := e.blobs.Put(e.t.Context(), key, strings.NewReader("bytes of "+key)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *mediaEnv) keys(prefix string) []string {
	e.t.Helper()
	infos, err := e.blobs.List(e.t.Context(), prefix)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, in := range infos {
		out = append(out, in.Key)
	}
	return out
}

func TestUploadCleanupExpiresAbandonedUploads(t *testing.T) {
	url := startNATS(t)
	e := newMediaEnv(t, url)
	s := newTestService(t, url, testConfig(), nil, KindOptions{}, WithBuiltins(e.builtins))
	run(t, s)

	stale := e.createUpload(alice)
	e.offset.Add(int64(25 * time.Hour)) // past the 24h inactivity period
	fresh := e.createUpload(alice)

	j := submit(t, s, SubmitParams{Kind: KindUploadCleanup, Payload: []byte(`{}`)})
	if got := waitState(t, s, j.ID, StateSucceeded); got.Attempts != 1 {
		t.Errorf("attempts = %d, want 1", got.Attempts)
	}
	get := func(id string) *uploadv1.Upload {
		r, err := e.upload(alice).GetUpload(t.Context(), connect.NewRequest(&uploadv1.GetUploadRequest{UploadId: id}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Msg.GetUpload()
	}
	if st := get(stale.GetId()).GetState(); st != uploadv1.UploadState_UPLOAD_STATE_EXPIRED {
		t.Errorf("abandoned upload is %v, want EXPIRED", st)
	}
	if e.hasTusFiles(stale.GetId()) {
		t.Error("the abandoned upload's bytes are still stored")
	}
	if st := get(fresh.GetId()).GetState(); st != uploadv1.UploadState_UPLOAD_STATE_UPLOADING {
		t.Errorf("fresh upload is %v, want UPLOADING", st)
	}
	if !e.hasTusFiles(fresh.GetId()) {
		t.Error("the fresh upload's bytes are gone")
	}
	// A bad payload is the job's fault: DEAD at once.
	bad := submit(t, s, SubmitParams{Kind: KindUploadCleanup, Payload: []byte(`{"limit": 99999999}`)})
	if got := waitState(t, s, bad.ID, StateDead); got.Attempts != 1 || !strings.Contains(got.LastError, "limit") {
		t.Errorf("out-of-range limit: %+v", got)
	}
}

func TestMediaDeleteRemovesDeletedVideosMedia(t *testing.T) {
	url := startNATS(t)
	e := newMediaEnv(t, url)
	s := newTestService(t, url, testConfig(), nil, KindOptions{}, WithBuiltins(e.builtins))
	run(t, s)

	doomed := e.createUpload(alice)
	kept := e.createUpload(alice)
	for _, u := range []*uploadv1.Upload{doomed, kept} {
		e.put("uploads/" + u.GetId() + "/source")
		for _, rel := range []string{"master.m3u8", "manifest.mpd", "poster.jpg", "720p/init.mp4", "720p/seg-00001.m4s", "720p/playlist.m3u8"} {
			e.put("videos/" + u.GetVideoId() + "/" + rel)
		}
	}
	if _, err := e.metadata(alice).DeleteVideo(t.Context(), connect.NewRequest(&metadatav1.DeleteVideoRequest{VideoId: doomed.GetVideoId()})); err != nil {
		t.Fatalf("DeleteVideo: %v", err)
	}

	scan := submit(t, s, SubmitParams{Kind: KindMediaDeleteScan})
	waitState(t, s, scan.ID, StateSucceeded)
	jobs, _, err := s.jobs.list(t.Context(), KindMediaDelete, StateUnspecified, 10, "")
	if err != nil || len(jobs) != 1 {
		t.Fatalf("media.delete jobs = %+v, %v; want one", jobs, err)
	}
	if want := "media.delete:" + doomed.GetVideoId(); jobs[0].IdempotencyKey != want {
		t.Errorf("idempotency key %q, want %q", jobs[0].IdempotencyKey, want)
	}
	waitState(t, s, jobs[0].ID, StateSucceeded)

	if left := append(e.keys("uploads/"+doomed.GetId()+"/"), e.keys("videos/"+doomed.GetVideoId()+"/")...); len(left) != 0 {
		t.Errorf("deleted video's media left: %v", left)
	}
	if e.hasTusFiles(doomed.GetId()) {
		t.Error("deleted video's partial upload left")
	}
	if got := e.keyDeletes.list(); len(got) != 1 || got[0] != doomed.GetVideoId() {
		t.Errorf("content keys deleted for %v, want the deleted video only", got)
	}
	if n := len(e.keys("videos/" + kept.GetVideoId() + "/")); n != 6 || len(e.keys("uploads/"+kept.GetId()+"/")) != 1 {
		t.Errorf("the live video lost media: %d renditions left, want 6", n)
	}
	pending, err := e.metadata("").ListPendingMediaDeletions(t.Context(), connect.NewRequest(&metadatav1.ListPendingMediaDeletionsRequest{}))
	if err != nil || len(pending.Msg.GetDeletions()) != 0 {
		t.Errorf("pending deletions = %v, %v; want none (the outbox row is done)", pending.Msg.GetDeletions(), err)
	}

	// Idempotent: deleting again (a redelivered job) succeeds and changes
	// nothing; a second scan finds nothing to queue.
	again := submit(t, s, SubmitParams{Kind: KindMediaDelete, Payload: []byte(`{"video_id":"` + doomed.GetVideoId() + `"}`)})
	waitState(t, s, again.ID, StateSucceeded)
	scan2 := submit(t, s, SubmitParams{Kind: KindMediaDeleteScan})
	waitState(t, s, scan2.ID, StateSucceeded)
	if jobs, _, _ := s.jobs.list(t.Context(), KindMediaDelete, StateUnspecified, 10, ""); len(jobs) != 2 {
		t.Errorf("media.delete jobs after a rescan = %d, want 2 (the scan's and the manual one)", len(jobs))
	}

	// A live video's media is never removed, whoever queues the job.
	live := submit(t, s, SubmitParams{Kind: KindMediaDelete, Payload: []byte(`{"video_id":"` + kept.GetVideoId() + `"}`)})
	if got := waitState(t, s, live.ID, StateDead); got.Attempts != 1 || !strings.Contains(got.LastError, "not deleted") {
		t.Errorf("media.delete of a live video: %+v", got)
	}
	if n := len(e.keys("videos/" + kept.GetVideoId() + "/")); n != 6 {
		t.Errorf("the live video has %d media objects, want 6", n)
	}

	// An id that is no video's is refused before any service is asked.
	bad := submit(t, s, SubmitParams{Kind: KindMediaDelete, Payload: []byte(`{"video_id":"vid_../x"}`)})
	if got := waitState(t, s, bad.ID, StateDead); got.Attempts != 1 || !strings.Contains(got.LastError, "invalid video id") {
		t.Errorf("media.delete of vid_../x: %+v", got)
	}
}

func TestBuiltinSchedulesCreatedOnceAcrossReplicas(t *testing.T) {
	url := startNATS(t)
	_, etcd := etcdservertest.Start(t)
	e := newMediaEnv(t, url)
	var replicas []*Service
	for i := range 2 {
		cfg := testConfig()
		cfg.NodeName = "w" + strconv.Itoa(i)
		s := newTestService(t, url, cfg, nil, KindOptions{}, WithBuiltins(e.builtins))
		s.etcd = etcd
		replicas = append(replicas, s)
	}
	for _, s := range replicas {
		run(t, s)
	}
	c := client(t, replicas[0])
	var got []*workerv1.Schedule
	poll.Until(t, waitTimeout, "the built-in schedules", func() bool {
		r, err := c.ListSchedules(t.Context(), asOperator(&workerv1.ListSchedulesRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		got = r.Msg.GetSchedules()
		return len(got) >= 2
	})
	// Upload cleanup and media deletion (auth is not wired here), once each.
	want := map[string]string{"builtin.media.delete.scan": "* * * * *", "builtin.upload.cleanup": "*/5 * * * *"}
	if len(got) != len(want) {
		t.Fatalf("schedules = %v, want %v", got, want)
	}
	for _, sc := range got {
		if want[sc.GetName()] != sc.GetCronSpec() || sc.GetId() != builtinScheduleID(sc.GetKind()) || sc.GetNextFireTime() == nil {
			t.Errorf("schedule %v", sc)
		}
	}
	// A restart finds them and creates nothing new.
	if err := replicas[1].ensureBuiltinSchedules(t.Context()); err != nil {
		t.Fatal(err)
	}
	all, err := replicas[1].allSchedules(t.Context())
	if err != nil || len(all) != 2 {
		t.Errorf("after a restart: %d schedules, %v; want 2", len(all), err)
	}
}
