package transcoder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"

	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/internal/rpcerr"
	"github.com/streamgate/streamgate/internal/video"
)

// DeleteVideoMedia is internal: the worker's media.delete job calls it for
// a deleted video.
func (h *handler) DeleteVideoMedia(ctx context.Context, req *connect.Request[transcoderv1.DeleteVideoMediaRequest]) (*connect.Response[transcoderv1.DeleteVideoMediaResponse], error) {
	n, canceled, err := h.svc.DeleteVideoMedia(ctx, req.Msg.GetVideoId())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&transcoderv1.DeleteVideoMediaResponse{DeletedObjects: int32(n), JobCanceled: canceled}), nil
}

// DeleteVideoMedia cancels the video's QUEUED or RUNNING job, if any, so
// that nothing is published afterwards, then deletes everything published
// under the video's prefix. Running it again deletes what is left, if
// anything (a worker that had not yet seen the cancel also deletes its own
// output when it stops).
func (s *Service) DeleteVideoMedia(ctx context.Context, videoID string) (deleted int, canceled bool, err error) {
	if err := video.CheckID(videoID); err != nil {
		return 0, false, fmt.Errorf("%w: video_id: %w", ErrInvalid, err)
	}
	st, _, err := s.setup(ctx)
	if err != nil {
		return 0, false, err
	}
	e, err := st.kv.Get(ctx, activeKey(videoID))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return 0, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	default:
		j, err := st.update(ctx, string(e.Value()), func(j *Job) error {
			canceled = false
			if j.State.Terminal() {
				return errNoChange
			}
			j.State, j.FinishTime, j.ETA, canceled = StateCanceled, time.Now().UTC(), 0, true
			return nil
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if canceled {
			j.FailureReason = "video deleted"
			s.finished(ctx, st, j, nil)
		}
	}
	infos, err := s.blobs.List(ctx, s.tc.VideoPrefix(videoID))
	if err != nil {
		return 0, canceled, fmt.Errorf("%w: list media: %w", ErrUnavailable, err)
	}
	for _, in := range infos {
		if err := s.blobs.Delete(ctx, in.Key); err != nil {
			return deleted, canceled, fmt.Errorf("%w: delete %s: %w", ErrUnavailable, in.Key, err)
		}
		deleted++
	}
	return deleted, canceled, nil
}
