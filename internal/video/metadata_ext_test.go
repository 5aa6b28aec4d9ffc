package video_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/video"
)

// metadataServer knows vid_1, has never heard of any other video, and
// fails every call for vid_down with Unavailable.
type metadataServer struct {
	metadatav1connect.UnimplementedMetadataServiceHandler
}

func (metadataServer) GetVideo(_ context.Context, req *connect.Request[metadatav1.GetVideoRequest]) (*connect.Response[metadatav1.GetVideoResponse], error) {
	switch id := req.Msg.GetVideoId(); id {
	case "vid_1":
		return connect.NewResponse(&metadatav1.GetVideoResponse{Video: &metadatav1.Video{Id: id, Title: "one"}}), nil
	case "vid_down":
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("store down"))
	default:
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such video"))
	}
}

func source(t *testing.T) video.Source {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(metadatav1connect.NewMetadataServiceHandler(metadataServer{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return video.FromMetadata(metadatav1connect.NewMetadataServiceClient(srv.Client(), srv.URL))
}

func TestSourceGetVideo(t *testing.T) {
	src := source(t)

	v, err := src.GetVideo(t.Context(), "vid_1")
	if err != nil || v.GetId() != "vid_1" || v.GetTitle() != "one" {
		t.Errorf("GetVideo(vid_1) = %v, %v; want the video", v, err)
	}

	_, err = src.GetVideo(t.Context(), "vid_2")
	if !errors.Is(err, video.ErrNotFound) {
		t.Errorf("GetVideo(vid_2) error = %v, want one wrapping ErrNotFound", err)
	}

	_, err = src.GetVideo(t.Context(), "vid_down")
	if err == nil || errors.Is(err, video.ErrNotFound) {
		t.Errorf("GetVideo(vid_down) error = %v, want an error that is not ErrNotFound", err)
	}
	if got := connect.CodeOf(err); got != connect.CodeUnavailable {
		t.Errorf("GetVideo(vid_down) code = %v, want %v", got, connect.CodeUnavailable)
	}
}
