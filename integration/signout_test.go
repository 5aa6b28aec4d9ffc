package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
)

// TestSignOutRevokesAtOnce: after SignOut, the gateway refuses the
// session's still unexpired access token on every RPC, including those
// whose service trusts the gateway's word (upload's ListUploads), as soon
// as session.revoked reaches it, not when the token expires.
func TestSignOutRevokesAtOnce(t *testing.T) {
	p := startDev(t)

	sess := login(t, p.gatewayURL, "--dev")
	withToken := func(req connect.AnyRequest) {
		req.Header().Set("Authorization", "Bearer "+sess.AccessToken)
	}

	uploads := uploadv1connect.NewUploadServiceClient(http.DefaultClient, p.gatewayURL)
	listUploads := func() error {
		req := connect.NewRequest(&uploadv1.ListUploadsRequest{})
		withToken(req)
		_, err := uploads.ListUploads(t.Context(), req)
		return err
	}
	if err := listUploads(); err != nil {
		t.Fatalf("ListUploads while signed in: %v", err)
	}

	auth := authv1connect.NewAuthServiceClient(http.DefaultClient, p.gatewayURL)
	req := connect.NewRequest(&authv1.SignOutRequest{})
	withToken(req)
	if _, err := auth.SignOut(t.Context(), req); err != nil {
		t.Fatalf("SignOut: %v", err)
	}

	// The event reaches the gateway asynchronously: poll briefly (this
	// module cannot import internal/testing/poll).
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := listUploads()
		if connect.CodeOf(err) == connect.CodeUnauthenticated && strings.Contains(err.Error(), "session revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ListUploads 10s after SignOut: %v, want Unauthenticated: session revoked", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
