package identity_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"

	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/meshtls"
)

// recorder is an upload service that says who it saw.
type recorder struct {
	uploadv1connect.UnimplementedUploadServiceHandler
	seen chan identity.Caller
}

func (r *recorder) ListUploads(ctx context.Context, _ *connect.Request[uploadv1.ListUploadsRequest]) (*connect.Response[uploadv1.ListUploadsResponse], error) {
	r.seen <- identity.FromContext(ctx)
	return connect.NewResponse(&uploadv1.ListUploadsResponse{}), nil
}

func (r *recorder) DeleteVideoSource(ctx context.Context, _ *connect.Request[uploadv1.DeleteVideoSourceRequest]) (*connect.Response[uploadv1.DeleteVideoSourceResponse], error) {
	r.seen <- identity.FromContext(ctx)
	return connect.NewResponse(&uploadv1.DeleteVideoSourceResponse{}), nil
}

// TestOnlyTheGatewayVouches runs an upload service on mutual TLS and calls
// it as three services of the mesh: a wallet named by any peer but the
// gateway is ignored, and an internal RPC answers only the services its
// contract lists.
func TestOnlyTheGatewayVouches(t *testing.T) {
	dir := t.TempDir()
	services := []string{"gateway", "upload", "metadata", "worker"}
	if err := meshtls.EnsureDev(dir, meshtls.DefaultTrustDomain, services); err != nil {
		t.Fatal(err)
	}
	source := func(svc string) *meshtls.Source {
		s, err := meshtls.Load(meshtls.Options{Dir: filepath.Join(dir, svc), Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rec := &recorder{seen: make(chan identity.Caller, 1)}
	path, h := uploadv1connect.NewUploadServiceHandler(rec, connect.WithInterceptors(identity.NewInterceptor(false)))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: meshtls.WithPeerService(mux), TLSConfig: source("upload").ServerConfig()}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	client := func(as string) uploadv1connect.UploadServiceClient {
		tr := &http.Transport{TLSClientConfig: source(as).ClientConfig("upload"), ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return uploadv1connect.NewUploadServiceClient(&http.Client{Transport: tr}, "https://"+ln.Addr().String())
	}
	const wallet = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	list := func(as string) identity.Caller {
		t.Helper()
		req := connect.NewRequest(&uploadv1.ListUploadsRequest{})
		req.Header().Set(identity.AddressHeader, wallet)
		req.Header().Set(identity.OperatorHeader, "true")
		if _, err := client(as).ListUploads(t.Context(), req); err != nil {
			t.Fatalf("ListUploads as %s: %v", as, err)
		}
		return <-rec.seen
	}
	if got := list("gateway"); got.Address != wallet || !got.Operator || got.Service != "gateway" {
		t.Errorf("through the gateway: caller %+v, want the wallet and operator it vouched for", got)
	}
	if got := list("metadata"); got.Address != "" || got.Operator || got.Service != "metadata" {
		t.Errorf("from metadata with forged headers: caller %+v, want metadata alone", got)
	}

	del := func(as string) error {
		_, err := client(as).DeleteVideoSource(t.Context(), connect.NewRequest(&uploadv1.DeleteVideoSourceRequest{VideoId: "vid_x"}))
		if err == nil {
			<-rec.seen
		}
		return err
	}
	if err := del("worker"); err != nil {
		t.Errorf("DeleteVideoSource from the worker (its caller): %v", err)
	}
	for _, as := range []string{"metadata", "gateway"} {
		if err := del(as); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("DeleteVideoSource from %s: %v, want PermissionDenied", as, err)
		}
	}
}
