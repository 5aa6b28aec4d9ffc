package transcoder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/cenc"
	"github.com/streamgate/streamgate/internal/transcode"
)

// Protector decides, when a job starts, how its video is packaged: nil
// for clear segments, else the keys and the preview. An error fails the
// attempt retryably: a video that must be encrypted is never published
// in the clear because a service was down.
type Protector interface {
	Encryption(ctx context.Context, videoID string) (*transcode.Encryption, error)
}

// MeshProtector reads the video's packaging and policy from metadata and
// its content keys from auth.
type MeshProtector struct {
	Metadata metadatav1connect.MetadataServiceClient
	Auth     authv1connect.AuthServiceClient
}

// Encryption implements Protector. Automatic packaging encrypts a video
// that is gated when its job starts: its segments then need no token and
// can sit on any cache, and only holders get the key. The preview length
// is the policy's at this moment, and a later change does not re-encrypt.
func (m MeshProtector) Encryption(ctx context.Context, videoID string) (*transcode.Encryption, error) {
	gv, err := m.Metadata.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
	if err != nil {
		return nil, fmt.Errorf("transcoder: read the video's packaging: %w", err)
	}
	v := gv.Msg.GetVideo()
	switch v.GetPackaging() {
	case metadatav1.Packaging_PACKAGING_CLEAR:
		return nil, nil
	case metadatav1.Packaging_PACKAGING_UNSPECIFIED:
		if !gated(v.GetAccessPolicy()) {
			return nil, nil
		}
	case metadatav1.Packaging_PACKAGING_ENCRYPTED:
	default:
		return nil, fmt.Errorf("transcoder: unknown packaging %v", v.GetPackaging())
	}
	kr, err := m.Auth.EnsureContentKeys(ctx, connect.NewRequest(&authv1.EnsureContentKeysRequest{VideoId: videoID, PreviewSeconds: v.GetAccessPolicy().GetPreviewSeconds()}))
	if err != nil {
		return nil, fmt.Errorf("transcoder: content keys: %w", err)
	}
	return encryptionFrom(kr.Msg.GetKeys(), v.GetAccessPolicy().GetPreviewSeconds())
}

// encryptionFrom builds a job's encryption from auth's keys: cbcs, which
// every player we serve plays and Apple devices require.
func encryptionFrom(keys []*authv1.ContentKey, previewSeconds uint32) (*transcode.Encryption, error) {
	e := &transcode.Encryption{Scheme: cenc.CBCS}
	var haveFull, havePreview bool
	for _, k := range keys {
		var ck cenc.Key
		if len(k.GetKeyId()) != cenc.KeySize || len(k.GetKey()) != cenc.KeySize {
			return nil, errors.New("transcoder: content keys: a key or key id is not 16 bytes")
		}
		copy(ck.ID[:], k.GetKeyId())
		copy(ck.Key[:], k.GetKey())
		switch k.GetScope() {
		case authv1.ContentKeyScope_CONTENT_KEY_SCOPE_FULL:
			e.Full, haveFull = ck, true
		case authv1.ContentKeyScope_CONTENT_KEY_SCOPE_PREVIEW:
			e.Preview, havePreview = ck, true
		}
	}
	if !haveFull {
		return nil, errors.New("transcoder: content keys: no full key")
	}
	if previewSeconds > 0 {
		if !havePreview {
			return nil, errors.New("transcoder: content keys: no preview key")
		}
		e.PreviewUntil = time.Duration(previewSeconds) * time.Second
	}
	return e, nil
}

// gated reports whether a policy restricts who plays: anything but no
// policy or a public one.
func gated(p *authv1.AccessPolicy) bool {
	return p != nil && p.GetMode() != authv1.AccessMode_ACCESS_MODE_PUBLIC && p.GetMode() != authv1.AccessMode_ACCESS_MODE_UNSPECIFIED
}
