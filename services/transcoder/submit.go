package transcoder

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/transcode"
	"github.com/streamgate/streamgate/internal/video"
)

// SubmitParams describes a job to queue.
type SubmitParams struct {
	// RequestID is the idempotency key, 1 to 64 characters.
	RequestID string
	VideoID   string
	UploadID  string
	// CreatorAddress is the wallet that owns the video; only it sees the
	// job.
	CreatorAddress string
	// SourceKey is the blob key of the uploaded file.
	SourceKey string
	// Ladder overrides the configured ladder when not empty.
	Ladder []transcode.Rung
}

var idPattern = regexp.MustCompile(`^[a-z]+_[A-Za-z0-9]{1,60}$`)

func (p SubmitParams) validate() error {
	switch {
	case p.RequestID == "" || len(p.RequestID) > 64:
		return invalid("request_id must be 1 to 64 characters")
	case !idPattern.MatchString(p.UploadID):
		return invalid("upload_id %q is not an upload id", p.UploadID)
	case p.CreatorAddress == "":
		return invalid("the video's creator is unknown")
	}
	if err := video.CheckID(p.VideoID); err != nil {
		return fmt.Errorf("%w: video_id: %w", ErrInvalid, err)
	}
	if err := blob.ValidateKey(p.SourceKey); err != nil {
		return invalid("source blob key: %v", err)
	}
	if len(p.Ladder) > 0 {
		if err := transcode.ValidateLadder(p.Ladder); err != nil {
			return invalid("ladder: %v", err)
		}
	}
	return nil
}

// Submit queues a job, idempotently on RequestID and on the video (while a
// job for the video is QUEUED or RUNNING it is returned unchanged).
func (s *Service) Submit(ctx context.Context, p SubmitParams) (*Job, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	st, _, err := s.setup(ctx)
	if err != nil {
		return nil, err
	}
	if e, err := st.kv.Get(ctx, requestKey(p.RequestID)); err == nil {
		j, _, err := st.get(ctx, string(e.Value()))
		switch {
		case errors.Is(err, ErrNotFound):
			// The job has expired and its request id is about to: the
			// request is new again.
			if err := st.kv.Delete(ctx, requestKey(p.RequestID), jetstream.LastRevision(e.Revision())); err != nil && !isConflict(err) {
				return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
		case err != nil:
			return nil, err
		default:
			return j, s.enqueue(ctx, j)
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// A job already active for the video is the answer.
	if e, err := st.kv.Get(ctx, activeKey(p.VideoID)); err == nil {
		if j, _, err := st.get(ctx, string(e.Value())); err == nil && !j.State.Terminal() {
			_, _ = st.kv.Create(ctx, requestKey(p.RequestID), []byte(j.ID))
			return j, nil
		}
	}
	if s.cfg.MaxQueueDepth > 0 {
		// The queue index, not the jobs: as many entries as jobs wait.
		queue, err := st.queue(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if len(queue) >= s.cfg.MaxQueueDepth {
			return nil, ErrQueueFull
		}
	}
	j := &Job{
		ID: "job_" + ulid.Make().String(), VideoID: p.VideoID, UploadID: p.UploadID,
		CreatorAddress: p.CreatorAddress, SourceKey: p.SourceKey, RequestID: p.RequestID,
		Ladder: p.Ladder, State: StateQueued, CreateTime: time.Now().UTC(),
	}
	if err := st.create(ctx, j); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if _, err := st.kv.Create(ctx, requestKey(p.RequestID), []byte(j.ID)); err != nil {
		// Someone else won the race on this request id: theirs is the job.
		st.remove(ctx, j)
		if e, gerr := st.kv.Get(ctx, requestKey(p.RequestID)); gerr == nil {
			other, _, gerr := st.get(ctx, string(e.Value()))
			if gerr == nil {
				return other, nil
			}
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if _, err := st.kv.Put(ctx, activeKey(p.VideoID), []byte(j.ID)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := st.indexUpload(ctx, j); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return j, s.enqueue(ctx, j)
}

// enqueue puts a QUEUED job that no attempt has taken yet into the work
// queue. The message id is the job id, so doing it again (a retried
// submit) within the duplicate window queues nothing new, and a worker
// drops a second message for a job already taken.
func (s *Service) enqueue(ctx context.Context, j *Job) error {
	if j.State != StateQueued || j.Attempt != 0 {
		return nil
	}
	if _, err := s.bus.JetStream().Publish(ctx, queueSubj, []byte(j.ID), jetstream.WithMsgID(j.ID)); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// onUploadCompleted queues a job for every completed upload; the event id
// is the request id, so a redelivered event queues nothing new.
func (s *Service) onUploadCompleted(ctx context.Context, ev *eventsv1.UploadCompleted) error {
	_, err := s.Submit(ctx, SubmitParams{
		RequestID: ev.GetEventId(), VideoID: ev.GetVideoId(), UploadID: ev.GetUploadId(),
		CreatorAddress: ev.GetCreatorAddress(), SourceKey: ev.GetBlobKey(),
	})
	if errors.Is(err, ErrInvalid) {
		s.logger.Error("transcoder: unusable upload.completed event", "event_id", ev.GetEventId(), "err", err)
		return events.Permanent(err)
	}
	return err
}

// Resubmit queues a new job for a video from an upload the transcoder has
// already seen (through its upload.completed event): the source blob and
// the creator are taken from that upload's latest job.
func (s *Service) Resubmit(ctx context.Context, requestID, videoID, uploadID string, ladder []transcode.Rung) (*Job, error) {
	if requestID == "" || len(requestID) > 64 {
		return nil, invalid("request_id must be 1 to 64 characters")
	}
	if err := video.CheckID(videoID); err != nil {
		return nil, fmt.Errorf("%w: video_id: %w", ErrInvalid, err)
	}
	if uploadID == "" {
		return nil, invalid("upload_id is required")
	}
	st, _, err := s.setup(ctx)
	if err != nil {
		return nil, err
	}
	// The upload's entry names its latest job: no other job is read.
	prev, err := st.byUpload(ctx, uploadID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: no completed upload %s of video %s is known", ErrNotFound, uploadID, videoID)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if prev.VideoID != videoID {
		return nil, precondition("upload %s does not belong to video %s", uploadID, videoID)
	}
	return s.Submit(ctx, SubmitParams{RequestID: requestID, VideoID: videoID, UploadID: uploadID,
		CreatorAddress: prev.CreatorAddress, SourceKey: prev.SourceKey, Ladder: ladder})
}
