package auth

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"github.com/golang-jwt/jwt/v5"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/video"
)

// PlaybackToken is a signed playback token.
type PlaybackToken struct {
	Token   string
	Expires time.Time
	Grant   authv1.PlaybackGrant // why: public, creator or holder
}

// IssuePlaybackToken checks the video's policy for the caller and signs a
// token for that video and address. The caller needs a live session (a
// dev identity without one is enough in dev mode only). Any failure to
// decide refuses: the token is issued only on an explicit allow or a
// public policy.
func (s *Service) IssuePlaybackToken(ctx context.Context, videoID, bearer string) (PlaybackToken, error) {
	if err := video.CheckID(videoID); err != nil {
		return PlaybackToken{}, invalid("video_id: %v", err)
	}
	c := identity.FromContext(ctx)
	var sid, addr string
	if c.SessionID != "" || bearer != "" || !c.Authenticated() || !s.cfg.DevMode {
		var err error
		if sid, addr, err = s.callerSessionID(ctx, bearer); err != nil {
			return PlaybackToken{}, err
		}
		sess, err := s.liveSession(ctx, sid, addr)
		if err != nil {
			return PlaybackToken{}, err
		}
		addr = sess.Address
	} else {
		addr = c.Address // dev identity, dev mode only
	}

	v, err := s.video(ctx, videoID)
	if err != nil {
		return PlaybackToken{}, err
	}
	switch v.GetStatus() {
	case metadatav1.VideoStatus_VIDEO_STATUS_PROCESSING, metadatav1.VideoStatus_VIDEO_STATUS_READY:
	default:
		return PlaybackToken{}, newErr(connect.CodeFailedPrecondition, "video %s is not playable (status %s)", videoID, v.GetStatus())
	}
	p := v.GetAccessPolicy()
	grant, err := s.decide(ctx, v, addr)
	if err != nil {
		return PlaybackToken{}, err
	}
	var preview uint32
	if grant == authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW {
		preview = p.GetPreviewSeconds()
	}
	tok, err := s.signPlayback(videoID, addr, sid, v.GetAllowedOrigins(), preview)
	if err != nil {
		return PlaybackToken{}, err
	}
	tok.Grant = grant
	// A token that could not be revoked is not handed out: the grant is
	// recorded first, for every holder's token (ERC-20 ones are re-checked
	// by ReverifyGrants only, the watcher following NFT transfers).
	gated := grant == authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER
	if gated {
		if err := s.recordGrant(ctx, videoID, common.HexToAddress(addr), p, tok.Expires); err != nil {
			return PlaybackToken{}, unavailable(err, "cannot record the playback grant now; try again")
		}
		// The decision may have come from the shared cache, another
		// instance's check: follow the policy's contracts here too, so this
		// instance's watcher revokes the grant it just recorded.
		if s.follower != nil {
			if err := s.follower.Follow(p); err != nil {
				s.logger.WarnContext(ctx, "the transfer watcher cannot follow a granted policy", "video_id", videoID, "err", err)
			}
		}
	}
	s.metrics.issued(ctx, gated)
	return tok, nil
}

// decide is the one access decision for a wallet and a video, behind
// playback tokens and content keys alike: public; the creator, always
// (no chain check and no grant to revoke: selling the pass does not take
// the work from its creator); a holder at the latest check; the free
// preview for anyone else when the policy has one. Anything that cannot
// decide refuses.
func (s *Service) decide(ctx context.Context, v *metadatav1.Video, addr string) (authv1.PlaybackGrant, error) {
	p := v.GetAccessPolicy()
	switch {
	case p == nil || p.GetMode() == authv1.AccessMode_ACCESS_MODE_PUBLIC:
		return authv1.PlaybackGrant_PLAYBACK_GRANT_PUBLIC, nil
	case isCreator(v, addr):
		return authv1.PlaybackGrant_PLAYBACK_GRANT_CREATOR, nil
	}
	dec, err := s.access.Check(ctx, p, common.HexToAddress(addr), false)
	switch {
	case errors.Is(err, ErrInvalidPolicy), errors.Is(err, ErrPolicyMisconfigured):
		return 0, wrapErr(connect.CodeFailedPrecondition, err, "the video's access policy cannot be evaluated")
	case err != nil:
		return 0, unavailable(err, "cannot check access now: the chain is unreachable; try again")
	case dec.GetAllowed():
		return authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, nil
	case p.GetPreviewSeconds() > 0:
		// Nothing to revoke: no grant is recorded for a preview.
		return authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW, nil
	}
	return 0, newErr(connect.CodePermissionDenied, "%s does not satisfy the access policy of video %s", addr, v.GetId())
}

// isCreator reports whether addr created v (addresses compared as
// addresses, not as strings: case differs between EIP-55 and lower hex).
func isCreator(v *metadatav1.Video, addr string) bool {
	c := v.GetCreatorAddress()
	return common.IsHexAddress(c) && common.IsHexAddress(addr) && common.HexToAddress(c) == common.HexToAddress(addr)
}

// signPlayback signs a token for videoID; origins (the video's allowed
// origins) ride in it, so a changed list applies to tokens issued after
// the change.
func (s *Service) signPlayback(videoID, addr, sid string, origins []string, preview uint32) (PlaybackToken, error) {
	key, ok := s.keys.signer()
	if !ok {
		return PlaybackToken{}, errors.New("auth: no signing key")
	}
	now := s.cfg.Now()
	exp := jwt.NewNumericDate(now.Add(s.cfg.PlaybackTTL))
	tok, err := authtoken.Sign(key, &authtoken.PlaybackClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.cfg.Issuer,
			Subject:   videoID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: exp,
		},
		Type:           authtoken.TypePlayback,
		Address:        addr,
		SessionID:      sid,
		AllowedOrigins: origins,
		PreviewSeconds: preview,
	})
	if err != nil {
		return PlaybackToken{}, err
	}
	return PlaybackToken{Token: tok, Expires: exp.Time}, nil
}

func (s *Service) video(ctx context.Context, videoID string) (*metadatav1.Video, error) {
	v, err := s.videos.GetVideo(ctx, videoID)
	if errors.Is(err, video.ErrNotFound) || (err == nil && v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_DELETED) {
		return nil, newErr(connect.CodeNotFound, "video %s not found", videoID)
	}
	if err != nil {
		return nil, unavailable(err, "cannot read video %s from metadata; try again", videoID)
	}
	return v, nil
}

// CheckAccess evaluates a policy, given inline or as a video's, for an
// address.
func (s *Service) CheckAccess(ctx context.Context, videoID string, policy *authv1.AccessPolicy, address string, bypassCache bool) (*authv1.CheckAccessResponse, error) {
	addr, err := identity.NormalizeAddress(address)
	if err != nil {
		return nil, invalid("address: %v", err)
	}
	switch {
	case videoID != "" && policy != nil:
		return nil, invalid("set exactly one of video_id and policy")
	case videoID != "":
		if err := video.CheckID(videoID); err != nil {
			return nil, invalid("video_id: %v", err)
		}
		v, err := s.video(ctx, videoID)
		if err != nil {
			return nil, err
		}
		policy = v.GetAccessPolicy()
		if policy == nil {
			return &authv1.CheckAccessResponse{Allowed: true}, nil
		}
	case policy == nil:
		return nil, invalid("set exactly one of video_id and policy")
	}
	switch policy.GetMode() {
	case authv1.AccessMode_ACCESS_MODE_PUBLIC:
		if len(policy.GetRules()) != 0 {
			return nil, invalid("a public policy has no rules")
		}
		return &authv1.CheckAccessResponse{Allowed: true}, nil
	case authv1.AccessMode_ACCESS_MODE_ALL, authv1.AccessMode_ACCESS_MODE_ANY:
	default:
		return nil, invalid("policy mode must be PUBLIC, ALL or ANY")
	}
	dec, err := s.access.Check(ctx, policy, common.HexToAddress(addr), bypassCache)
	switch {
	case errors.Is(err, ErrInvalidPolicy):
		return nil, invalid("%v", err)
	case errors.Is(err, ErrPolicyMisconfigured):
		return nil, newErr(connect.CodeFailedPrecondition, "%v", err)
	case err != nil:
		return nil, unavailable(err, "cannot check access now: the chain is unreachable and no cached decision exists")
	}
	return dec, nil
}
