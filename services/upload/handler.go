package upload

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

// handler adapts Service to the generated interface.
type handler struct {
	uploadv1connect.UnimplementedUploadServiceHandler
	svc *Service
}

func (h *handler) err(ctx context.Context, err error) error {
	return rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
}

func (h *handler) CreateUpload(ctx context.Context, req *connect.Request[uploadv1.CreateUploadRequest]) (*connect.Response[uploadv1.CreateUploadResponse], error) {
	caller, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	p, err := validateCreate(req.Msg)
	if err != nil {
		return nil, h.err(ctx, err)
	}
	rec, err := h.svc.create(ctx, caller.Address, p)
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&uploadv1.CreateUploadResponse{Upload: h.svc.toProto(rec)}), nil
}

func (h *handler) GetUpload(ctx context.Context, req *connect.Request[uploadv1.GetUploadRequest]) (*connect.Response[uploadv1.GetUploadResponse], error) {
	caller, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := h.svc.get(ctx, caller.Address, req.Msg.GetUploadId())
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&uploadv1.GetUploadResponse{Upload: h.svc.toProto(rec)}), nil
}

func (h *handler) ListUploads(ctx context.Context, req *connect.Request[uploadv1.ListUploadsRequest]) (*connect.Response[uploadv1.ListUploadsResponse], error) {
	caller, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	recs, next, err := h.svc.list(ctx, caller.Address, req.Msg.GetState(), req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err != nil {
		return nil, h.err(ctx, err)
	}
	res := &uploadv1.ListUploadsResponse{NextPageToken: next}
	for _, r := range recs {
		res.Uploads = append(res.Uploads, h.svc.toProto(r))
	}
	return connect.NewResponse(res), nil
}

func (h *handler) CancelUpload(ctx context.Context, req *connect.Request[uploadv1.CancelUploadRequest]) (*connect.Response[uploadv1.CancelUploadResponse], error) {
	caller, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := h.svc.cancel(ctx, caller.Address, req.Msg.GetUploadId())
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&uploadv1.CancelUploadResponse{Upload: h.svc.toProto(rec)}), nil
}

func (s *Service) toProto(r *record) *uploadv1.Upload {
	u := &uploadv1.Upload{
		Id:             r.ID,
		VideoId:        r.VideoID,
		CreatorAddress: r.Creator,
		Title:          r.Title,
		State:          r.State,
		OffsetBytes:    r.Offset,
		SizeBytes:      r.Size,
		ContentType:    r.ContentType,
		Filename:       r.Filename,
		TusUrl:         s.cfg.PublicBaseURL + tusBasePath + r.ID,
		FailureReason:  r.FailureReason,
		CreateTime:     timestamppb.New(r.CreateTime),
		UpdateTime:     timestamppb.New(r.UpdateTime),
		ExpireTime:     timestamppb.New(r.ExpireTime),
	}
	if r.State == stateCompleted {
		u.Sha256 = r.SHA256
	}
	if r.State == stateCompleted || r.State == stateFailed {
		u.MediaInfo = r.MediaInfo
	}
	return u
}
