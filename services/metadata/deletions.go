package metadata

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
)

// The media_deletions outbox, drained by the worker (ACCESS_INTERNAL
// RPCs): it lists the pending removals, deletes the media from the
// services that own it, then completes each removal here.

const (
	defaultDeletionPage = 100
	maxDeletionPage     = 1000
)

func (h *handler) ListPendingMediaDeletions(ctx context.Context, req *connect.Request[metadatav1.ListPendingMediaDeletionsRequest]) (*connect.Response[metadatav1.ListPendingMediaDeletionsResponse], error) {
	size := int(req.Msg.GetPageSize())
	switch {
	case size < 0 || size > maxDeletionPage:
		return nil, h.fail(ctx, fmt.Errorf("%w: page_size must be 0 to %d", ErrInvalidArgument, maxDeletionPage))
	case size == 0:
		size = defaultDeletionPage
	}
	ds, err := h.svc.store.PendingMediaDeletions(ctx, size)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	res := &metadatav1.ListPendingMediaDeletionsResponse{}
	for _, d := range ds {
		res.Deletions = append(res.Deletions, &metadatav1.MediaDeletion{VideoId: d.VideoID, RequestTime: timestamppb.New(d.RequestTime)})
	}
	return connect.NewResponse(res), nil
}

func (h *handler) CompleteMediaDeletion(ctx context.Context, req *connect.Request[metadatav1.CompleteMediaDeletionRequest]) (*connect.Response[metadatav1.CompleteMediaDeletionResponse], error) {
	id := req.Msg.GetVideoId()
	if id == "" || len(id) > 128 {
		return nil, h.fail(ctx, fmt.Errorf("%w: video_id is required (at most 128 characters)", ErrInvalidArgument))
	}
	if err := h.svc.store.CompleteMediaDeletion(ctx, id, h.svc.now()); err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&metadatav1.CompleteMediaDeletionResponse{}), nil
}
