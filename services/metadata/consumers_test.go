package metadata

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/services/metadata/store"
)

var occur = timestamppb.New(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))

func uploadCompleted(videoID, creator string) *eventsv1.UploadCompleted {
	return &eventsv1.UploadCompleted{
		EventId: "upload.completed:upl_1", OccurTime: occur, UploadId: "upl_1", VideoId: videoID, CreatorAddress: creator,
		BlobKey: "uploads/upl_1", SizeBytes: 1 << 20,
		MediaInfo: &metadatav1.MediaInfo{FormatName: "mov,mp4", Duration: durationpb.New(20 * time.Second), SizeBytes: 1 << 20},
	}
}

func transcodeCompleted(videoID string) *eventsv1.TranscodeCompleted {
	return &eventsv1.TranscodeCompleted{
		EventId: "transcode.completed:job_1", OccurTime: occur, JobId: "job_1", VideoId: videoID,
		Renditions: []*metadatav1.Rendition{
			{Name: "720p", Width: 1280, Height: 720, FrameRate: 30, Codecs: []string{"avc1.64001f", "mp4a.40.2"}, BandwidthBps: 3_000_000, PlaylistPath: "720p/index.m3u8"},
			{Name: "360p", Width: 640, Height: 360, FrameRate: 30, Codecs: []string{"avc1.4d401e", "mp4a.40.2"}, BandwidthBps: 800_000, PlaylistPath: "360p/index.m3u8"},
		},
		Duration: durationpb.New(20 * time.Second), PosterPath: "poster.jpg", StoryboardPath: "storyboard.vtt",
		HlsManifestPath: "master.m3u8", DashManifestPath: "manifest.mpd",
	}
}

func streamMsgs(t *testing.T, e *env, stream string) uint64 {
	t.Helper()
	s, err := e.bus.JetStream().Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func (e *env) get(t *testing.T, id string) *store.Video {
	t.Helper()
	v, err := e.svc.store.GetVideo(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestConsumersIdempotent delivers every event twice, and stale events
// after the fact: each changes the video once, and VIDEOS holds one
// video.ready.
func TestConsumersIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v := e.create(t, alice, "Idempotent")
	id := v.GetId()

	for i := range 2 {
		if err := e.svc.onUploadCompleted(ctx, uploadCompleted(id, alice)); err != nil {
			t.Fatalf("upload.completed #%d: %v", i+1, err)
		}
	}
	got := e.get(t, id)
	if got.Status != store.StatusProcessing || got.Version != 2 || got.Duration != 20*time.Second || got.Title != "Idempotent" {
		t.Errorf("after upload.completed twice: status %v version %d duration %v title %q; want PROCESSING, version 2",
			got.Status, got.Version, got.Duration, got.Title)
	}

	for i := range 2 {
		if err := e.svc.onTranscodeCompleted(ctx, transcodeCompleted(id)); err != nil {
			t.Fatalf("transcode.completed #%d: %v", i+1, err)
		}
	}
	got = e.get(t, id)
	if got.Status != store.StatusReady || got.Version != 3 || len(got.Renditions) != 2 || got.HLSPath != "master.m3u8" {
		t.Errorf("after transcode.completed twice: status %v version %d; want READY, version 3", got.Status, got.Version)
	}
	// Both deliveries publish (the second covers a crash between write and
	// publish) with the same event id, so the stream keeps one.
	pubs := e.rec.published()
	if len(pubs) != 2 {
		t.Fatalf("published %d events, want 2", len(pubs))
	}
	for _, p := range pubs {
		ready, ok := p.(*eventsv1.VideoReady)
		if !ok || ready.GetEventId() != "video.ready:"+id || ready.GetVideo().GetStatus() != metadatav1.VideoStatus_VIDEO_STATUS_READY {
			t.Errorf("published %v, want VideoReady video.ready:%s", p, id)
		}
	}
	if n := streamMsgs(t, e, "VIDEOS"); n != 1 {
		t.Errorf("VIDEOS holds %d messages, want 1", n)
	}

	// Stale events change nothing: READY does not go back to PROCESSING
	// nor to FAILED.
	if err := e.svc.onUploadCompleted(ctx, uploadCompleted(id, alice)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.onTranscodeFailed(ctx, &eventsv1.TranscodeFailed{EventId: "transcode.failed:job_0", VideoId: id, Reason: "old"}); err != nil {
		t.Fatal(err)
	}
	if after := e.get(t, id); after.Status != store.StatusReady || after.Version != 3 {
		t.Errorf("after stale events: status %v version %d; want READY, version 3", after.Status, after.Version)
	}
	if n := len(e.rec.published()); n != 2 {
		t.Errorf("stale events published: %d events in all, want 2", n)
	}
}

func TestConsumersFailure(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v := e.create(t, alice, "Doomed")
	ev := &eventsv1.TranscodeFailed{EventId: "transcode.failed:job_9", VideoId: v.GetId(), Reason: "ffmpeg: invalid data\x00 found"}
	for range 2 {
		if err := e.svc.onTranscodeFailed(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	got := e.get(t, v.GetId())
	if got.Status != store.StatusFailed || got.StatusReason != "ffmpeg: invalid data found" || got.Version != 2 {
		t.Errorf("after transcode.failed twice: status %v reason %q version %d", got.Status, got.StatusReason, got.Version)
	}
	if n := streamMsgs(t, e, "VIDEOS"); n != 1 {
		t.Errorf("VIDEOS holds %d messages, want 1", n)
	}
	if p := e.rec.published(); len(p) == 0 || p[0].(*eventsv1.VideoFailed).GetEventId() != "video.failed:"+v.GetId() {
		t.Errorf("published %v", p)
	}

	// A deleted video is never moved by events, and nothing is announced.
	d := e.create(t, alice, "Deleted")
	if _, err := e.client.DeleteVideo(ctx, req(alice, &metadatav1.DeleteVideoRequest{VideoId: d.GetId()})); err != nil {
		t.Fatal(err)
	}
	before := len(e.rec.published())
	if err := e.svc.onUploadCompleted(ctx, uploadCompleted(d.GetId(), alice)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.onTranscodeCompleted(ctx, transcodeCompleted(d.GetId())); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, d.GetId()); got.Status != store.StatusDeleted {
		t.Errorf("deleted video moved to %v", got.Status)
	}
	if len(e.rec.published()) != before {
		t.Error("an event for a deleted video was announced")
	}

	// Events naming no valid video are dropped for good, not retried.
	for _, err := range []error{
		e.svc.onTranscodeCompleted(ctx, transcodeCompleted("not-a-video")),
		e.svc.onUploadCompleted(ctx, uploadCompleted("vid_unknown", "0xbad")),
	} {
		if !errorsIsPermanent(err) {
			t.Errorf("got %v, want a permanent error", err)
		}
	}
	// Events about a video metadata never had are dropped too: upload
	// creates the video before any of them can exist.
	for _, err := range []error{
		e.svc.onTranscodeCompleted(ctx, transcodeCompleted("vid_never")),
		e.svc.onTranscodeFailed(ctx, &eventsv1.TranscodeFailed{VideoId: "vid_never", Reason: "x"}),
		e.svc.onUploadCompleted(ctx, uploadCompleted("vid_never", alice)),
	} {
		if !errorsIsPermanent(err) {
			t.Errorf("got %v, want a permanent error", err)
		}
	}
}

// TestConsumersOverJetStream runs the service's consumers: upload.completed
// moves the video upload created to PROCESSING, transcode.completed makes it
// READY, and video.ready comes out.
func TestConsumersOverJetStream(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	readyCh := make(chan *eventsv1.VideoReady, 4)
	sub, err := events.Subscribe(t.Context(), e.bus, "test-video-ready", func(_ context.Context, ev *eventsv1.VideoReady) error {
		readyCh <- ev
		return nil
	}, events.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)

	id := e.create(t, alice, "From the upload").GetId()
	if err := e.bus.Publish(ctx, uploadCompleted(id, alice)); err != nil {
		t.Fatal(err)
	}
	// The two subjects have their own consumers, so their order is not
	// kept: publish the transcode once the upload's effect is stored, as
	// the transcoder only can.
	for deadline := time.Now().Add(waitTimeout); e.get(t, id).Status != store.StatusProcessing; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("video still %v after upload.completed", e.get(t, id).Status)
		}
	}
	if err := e.bus.Publish(ctx, transcodeCompleted(id)); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-readyCh:
		v := ev.GetVideo()
		if v.GetId() != id || v.GetStatus() != metadatav1.VideoStatus_VIDEO_STATUS_READY || v.GetCreatorAddress() != alice ||
			v.GetTitle() != "From the upload" || v.GetUploadId() != "upl_1" {
			t.Errorf("video.ready carried %v", v)
		}
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for video.ready")
	}
}

func errorsIsPermanent(err error) bool {
	return err != nil && errorsIs(err, events.ErrPermanent)
}

var errorsIs = errors.Is
