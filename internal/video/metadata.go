package video

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
)

// ErrNotFound is wrapped by Source.GetVideo for a video metadata does not
// know (or hides from the caller, as it does a deleted one).
var ErrNotFound = errors.New("video not found")

// Source reads videos from the metadata service.
type Source struct {
	client metadatav1connect.MetadataServiceClient
}

// FromMetadata reads videos through client (a mesh client in the binary).
func FromMetadata(client metadatav1connect.MetadataServiceClient) Source {
	return Source{client: client}
}

// GetVideo returns the video. NotFound from metadata becomes an error
// wrapping ErrNotFound; any other error means metadata could not answer,
// and keeps its Connect code.
func (s Source) GetVideo(ctx context.Context, id string) (*metadatav1.Video, error) {
	res, err := s.client.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: id}))
	if connect.CodeOf(err) == connect.CodeNotFound {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotFound, id, err)
	}
	if err != nil {
		return nil, err
	}
	return res.Msg.GetVideo(), nil
}
