package metadata

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/services/metadata/store"
)

// Durable consumer names, one per subject. Every metadata instance uses
// the same names, so they share the work.
const (
	durableUploadCompleted    = "metadata-upload-completed"
	durableUploadFailed       = "metadata-upload-failed"
	durableTranscodeCompleted = "metadata-transcode-completed"
	durableTranscodeFailed    = "metadata-transcode-failed"
)

// maxReason bounds a stored status reason, in bytes.
const maxReason = 1000

// Run consumes upload and transcode events until ctx is done.
//
// The consumers are idempotent without a dedupe table: every transition is
// guarded in SQL by the state it starts from (UPLOADING -> PROCESSING,
// UPLOADING|PROCESSING -> READY|FAILED), so a redelivered event matches no
// row and changes nothing, a stale upload.completed never moves a READY
// video back, and nothing ever moves a DELETED video.
func (s *Service) Run(ctx context.Context) error {
	var subs []*events.Subscription
	defer func() {
		for _, sub := range subs {
			sub.Stop()
		}
	}()
	add := func(sub *events.Subscription, err error) error {
		if err != nil && ctx.Err() != nil {
			// Stopped while subscribing: a shutdown, not a failure.
			return nil
		}
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		subs = append(subs, sub)
		return nil
	}
	opts := events.SubscribeOptions{}
	if err := add(events.Subscribe(ctx, s.bus, durableUploadCompleted, s.onUploadCompleted, opts)); err != nil {
		return err
	}
	if err := add(events.Subscribe(ctx, s.bus, durableUploadFailed, s.onUploadFailed, opts)); err != nil {
		return err
	}
	if err := add(events.Subscribe(ctx, s.bus, durableTranscodeCompleted, s.onTranscodeCompleted, opts)); err != nil {
		return err
	}
	if err := add(events.Subscribe(ctx, s.bus, durableTranscodeFailed, s.onTranscodeFailed, opts)); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// dropIfMissing makes an event about a video metadata does not have a
// permanent failure: upload creates the video before it accepts a byte, and
// a deleted video keeps its row, so no later delivery can find it.
func dropIfMissing(err error, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return events.Permanent(fmt.Errorf("video %s does not exist", id))
	}
	return err
}

// onUploadCompleted moves the video to PROCESSING with what the probe found.
func (s *Service) onUploadCompleted(ctx context.Context, ev *eventsv1.UploadCompleted) error {
	if err := checkVideoID(ev.GetVideoId()); err != nil {
		return events.Permanent(err)
	}
	if err := checkOpaqueID("upload_id", ev.GetUploadId(), false); err != nil {
		return events.Permanent(err)
	}
	v, changed, err := s.store.MarkProcessing(ctx, store.Processing{
		VideoID:   ev.GetVideoId(),
		UploadID:  ev.GetUploadId(),
		Duration:  ev.GetMediaInfo().GetDuration().AsDuration(),
		MediaInfo: ev.GetMediaInfo(),
	})
	if err != nil {
		return dropIfMissing(err, ev.GetVideoId())
	}
	s.logger.InfoContext(ctx, "upload completed", "video_id", v.ID, "status", v.Status.String(), "changed", changed)
	return nil
}

func (s *Service) onUploadFailed(ctx context.Context, ev *eventsv1.UploadFailed) error {
	return s.fail(ctx, ev.GetVideoId(), ev.GetReason())
}

// onTranscodeCompleted marks the video READY with its ladder and announces
// it.
func (s *Service) onTranscodeCompleted(ctx context.Context, ev *eventsv1.TranscodeCompleted) error {
	if err := checkVideoID(ev.GetVideoId()); err != nil {
		return events.Permanent(err)
	}
	v, changed, err := s.store.MarkReady(ctx, store.Ready{
		VideoID:    ev.GetVideoId(),
		Renditions: ev.GetRenditions(),
		Duration:   ev.GetDuration().AsDuration(),
		PosterPath: ev.GetPosterPath(),
		Storyboard: ev.GetStoryboardPath(),
		HLSPath:    ev.GetHlsManifestPath(),
		DASHPath:   ev.GetDashManifestPath(),
		Encrypted:  ev.GetEncryptionScheme() != "",
	})
	if err != nil {
		return dropIfMissing(err, ev.GetVideoId())
	}
	s.logger.InfoContext(ctx, "transcode completed", "video_id", v.ID, "status", v.Status.String(), "changed", changed)
	if v.Status != store.StatusReady {
		return nil // a late event for a video deleted or failed meanwhile
	}
	// Published after the write, and again on every redelivery while the
	// video is READY: if the process dies between the write and the publish,
	// the redelivery (which changes nothing) still announces it. Repeats are
	// harmless: the event_id is stable, JetStream drops duplicates within
	// its 2-minute window, and consumers deduplicate on event_id after that.
	return s.pub.Publish(ctx, &eventsv1.VideoReady{
		EventId:   "video.ready:" + v.ID,
		OccurTime: timestamppb.New(v.UpdateTime),
		Video:     VideoToProto(v),
	})
}

func (s *Service) onTranscodeFailed(ctx context.Context, ev *eventsv1.TranscodeFailed) error {
	reason := ev.GetReason()
	if ev.GetCanceled() {
		reason = "transcoding canceled: " + reason
	}
	return s.fail(ctx, ev.GetVideoId(), reason)
}

// fail marks the video FAILED and announces it; see onTranscodeCompleted
// for why the publish may repeat.
func (s *Service) fail(ctx context.Context, id, reason string) error {
	if err := checkVideoID(id); err != nil {
		return events.Permanent(err)
	}
	v, changed, err := s.store.MarkFailed(ctx, id, cleanReason(reason))
	if err != nil {
		return dropIfMissing(err, id)
	}
	s.logger.InfoContext(ctx, "video failed", "video_id", v.ID, "status", v.Status.String(), "changed", changed, "reason", v.StatusReason)
	if v.Status != store.StatusFailed {
		return nil
	}
	return s.pub.Publish(ctx, &eventsv1.VideoFailed{
		EventId:   "video.failed:" + v.ID,
		OccurTime: timestamppb.New(v.UpdateTime),
		Video:     VideoToProto(v),
	})
}

// cleanReason makes a reason from another service safe to store and show:
// valid UTF-8, no NUL, bounded.
func cleanReason(r string) string {
	r = strings.ToValidUTF8(r, "\uFFFD")
	r = strings.ReplaceAll(r, "\x00", "")
	if r == "" {
		r = "failed"
	}
	if len(r) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(r[cut]) {
			cut--
		}
		r = r[:cut] + "..."
	}
	return r
}
