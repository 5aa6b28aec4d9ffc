package upload

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/internal/rpcerr"
	"github.com/streamgate/streamgate/internal/video"
)

// The internal RPCs the worker's built-in jobs call (ACCESS_INTERNAL: the
// gateway never routes them from outside).

const (
	defaultExpireLimit = 1000
	maxExpireLimit     = 10000
)

func (h *handler) ExpireAbandonedUploads(ctx context.Context, req *connect.Request[uploadv1.ExpireAbandonedUploadsRequest]) (*connect.Response[uploadv1.ExpireAbandonedUploadsResponse], error) {
	limit := int(req.Msg.GetLimit())
	switch {
	case limit < 0 || limit > maxExpireLimit:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("limit must be 0 to %d", maxExpireLimit))
	case limit == 0:
		limit = defaultExpireLimit
	}
	n, more, err := h.svc.ExpireAbandoned(ctx, limit)
	if err != nil {
		return nil, h.err(ctx, unavailable(err))
	}
	return connect.NewResponse(&uploadv1.ExpireAbandonedUploadsResponse{ExpiredCount: int32(n), More: more}), nil
}

func (h *handler) DeleteVideoSource(ctx context.Context, req *connect.Request[uploadv1.DeleteVideoSourceRequest]) (*connect.Response[uploadv1.DeleteVideoSourceResponse], error) {
	id := req.Msg.GetVideoId()
	if err := video.CheckID(id); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("video_id: %w", err))
	}
	n, err := h.svc.DeleteVideoSource(ctx, id)
	if err != nil {
		return nil, h.err(ctx, unavailable(err))
	}
	return connect.NewResponse(&uploadv1.DeleteVideoSourceResponse{UploadCount: int32(n)}), nil
}

// unavailable turns a store failure into Unavailable (the caller, a job,
// retries); domain errors and context errors keep their codes.
func unavailable(err error) error {
	var de *rpcerr.Error
	if errors.As(err, &de) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return errorf(connect.CodeUnavailable, "upload store unavailable: %v", err)
}

// ExpireAbandoned expires up to limit unfinished uploads past their
// expire_time, oldest first (see Sweep). more reports that others remain.
func (s *Service) ExpireAbandoned(ctx context.Context, limit int) (n int, more bool, err error) {
	now := s.cfg.Now()
	ids, err := s.db.idsInState(ctx, []uploadv1.UploadState{stateCreated, stateUploading}, now)
	if err != nil {
		return 0, false, err
	}
	if limit > 0 && len(ids) > limit {
		ids, more = ids[:limit], true
	}
	var firstErr error
	for _, id := range ids {
		if err := s.expire(ctx, id, now); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("expire %s: %w", id, err)
			}
			continue
		}
		n++
	}
	return n, more, firstErr
}

// DeleteVideoSource deletes the bytes of every upload of videoID (after
// the video was deleted). Records stay. It returns how many uploads it
// cleaned.
func (s *Service) DeleteVideoSource(ctx context.Context, videoID string) (int, error) {
	ids, err := s.db.idsOfVideo(ctx, videoID)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := s.deleteSource(ctx, id); err != nil {
			return 0, fmt.Errorf("delete bytes of %s: %w", id, err)
		}
	}
	return len(ids), nil
}

func (s *Service) deleteSource(ctx context.Context, id string) error {
	// The completion pipeline may be copying this upload into the blob
	// store: wait for it, so nothing is written after the delete.
	unlock, err := s.lockUpload(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	return s.deleteBytes(ctx, id)
}
