package authtoken_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	"github.com/streamgate/streamgate/internal/authtoken"
)

// How streaming checks a playback token: the Verifier reads the JWKS
// through an AuthService client (in the binary, the mesh client) and
// caches it; each request is verified locally.
func ExampleVerifier() {
	client := authv1connect.NewAuthServiceClient(http.DefaultClient, "http://auth.internal")
	v, err := authtoken.NewVerifier(client, authtoken.VerifierConfig{Issuer: "streamgate-auth"}, slog.Default())
	if err != nil {
		panic(err)
	}
	serve := func(ctx context.Context, token, videoID string) int {
		claims, err := v.VerifyPlayback(ctx, token, videoID)
		switch {
		case errors.Is(err, authtoken.ErrKeysUnavailable):
			return http.StatusServiceUnavailable
		case err != nil:
			return http.StatusForbidden
		}
		_ = claims.Address // the viewer
		return http.StatusOK
	}
	_ = serve
}
