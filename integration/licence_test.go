package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
)

// checkLicence sends ClearKey licence requests to a real `streamgate dev`
// through its gateway (TestDev runs it): the POST passes the edge,
// streaming parses it and asks auth over the mesh (mutual TLS, where auth
// lets only streaming call ReleaseContentKeys), and a clear video's
// request is answered 404 for having no keys. A mesh refusal would be a
// 403, auth out of reach a 503.
func checkLicence(t *testing.T, p *devPlatform) {
	ctx := t.Context()
	sg := newCLI(t, p.gatewayURL)
	sg.run("login", "--dev")
	videoID := sg.upload(clipFile(t), "--title", "Licence clip")
	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, p.gatewayURL, connect.WithInterceptors(signIn(t, p.gatewayURL, "--dev")))
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) { // polling the public API, as a client would
		res, err := videos.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
		if err != nil {
			t.Fatalf("GetVideo: %v", err)
		}
		st := res.Msg.GetVideo().GetStatus()
		if st == metadatav1.VideoStatus_VIDEO_STATUS_READY {
			break
		}
		if st == metadatav1.VideoStatus_VIDEO_STATUS_FAILED || time.Now().After(deadline) {
			t.Fatalf("video %v, want READY", st)
		}
	}

	licence := p.gatewayURL + "/play/" + videoID + "/licence"
	do := func(method, body string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, licence, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	status, body, h := do(http.MethodPost, `{"kids":["8fHx8fHx8fHx8fHx8fHx8Q"],"type":"temporary"}`)
	if status != http.StatusNotFound || !strings.Contains(body, "packaged in clear") || h.Get("Cache-Control") != "no-store" {
		t.Errorf("licence for a clear public video: %d %q (Cache-Control %q); want 404 from auth's answer, no-store", status, body, h.Get("Cache-Control"))
	}
	if status, body, _ := do(http.MethodPost, `not json`); status != http.StatusBadRequest {
		t.Errorf("bad licence request: %d %q, want 400", status, body)
	}
	if status, _, _ := do(http.MethodGet, ""); status != http.StatusMethodNotAllowed {
		t.Errorf("GET licence: %d, want 405", status)
	}
}
