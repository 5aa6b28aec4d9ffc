package streaming

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/policy"
	"github.com/streamgate/streamgate/internal/video"
)

// Domain errors; errorTable (RPCs) and httpError (the play path) map them.
var (
	errInvalid         = errors.New("invalid argument")
	errNotFound        = errors.New("not found")
	errNoToken         = errors.New("a playback token is required for this video")
	errDenied          = errors.New("playback token refused")
	errExpired         = errors.New("playback token expired or no longer valid")
	errNotPlayable     = errors.New("video is not playable")
	errVideoFailed     = errors.New("video failed to encode")
	errUnavailable     = errors.New("dependency unavailable")
	errKeysUnavailable = errors.New("signing keys unavailable")
	errOrigin          = errors.New("origin not allowed for this video")
)

var renditionRe = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// grant is the outcome of an access check.
type grant struct {
	id    string
	video *metadatav1.Video
	gated bool
	// token is the verified token of a gated video, "" for a public one.
	token  string
	claims *authtoken.PlaybackClaims
	// keyless is set for a media segment of a gated video that is
	// encrypted, fetched without a token: the content key is the gate.
	keyless bool
}

func (g *grant) live() bool {
	return g.video.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_PROCESSING
}

// allowedOrigins are the origins whose pages may play the grant's video: a
// gated video's are those its token carries (as at issue, the list the
// edge checked), a public video's the current ones, there being no token.
// Empty: any.
func (g *grant) allowedOrigins() []string {
	if g.claims != nil {
		return g.claims.AllowedOrigins
	}
	return g.video.GetAllowedOrigins()
}

// expiry returns when the token expires; zero for public videos.
func (g *grant) expiry() time.Time {
	if g.claims == nil || g.claims.ExpiresAt == nil {
		return time.Time{}
	}
	return g.claims.ExpiresAt.Time
}

// authorize looks the video up and checks the token against it. Videos
// that are neither encoding nor ready are not found on the HTTP path
// (servable=false lets RPCs tell them apart).
func (s *Service) authorize(ctx context.Context, id, token string) (*grant, error) {
	g, err := s.lookup(ctx, id)
	if err != nil || !g.gated {
		return g, err
	}
	if token == "" {
		s.metrics.refusal(ctx, errNoToken)
		return nil, errNoToken
	}
	c, err := s.verifyPlayback(ctx, token, id)
	if err != nil {
		if errors.Is(err, authtoken.ErrKeysUnavailable) && !errors.Is(err, authtoken.ErrInvalidToken) {
			s.logger.WarnContext(ctx, "cannot verify playback token", "video_id", id, "err", err)
			return nil, errKeysUnavailable
		}
		s.logger.DebugContext(ctx, "playback token refused", "video_id", id, "err", err)
		s.metrics.refusal(ctx, errDenied)
		return nil, errDenied
	}
	g.token, g.claims = token, c
	return g, nil
}

// authorizeKeyless admits a request for an init or media segment
// (rel: <rendition>/<name>) that carries no token: a public video's, and a
// gated video's whose rendition is encrypted (the bytes are useless without
// the key, which the licence endpoint releases only to a valid token). A
// clear gated video's segments still need a token.
func (s *Service) authorizeKeyless(ctx context.Context, id, rel string) (*grant, error) {
	g, err := s.lookup(ctx, id)
	if err != nil || !g.gated {
		return g, err
	}
	rendition, _, _ := strings.Cut(rel, "/")
	enc, err := s.renditionEncrypted(ctx, id, rendition)
	if err != nil {
		return nil, err
	}
	if !enc {
		s.metrics.refusal(ctx, errNoToken)
		return nil, errNoToken
	}
	g.keyless = true
	return g, nil
}

// lookup finds the video and checks it plays.
func (s *Service) lookup(ctx context.Context, id string) (*grant, error) {
	if err := video.CheckID(id); err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalid, err)
	}
	v, err := s.video(ctx, id)
	if err != nil {
		return nil, err
	}
	switch v.GetStatus() {
	case metadatav1.VideoStatus_VIDEO_STATUS_PROCESSING, metadatav1.VideoStatus_VIDEO_STATUS_READY:
	case metadatav1.VideoStatus_VIDEO_STATUS_UPLOADING:
		return nil, errNotPlayable
	case metadatav1.VideoStatus_VIDEO_STATUS_FAILED:
		return nil, errVideoFailed
	default:
		return nil, errNotFound
	}
	return &grant{id: id, video: v, gated: policy.Gated(v.GetAccessPolicy())}, nil
}

// stillValid re-verifies a gated grant's token (expiry with the verifier's
// leeway, and the current key set) between segments of a stream.
func (s *Service) stillValid(ctx context.Context, g *grant) error {
	if !g.gated {
		return nil
	}
	if _, err := s.verifyPlayback(ctx, g.token, g.id); err != nil {
		if errors.Is(err, authtoken.ErrKeysUnavailable) && !errors.Is(err, authtoken.ErrInvalidToken) {
			return errKeysUnavailable
		}
		s.metrics.refusal(ctx, errExpired)
		return errExpired
	}
	return nil
}

// bearer extracts a token from an Authorization header.
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// tokenCacheTTL bounds how long a verified token is trusted without
// checking its signature again (never past its expiry).
const tokenCacheTTL = 10 * time.Second

// maxCachedTokens bounds the verified-token cache.
const maxCachedTokens = 16384

type cachedToken struct {
	claims *authtoken.PlaybackClaims
	until  time.Time
}

// verifyPlayback verifies a playback token, reusing a recent successful
// verification of the same token for the same video: a player fetches a
// segment every few seconds with the same token, and the Ed25519 check
// would otherwise dominate the cost of a request.
func (s *Service) verifyPlayback(ctx context.Context, token, id string) (*authtoken.PlaybackClaims, error) {
	now := s.cfg.Now()
	key := id + "\x00" + token
	s.tmu.Lock()
	c, ok := s.tokens[key]
	s.tmu.Unlock()
	if ok && now.Before(c.until) && !s.isRevoked(id, c.claims) {
		return c.claims, nil
	}
	claims, err := s.verifier.VerifyPlayback(ctx, token, id)
	if err != nil {
		return nil, err
	}
	if s.isRevoked(id, claims) {
		return nil, fmt.Errorf("%w: revoked by an ownership change or a sign-out", authtoken.ErrInvalidToken)
	}
	until := now.Add(tokenCacheTTL)
	if claims.ExpiresAt != nil && claims.ExpiresAt.Before(until) {
		until = claims.ExpiresAt.Time
	}
	s.tmu.Lock()
	if len(s.tokens) >= maxCachedTokens {
		for k, e := range s.tokens {
			if !now.Before(e.until) {
				delete(s.tokens, k)
			}
		}
		if len(s.tokens) >= maxCachedTokens {
			clear(s.tokens)
		}
	}
	s.tokens[key] = cachedToken{claims: claims, until: until}
	s.tmu.Unlock()
	return claims, nil
}
