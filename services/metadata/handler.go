package metadata

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/rpcerr"
	"github.com/streamgate/streamgate/services/metadata/store"
)

// handler adapts Service to the generated interface: proto in, domain call,
// proto out.
type handler struct {
	metadatav1connect.UnimplementedMetadataServiceHandler
	svc *Service
}

func (h *handler) fail(ctx context.Context, err error) error {
	return rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
}

func (h *handler) CreateVideo(ctx context.Context, req *connect.Request[metadatav1.CreateVideoRequest]) (*connect.Response[metadatav1.CreateVideoResponse], error) {
	m := req.Msg
	v, err := h.svc.CreateVideo(ctx, NewVideo{
		RequestID: m.GetRequestId(), Creator: m.GetCreatorAddress(), Title: m.GetTitle(), Description: m.GetDescription(),
		Tags: m.GetTags(), Policy: m.GetAccessPolicy(), UploadID: m.GetUploadId(), AllowedOrigins: m.GetAllowedOrigins(),
		Packaging: m.GetPackaging(),
	})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&metadatav1.CreateVideoResponse{Video: VideoToProto(v)}), nil
}

func (h *handler) GetVideo(ctx context.Context, req *connect.Request[metadatav1.GetVideoRequest]) (*connect.Response[metadatav1.GetVideoResponse], error) {
	v, err := h.svc.GetVideo(ctx, req.Msg.GetVideoId())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&metadatav1.GetVideoResponse{Video: viewFor(ctx, v)}), nil
}

func (h *handler) UpdateVideo(ctx context.Context, req *connect.Request[metadatav1.UpdateVideoRequest]) (*connect.Response[metadatav1.UpdateVideoResponse], error) {
	pv := req.Msg.GetVideo()
	v, err := h.svc.UpdateVideo(ctx, pv.GetId(), pv.GetEtag(), req.Msg.GetUpdateMask().GetPaths(), Changes{
		Title: pv.GetTitle(), Description: pv.GetDescription(), Tags: pv.GetTags(), Policy: pv.GetAccessPolicy(),
		AllowedOrigins: pv.GetAllowedOrigins(), Packaging: pv.GetPackaging(),
	})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&metadatav1.UpdateVideoResponse{Video: VideoToProto(v)}), nil
}

func (h *handler) DeleteVideo(ctx context.Context, req *connect.Request[metadatav1.DeleteVideoRequest]) (*connect.Response[metadatav1.DeleteVideoResponse], error) {
	v, err := h.svc.DeleteVideo(ctx, req.Msg.GetVideoId(), req.Msg.GetEtag())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&metadatav1.DeleteVideoResponse{Video: VideoToProto(v)}), nil
}

func (h *handler) ListVideos(ctx context.Context, req *connect.Request[metadatav1.ListVideosRequest]) (*connect.Response[metadatav1.ListVideosResponse], error) {
	m := req.Msg
	p := ListParams{
		PageSize: int(m.GetPageSize()), PageToken: m.GetPageToken(), Creator: m.GetCreatorAddress(),
		Status: store.Status(m.GetStatus()), Tag: m.GetTag(),
	}
	switch m.GetGated() {
	case metadatav1.GatedFilter_GATED_FILTER_UNSPECIFIED:
	case metadatav1.GatedFilter_GATED_FILTER_PUBLIC:
		p.Gated = new(false)
	case metadatav1.GatedFilter_GATED_FILTER_GATED:
		p.Gated = new(true)
	default:
		return nil, h.fail(ctx, invalidf("unknown gated filter %d", m.GetGated()))
	}
	vs, next, err := h.svc.ListVideos(ctx, p)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	res := &metadatav1.ListVideosResponse{NextPageToken: next}
	for _, v := range vs {
		res.Videos = append(res.Videos, viewFor(ctx, v))
	}
	return connect.NewResponse(res), nil
}

func (h *handler) SearchVideos(ctx context.Context, req *connect.Request[metadatav1.SearchVideosRequest]) (*connect.Response[metadatav1.SearchVideosResponse], error) {
	vs, next, err := h.svc.SearchVideos(ctx, req.Msg.GetQuery(), int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	res := &metadatav1.SearchVideosResponse{NextPageToken: next}
	for _, v := range vs {
		res.Videos = append(res.Videos, viewFor(ctx, v))
	}
	return connect.NewResponse(res), nil
}

// viewFor returns what the caller may see of v (see the package doc): the
// creator and operators see everything; others do not see the upload id.
func viewFor(ctx context.Context, v *store.Video) *metadatav1.Video {
	p := VideoToProto(v)
	if !canSeeAll(identity.FromContext(ctx), v) {
		p.UploadId = ""
	}
	return p
}

// VideoToProto renders a stored video in full, as events carry it.
func VideoToProto(v *store.Video) *metadatav1.Video {
	p := &metadatav1.Video{
		Id:               v.ID,
		CreatorAddress:   v.Creator,
		Title:            v.Title,
		Description:      v.Description,
		Tags:             v.Tags,
		Status:           metadatav1.VideoStatus(v.Status),
		StatusReason:     v.StatusReason,
		PosterPath:       v.PosterPath,
		StoryboardPath:   v.Storyboard,
		HlsManifestPath:  v.HLSPath,
		DashManifestPath: v.DASHPath,
		UploadId:         v.UploadID,
		CreateTime:       timestamppb.New(v.CreateTime),
		UpdateTime:       timestamppb.New(v.UpdateTime),
		Etag:             etag(v.Version),
		AllowedOrigins:   v.AllowedOrigins,
		Packaging:        v.Packaging,
		Encrypted:        v.Encrypted,
	}
	if v.Duration > 0 {
		p.Duration = durationpb.New(v.Duration)
	}
	for _, r := range v.Renditions {
		p.Renditions = append(p.Renditions, proto.CloneOf(r))
	}
	if v.Policy != nil {
		p.AccessPolicy = proto.CloneOf(v.Policy)
	}
	return p
}
