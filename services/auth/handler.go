package auth

import (
	"context"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

// handler adapts Service to the generated interface.
type handler struct {
	authv1connect.UnimplementedAuthServiceHandler
	svc *Service
}

func (h *handler) err(ctx context.Context, err error) error {
	return rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
}

func (h *handler) CreateChallenge(ctx context.Context, req *connect.Request[authv1.CreateChallengeRequest]) (*connect.Response[authv1.CreateChallengeResponse], error) {
	c, err := h.svc.CreateChallenge(ctx, req.Msg.GetAddress(), req.Msg.GetChainId())
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&authv1.CreateChallengeResponse{Message: c.Message, Nonce: c.Nonce, ExpireTime: timestamppb.New(c.Expires)}), nil
}

func (h *handler) SignIn(ctx context.Context, req *connect.Request[authv1.SignInRequest]) (*connect.Response[authv1.SignInResponse], error) {
	t, err := h.svc.SignIn(ctx, req.Msg.GetMessage(), req.Msg.GetSignature())
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&authv1.SignInResponse{
		Session:               sessionToProto(t.Session),
		AccessToken:           t.AccessToken,
		AccessTokenExpireTime: timestamppb.New(t.AccessExpires),
		RefreshToken:          t.RefreshToken,
	}), nil
}

func (h *handler) RefreshSession(ctx context.Context, req *connect.Request[authv1.RefreshSessionRequest]) (*connect.Response[authv1.RefreshSessionResponse], error) {
	t, err := h.svc.RefreshSession(ctx, req.Msg.GetRefreshToken())
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&authv1.RefreshSessionResponse{
		Session:               sessionToProto(t.Session),
		AccessToken:           t.AccessToken,
		AccessTokenExpireTime: timestamppb.New(t.AccessExpires),
		RefreshToken:          t.RefreshToken,
	}), nil
}

func (h *handler) SignOut(ctx context.Context, req *connect.Request[authv1.SignOutRequest]) (*connect.Response[authv1.SignOutResponse], error) {
	if err := h.svc.SignOut(ctx, bearer(req.Header())); err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&authv1.SignOutResponse{}), nil
}

func (h *handler) GetSession(ctx context.Context, req *connect.Request[authv1.GetSessionRequest]) (*connect.Response[authv1.GetSessionResponse], error) {
	s, err := h.svc.GetSession(ctx, bearer(req.Header()))
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&authv1.GetSessionResponse{Session: sessionToProto(s)}), nil
}

func (h *handler) CheckAccess(ctx context.Context, req *connect.Request[authv1.CheckAccessRequest]) (*connect.Response[authv1.CheckAccessResponse], error) {
	res, err := h.svc.CheckAccess(ctx, req.Msg.GetVideoId(), req.Msg.GetPolicy(), req.Msg.GetAddress(), req.Msg.GetBypassCache())
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(res), nil
}

func (h *handler) IssuePlaybackToken(ctx context.Context, req *connect.Request[authv1.IssuePlaybackTokenRequest]) (*connect.Response[authv1.IssuePlaybackTokenResponse], error) {
	t, err := h.svc.IssuePlaybackToken(ctx, req.Msg.GetVideoId(), bearer(req.Header()))
	if err != nil {
		return nil, h.err(ctx, err)
	}
	return connect.NewResponse(&authv1.IssuePlaybackTokenResponse{Token: t.Token, ExpireTime: timestamppb.New(t.Expires), Grant: t.Grant}), nil
}

func (h *handler) GetSigningKeys(context.Context, *connect.Request[authv1.GetSigningKeysRequest]) (*connect.Response[authv1.GetSigningKeysResponse], error) {
	keys, maxAge := h.svc.GetSigningKeys()
	return connect.NewResponse(&authv1.GetSigningKeysResponse{Keys: keys, CacheMaxAgeSeconds: uint32(maxAge.Seconds())}), nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(h http.Header) string {
	v := h.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

func sessionToProto(s Session) *authv1.Session {
	return &authv1.Session{
		Id:         s.ID,
		Address:    s.Address,
		ChainId:    s.ChainID,
		CreateTime: timestamppb.New(s.Created),
		ExpireTime: timestamppb.New(s.Expires),
	}
}
