package auth

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/rpcerr"
	"github.com/streamgate/streamgate/internal/video"
)

// EnsureContentKeys returns the video's full and preview keys, making them on
// the first call, for the packager, and notes how much of the video it
// encrypts under the preview key. The video need not exist in metadata
// yet in a state that plays: the packager asks while it encodes.
func (s *Service) EnsureContentKeys(ctx context.Context, videoID string, previewSeconds uint32) ([]*authv1.ContentKey, error) {
	if err := video.CheckID(videoID); err != nil {
		return nil, invalid("video_id: %v", err)
	}
	if previewSeconds > 0 {
		// Before the keys go out: a preview key never encrypts more than
		// auth knows of.
		if err := s.store.notePreviewKey(ctx, videoID, previewSeconds); err != nil {
			return nil, unavailable(err, "cannot record the preview of %s now; try again", videoID)
		}
	}
	keys, err := s.store.ensureContentKeys(ctx, videoID, contentKeyScopes, s.cfg.Now())
	if err != nil {
		return nil, unavailable(err, "cannot read or make the content keys of %s now; try again", videoID)
	}
	return contentKeysToProto(keys), nil
}

// ReleaseContentKeys decides which keys of a video the wallet may have
// (see the contract). Every path that cannot decide releases nothing.
func (s *Service) ReleaseContentKeys(ctx context.Context, videoID, address string) ([]*authv1.ContentKey, authv1.PlaybackGrant, error) {
	none := authv1.PlaybackGrant_PLAYBACK_GRANT_UNSPECIFIED
	if err := video.CheckID(videoID); err != nil {
		return nil, none, invalid("video_id: %v", err)
	}
	addr, err := identity.NormalizeAddress(address)
	if err != nil {
		return nil, none, invalid("address: %v", err)
	}
	v, err := s.licenceVideos.video(ctx, s, videoID)
	if err != nil {
		s.metrics.keysRefused(ctx, "video")
		return nil, none, err
	}
	stored, err := s.contentKeys(ctx, videoID)
	if err != nil {
		s.metrics.keysRefused(ctx, "error")
		return nil, none, unavailable(err, "cannot read the content keys of %s now; try again", videoID)
	}
	if len(stored) == 0 {
		s.metrics.keysRefused(ctx, "no_keys")
		return nil, none, newErr(connect.CodeNotFound, "video %s has no content keys: it is packaged in clear", videoID)
	}
	grant, err := s.decide(ctx, v, addr)
	if err != nil {
		var re *rpcerr.Error
		code := connect.CodeUnknown
		if errors.As(err, &re) {
			code = re.Code()
		}
		switch code {
		case connect.CodePermissionDenied:
			s.metrics.keysRefused(ctx, "not_holder")
		case connect.CodeFailedPrecondition:
			s.metrics.keysRefused(ctx, "policy")
		default:
			s.metrics.keysRefused(ctx, "chain")
		}
		return nil, none, err
	}
	if grant == authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW {
		// The preview key decrypts every segment the packager put under
		// it, and those are public: a preview shortened since would leak
		// the difference.
		encrypted, err := s.store.previewKeySeconds(ctx, videoID)
		if err != nil {
			s.metrics.keysRefused(ctx, "error")
			return nil, none, unavailable(err, "cannot read the preview of %s now; try again", videoID)
		}
		if have := v.GetAccessPolicy().GetPreviewSeconds(); encrypted > have {
			s.metrics.keysRefused(ctx, "preview_shortened")
			return nil, none, newErr(connect.CodePermissionDenied, "the free preview of video %s is now %d s, shorter than the %d s its preview key encrypts: no preview key until it is re-encoded", videoID, have, encrypted)
		}
	}
	var out []contentKey
	for _, k := range stored {
		if grant != authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW || k.Scope == scopePreview {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		s.metrics.keysRefused(ctx, "no_keys")
		return nil, none, newErr(connect.CodeNotFound, "video %s has no preview key", videoID)
	}
	s.metrics.keysReleased(ctx, grant)
	return contentKeysToProto(out), grant, nil
}

// DeleteContentKeys forgets a deleted video's keys.
func (s *Service) DeleteContentKeys(ctx context.Context, videoID string) (int64, error) {
	if err := video.CheckID(videoID); err != nil {
		return 0, invalid("video_id: %v", err)
	}
	// Evicted after the delete (whatever its outcome), so that no read
	// from before it refills the cache.
	defer s.keyCache.evict(videoID)
	defer s.licenceVideos.forget(videoID)
	n, err := s.store.deleteContentKeys(ctx, videoID)
	if err != nil {
		return 0, unavailable(err, "cannot delete the content keys of %s now; try again", videoID)
	}
	if n > 0 {
		s.logger.InfoContext(ctx, "content keys deleted with the video", "video_id", videoID, "keys", n)
	}
	return n, nil
}

func contentKeysToProto(keys []contentKey) []*authv1.ContentKey {
	out := make([]*authv1.ContentKey, 0, len(keys))
	for _, k := range keys {
		scope := authv1.ContentKeyScope_CONTENT_KEY_SCOPE_FULL
		if k.Scope == scopePreview {
			scope = authv1.ContentKeyScope_CONTENT_KEY_SCOPE_PREVIEW
		}
		out = append(out, &authv1.ContentKey{Scope: scope, KeyId: k.Key.ID[:], Key: k.Key.Key[:]})
	}
	return out
}

func (m *metrics) keysReleased(ctx context.Context, grant authv1.PlaybackGrant) {
	m.contentKeys.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", "released"), attribute.String("reason", grantReason(grant))))
}

func (m *metrics) keysRefused(ctx context.Context, reason string) {
	m.contentKeys.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", "refused"), attribute.String("reason", reason)))
}

func grantReason(g authv1.PlaybackGrant) string {
	switch g {
	case authv1.PlaybackGrant_PLAYBACK_GRANT_PUBLIC:
		return "public"
	case authv1.PlaybackGrant_PLAYBACK_GRANT_CREATOR:
		return "creator"
	case authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER:
		return "holder"
	case authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW:
		return "preview"
	}
	return "unknown"
}

func (h *handler) EnsureContentKeys(ctx context.Context, req *connect.Request[authv1.EnsureContentKeysRequest]) (*connect.Response[authv1.EnsureContentKeysResponse], error) {
	keys, err := h.svc.EnsureContentKeys(ctx, req.Msg.GetVideoId(), req.Msg.GetPreviewSeconds())
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&authv1.EnsureContentKeysResponse{Keys: keys}), nil
}

func (h *handler) DeleteContentKeys(ctx context.Context, req *connect.Request[authv1.DeleteContentKeysRequest]) (*connect.Response[authv1.DeleteContentKeysResponse], error) {
	n, err := h.svc.DeleteContentKeys(ctx, req.Msg.GetVideoId())
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&authv1.DeleteContentKeysResponse{Deleted: uint32(n)}), nil
}

func (h *handler) ReleaseContentKeys(ctx context.Context, req *connect.Request[authv1.ReleaseContentKeysRequest]) (*connect.Response[authv1.ReleaseContentKeysResponse], error) {
	keys, grant, err := h.svc.ReleaseContentKeys(ctx, req.Msg.GetVideoId(), req.Msg.GetAddress())
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&authv1.ReleaseContentKeysResponse{Keys: keys, Grant: grant}), nil
}
