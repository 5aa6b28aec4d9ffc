package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/identity"
)

func readyVideo(id string, p *authv1.AccessPolicy) *metadatav1.Video {
	return &metadatav1.Video{Id: id, Status: metadatav1.VideoStatus_VIDEO_STATUS_READY, AccessPolicy: p}
}

var nftPolicy = &authv1.AccessPolicy{
	Mode: authv1.AccessMode_ACCESS_MODE_ALL,
	Rules: []*authv1.AccessRule{{
		ChainId: 1337, ContractAddress: "0x2222222222222222222222222222222222222222", Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
	}},
}

func TestIssuePlaybackToken(t *testing.T) {
	e := newEnv(t)
	holder, stranger, creator := newWallet(t), newWallet(t), newWallet(t)
	e.access.allowed[holder.addr] = true
	e.videos.videos["vid_public"] = readyVideo("vid_public", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC})
	e.videos.videos["vid_unset"] = readyVideo("vid_unset", nil)
	e.videos.videos["vid_gated"] = readyVideo("vid_gated", nftPolicy)
	withPreview := proto.CloneOf(nftPolicy)
	withPreview.PreviewSeconds = 45
	e.videos.videos["vid_preview"] = readyVideo("vid_preview", withPreview)
	e.videos.videos["vid_gated"].AllowedOrigins = []string{"https://site.example"}
	// The creator holds no pass; the address is stored lower-case.
	mine := readyVideo("vid_mine", nftPolicy)
	mine.CreatorAddress = strings.ToLower(creator.addr.Hex())
	e.videos.videos["vid_mine"] = mine
	e.videos.videos["vid_processing"] = &metadatav1.Video{Id: "vid_processing", Status: metadatav1.VideoStatus_VIDEO_STATUS_PROCESSING, AccessPolicy: nftPolicy}
	e.videos.videos["vid_uploading"] = &metadatav1.Video{Id: "vid_uploading", Status: metadatav1.VideoStatus_VIDEO_STATUS_UPLOADING}
	e.videos.videos["vid_deleted"] = &metadatav1.Video{Id: "vid_deleted", Status: metadatav1.VideoStatus_VIDEO_STATUS_DELETED}
	holderTok := e.login(holder).GetAccessToken()
	strangerTok := e.login(stranger).GetAccessToken()
	creatorTok := e.login(creator).GetAccessToken()

	issue := func(token, video string) (*authv1.IssuePlaybackTokenResponse, error) {
		res, err := e.client.IssuePlaybackToken(t.Context(), withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: video}, token))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	const (
		public = authv1.PlaybackGrant_PLAYBACK_GRANT_PUBLIC
		holds  = authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER
		made   = authv1.PlaybackGrant_PLAYBACK_GRANT_CREATOR
		taste  = authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW
	)
	for _, tt := range []struct {
		name, token, video string
		code               connect.Code // 0: issued
		grant              authv1.PlaybackGrant
	}{
		{"public", strangerTok, "vid_public", 0, public},
		{"policy unset", strangerTok, "vid_unset", 0, public},
		{"holder", holderTok, "vid_gated", 0, holds},
		{"holder, still processing", holderTok, "vid_processing", 0, holds},
		{"creator without the pass", creatorTok, "vid_mine", 0, made},
		{"creator of another video", creatorTok, "vid_gated", connect.CodePermissionDenied, 0},
		{"stranger on the creator's video", strangerTok, "vid_mine", connect.CodePermissionDenied, 0},
		{"stranger", strangerTok, "vid_gated", connect.CodePermissionDenied, 0},
		{"stranger, free preview", strangerTok, "vid_preview", 0, taste},
		{"holder, free preview policy", holderTok, "vid_preview", 0, holds},
		{"unknown video", holderTok, "vid_nope", connect.CodeNotFound, 0},
		{"deleted video", holderTok, "vid_deleted", connect.CodeNotFound, 0},
		{"not playable yet", holderTok, "vid_uploading", connect.CodeFailedPrecondition, 0},
		{"empty video id", holderTok, "", connect.CodeInvalidArgument, 0},
		{"path in video id", holderTok, "vid_../x", connect.CodeInvalidArgument, 0},
		{"not a video id", holderTok, "v1", connect.CodeInvalidArgument, 0},
		{"no session", "", "vid_public", connect.CodeUnauthenticated, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := issue(tt.token, tt.video)
			if tt.code != 0 {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.GetGrant() != tt.grant {
				t.Errorf("grant = %v, want %v", res.GetGrant(), tt.grant)
			}
			c, err := authtoken.ParsePlayback(res.GetToken(), e.svc.keys.lookup, authtoken.ParseOptions{Issuer: "streamgate-auth", Now: e.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if c.VideoID() != tt.video || c.SessionID == "" {
				t.Errorf("claims = %+v", c)
			}
			// Only a preview token is limited, to the policy's preview.
			if want := map[bool]uint32{true: 45}[tt.grant == taste]; c.PreviewSeconds != want {
				t.Errorf("token's preview = %d s, want %d", c.PreviewSeconds, want)
			}
			// The video's allowed origins ride in the token, for the edge.
			if got, want := c.AllowedOrigins, e.videos.videos[tt.video].GetAllowedOrigins(); !slices.Equal(got, want) {
				t.Errorf("token's allowed origins = %q, want the video's %q", got, want)
			}
			if exp := res.GetExpireTime().AsTime(); exp.After(e.clock.Now().Add(10*time.Minute)) || !exp.Equal(c.ExpiresAt.Time) {
				t.Errorf("expire_time = %v, claims exp %v", exp, c.ExpiresAt.Time)
			}
			if _, err := authtoken.ParseSession(res.GetToken(), e.svc.keys.lookup, authtoken.ParseOptions{Issuer: "streamgate-auth", Now: e.clock.Now}); err == nil {
				t.Error("a playback token parsed as a session token")
			}
		})
	}

	t.Run("chain unavailable fails closed", func(t *testing.T) {
		e.access.mu.Lock()
		e.access.err = fmt.Errorf("%w: breaker open", ErrChainUnavailable)
		e.access.mu.Unlock()
		defer func() { e.access.mu.Lock(); e.access.err = nil; e.access.mu.Unlock() }()
		_, err := issue(holderTok, "vid_gated")
		wantCode(t, err, connect.CodeUnavailable)
	})
	t.Run("unclassified checker error fails closed", func(t *testing.T) {
		e.access.mu.Lock()
		e.access.err = errors.New("boom")
		e.access.mu.Unlock()
		defer func() { e.access.mu.Lock(); e.access.err = nil; e.access.mu.Unlock() }()
		_, err := issue(holderTok, "vid_gated")
		wantCode(t, err, connect.CodeUnavailable)
	})
	t.Run("policy cannot be evaluated", func(t *testing.T) {
		e.access.mu.Lock()
		e.access.err = fmt.Errorf("%w: chain 5 not configured", ErrInvalidPolicy)
		e.access.mu.Unlock()
		defer func() { e.access.mu.Lock(); e.access.err = nil; e.access.mu.Unlock() }()
		_, err := issue(holderTok, "vid_gated")
		wantCode(t, err, connect.CodeFailedPrecondition)
	})
	t.Run("metadata down", func(t *testing.T) {
		e.videos.mu.Lock()
		e.videos.err = errors.New("no instances")
		e.videos.mu.Unlock()
		defer func() { e.videos.mu.Lock(); e.videos.err = nil; e.videos.mu.Unlock() }()
		_, err := issue(holderTok, "vid_gated")
		wantCode(t, err, connect.CodeUnavailable)
	})
	t.Run("ownership moved", func(t *testing.T) {
		e.access.mu.Lock()
		e.access.allowed[holder.addr] = false
		e.access.mu.Unlock()
		_, err := issue(holderTok, "vid_gated")
		wantCode(t, err, connect.CodePermissionDenied)
	})
	t.Run("dev identity outside dev mode", func(t *testing.T) {
		req := connect.NewRequest(&authv1.IssuePlaybackTokenRequest{VideoId: "vid_public"})
		req.Header().Set(identity.DevAddressHeader, holder.addr.Hex())
		_, err := e.client.IssuePlaybackToken(t.Context(), req)
		wantCode(t, err, connect.CodeUnauthenticated)
	})
}

func TestIssuePlaybackTokenDevMode(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DevMode = true })
	w := newWallet(t)
	e.access.allowed[w.addr] = true
	e.videos.videos["vid_gated"] = readyVideo("vid_gated", nftPolicy)
	req := connect.NewRequest(&authv1.IssuePlaybackTokenRequest{VideoId: "vid_gated"})
	req.Header().Set(identity.DevAddressHeader, w.addr.Hex())
	res, err := e.client.IssuePlaybackToken(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	c, err := authtoken.ParsePlayback(res.Msg.GetToken(), e.svc.keys.lookup, authtoken.ParseOptions{Issuer: "streamgate-auth", Now: e.clock.Now})
	if err != nil || c.Address != w.addr.Hex() {
		t.Fatalf("claims = %+v, %v", c, err)
	}
}

func TestCheckAccess(t *testing.T) {
	e := newEnv(t)
	holder := newWallet(t)
	e.access.allowed[holder.addr] = true
	e.videos.videos["vid_gated"] = readyVideo("vid_gated", nftPolicy)
	e.videos.videos["vid_unset"] = readyVideo("vid_unset", nil)
	check := func(req *authv1.CheckAccessRequest) (*authv1.CheckAccessResponse, error) {
		res, err := e.client.CheckAccess(t.Context(), connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	res, err := check(&authv1.CheckAccessRequest{Target: &authv1.CheckAccessRequest_VideoId{VideoId: "vid_gated"}, Address: holder.addr.Hex()})
	if err != nil || !res.GetAllowed() || len(res.GetRuleResults()) != 1 || !res.GetRuleResults()[0].GetCached() {
		t.Fatalf("video policy = %v, %v", res, err)
	}
	res, err = check(&authv1.CheckAccessRequest{Target: &authv1.CheckAccessRequest_Policy{Policy: nftPolicy}, Address: newWallet(t).addr.Hex(), BypassCache: true})
	if err != nil || res.GetAllowed() || res.GetRuleResults()[0].GetCached() {
		t.Fatalf("inline policy, bypass = %v, %v", res, err)
	}
	res, err = check(&authv1.CheckAccessRequest{Target: &authv1.CheckAccessRequest_VideoId{VideoId: "vid_unset"}, Address: holder.addr.Hex()})
	if err != nil || !res.GetAllowed() {
		t.Fatalf("unset policy = %v, %v", res, err)
	}
	for name, tt := range map[string]struct {
		req  *authv1.CheckAccessRequest
		code connect.Code
	}{
		"no target":         {&authv1.CheckAccessRequest{Address: holder.addr.Hex()}, connect.CodeInvalidArgument},
		"bad address":       {&authv1.CheckAccessRequest{Target: &authv1.CheckAccessRequest_Policy{Policy: nftPolicy}, Address: "0x12"}, connect.CodeInvalidArgument},
		"unspecified mode":  {&authv1.CheckAccessRequest{Target: &authv1.CheckAccessRequest_Policy{Policy: &authv1.AccessPolicy{}}, Address: holder.addr.Hex()}, connect.CodeInvalidArgument},
		"public with rules": {&authv1.CheckAccessRequest{Target: &authv1.CheckAccessRequest_Policy{Policy: &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC, Rules: nftPolicy.Rules}}, Address: holder.addr.Hex()}, connect.CodeInvalidArgument},
		"unknown video":     {&authv1.CheckAccessRequest{Target: &authv1.CheckAccessRequest_VideoId{VideoId: "vid_x"}, Address: holder.addr.Hex()}, connect.CodeNotFound},
		"bad video id":      {&authv1.CheckAccessRequest{Target: &authv1.CheckAccessRequest_VideoId{VideoId: "vid_a/b"}, Address: holder.addr.Hex()}, connect.CodeInvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := check(tt.req)
			wantCode(t, err, tt.code)
		})
	}
	t.Run("misconfigured", func(t *testing.T) {
		e.access.mu.Lock()
		e.access.err = fmt.Errorf("rule 0: %w: not an ERC-721 (ERC-165)", ErrPolicyMisconfigured)
		e.access.mu.Unlock()
		defer func() { e.access.mu.Lock(); e.access.err = nil; e.access.mu.Unlock() }()
		_, err := check(&authv1.CheckAccessRequest{Target: &authv1.CheckAccessRequest_Policy{Policy: nftPolicy}, Address: holder.addr.Hex()})
		wantCode(t, err, connect.CodeFailedPrecondition)
	})
	t.Run("chain unavailable", func(t *testing.T) {
		e.access.mu.Lock()
		e.access.err = ErrChainUnavailable
		e.access.mu.Unlock()
		_, err := check(&authv1.CheckAccessRequest{Target: &authv1.CheckAccessRequest_Policy{Policy: nftPolicy}, Address: holder.addr.Hex()})
		wantCode(t, err, connect.CodeUnavailable)
	})
}
